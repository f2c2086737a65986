"""Tenant plane: the append-only, hash-chained event log.

Revision ID: t0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "t0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_log",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("record_type", sa.Text, nullable=False),
        sa.Column("record_id", sa.Text, nullable=False),
        sa.Column("change", pg.JSONB, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_event_log"),
    )
    op.create_index("ix_event_log_record", "event_log", ["record_type", "record_id"])
    # The refusal lives in the database so that no code path, however buggy, can rewrite
    # history; the trigger name marks the table append-only for the grant step too.
    op.execute(
        """
        CREATE FUNCTION refuse_mutation() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'table %.% is append-only: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER append_only_guard BEFORE UPDATE OR DELETE ON event_log "
        "FOR EACH ROW EXECUTE FUNCTION refuse_mutation()"
    )
    op.execute(
        "CREATE TRIGGER append_only_guard_truncate BEFORE TRUNCATE ON event_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_mutation()"
    )


def downgrade() -> None:
    op.drop_table("event_log")
    op.execute("DROP FUNCTION refuse_mutation()")
