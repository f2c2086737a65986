"""Tenant plane: the grantor's access log of cross-tenant reads (append-only).

Revision ID: t0005
Revises: t0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "t0005"
down_revision = "t0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_log",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grantee", sa.Text, nullable=False),
        sa.Column("principal", sa.Text, nullable=False),
        sa.Column("agreement_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("record_type", sa.Text, nullable=False),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
        sa.Column("request_id", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_access_log"),
    )
    op.create_index("ix_access_log_at", "access_log", ["at"])
    # Same guard as the event log: the grantor's record of who read what is never rewritten.
    op.execute(
        "CREATE TRIGGER append_only_guard BEFORE UPDATE OR DELETE ON access_log "
        "FOR EACH ROW EXECUTE FUNCTION refuse_mutation()"
    )


def downgrade() -> None:
    op.drop_table("access_log")
