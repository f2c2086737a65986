"""Control plane: data-sharing agreements between tenants.

Revision ID: c0004
Revises: c0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "c0004"
down_revision = "c0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agreements",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("grantor", sa.Text, sa.ForeignKey("accord.tenants.slug"), nullable=False),
        sa.Column("grantee", sa.Text, sa.ForeignKey("accord.tenants.slug"), nullable=False),
        sa.Column("record_types", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("min_group_size", sa.Integer),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True)),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("proposed_by", sa.Text, nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_by", sa.Text),
        sa.Column("accepted_at", sa.DateTime(timezone=True)),
        sa.Column("activated_by", sa.Text),
        sa.Column("activated_at", sa.DateTime(timezone=True)),
        sa.Column("ended_by", sa.Text),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("end_reason", sa.Text),
        sa.Column("notification_policy", pg.JSONB),
        sa.CheckConstraint("grantor <> grantee", name="ck_agreements_not_self"),
        sa.CheckConstraint("level in ('full', 'summary', 'aggregate')", name="ck_agreements_level"),
        sa.CheckConstraint(
            "state in ('proposed', 'active', 'revoked')", name="ck_agreements_state"
        ),
        sa.CheckConstraint(
            "valid_until is null or valid_until > valid_from", name="ck_agreements_window"
        ),
        sa.CheckConstraint(
            "(level = 'aggregate') = (min_group_size is not null)", name="ck_agreements_group"
        ),
        schema="accord",
    )
    op.create_index(
        "ix_agreements_grantee_state", "agreements", ["grantee", "state"], schema="accord"
    )
    op.create_index(
        "ix_agreements_grantor_state", "agreements", ["grantor", "state"], schema="accord"
    )


def downgrade() -> None:
    op.drop_table("agreements", schema="accord")
