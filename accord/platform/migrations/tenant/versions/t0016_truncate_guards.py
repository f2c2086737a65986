"""Tenant plane: TRUNCATE refused on every append-only table, not only the event log.

A row-level guard does not fire on TRUNCATE, so the access log, the webhook delivery log
and the review signatures get the statement-level guard the event log has had since its
first revision. It holds against the schema's owner too, whose path needs no privilege.

Revision ID: t0016
Revises: t0005, t0008, t0014
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "t0016"
down_revision = ("t0005", "t0008", "t0014")
branch_labels = None
depends_on = None

#: Table → name of its statement-level TRUNCATE guard.
GUARDED = {
    "access_log": "append_only_guard_truncate",
    "webhook_deliveries": "append_only_guard_truncate",
    "review_signatures": "review_signature_guard_truncate",
}


def upgrade() -> None:
    for table, trigger in GUARDED.items():
        op.execute(
            f"CREATE TRIGGER {trigger} BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION refuse_mutation()"
        )


def downgrade() -> None:
    for table, trigger in GUARDED.items():
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
