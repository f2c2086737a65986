"""Control plane: two-party transfers of a finding's ownership between tenants.

One live (proposed or accepted) transfer per finding at a time; the progress stamps record
how far the cross-store move has got, so an interrupted move is rolled forward.

Revision ID: c0006
Revises: c0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "c0006"
down_revision = "c0005"
branch_labels = None
depends_on = None

STATES = ("proposed", "accepted", "completed", "declined", "cancelled", "aborted")


def upgrade() -> None:
    op.create_table(
        "finding_transfers",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("finding_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("finding_reference", sa.Text, nullable=False),
        sa.Column("from_tenant", sa.Text, sa.ForeignKey("accord.tenants.slug"), nullable=False),
        sa.Column("to_tenant", sa.Text, sa.ForeignKey("accord.tenants.slug"), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("proposed_by_tenant", sa.Text, nullable=False),
        sa.Column("proposed_by", sa.Text, nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sender_agreed_by", sa.Text),
        sa.Column("sender_agreed_at", sa.DateTime(timezone=True)),
        sa.Column("receiver_agreed_by", sa.Text),
        sa.Column("receiver_agreed_at", sa.DateTime(timezone=True)),
        sa.Column("ended_by", sa.Text),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("end_reason", sa.Text),
        sa.Column("content_digest", sa.Text),
        sa.Column("evidence_count", sa.Integer),
        sa.Column("source_audit_id", pg.UUID(as_uuid=True)),
        sa.Column("copied_at", sa.DateTime(timezone=True)),
        sa.Column("source_removed_at", sa.DateTime(timezone=True)),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.CheckConstraint("from_tenant <> to_tenant", name="ck_finding_transfers_not_self"),
        sa.CheckConstraint(
            "proposed_by_tenant in (from_tenant, to_tenant)",
            name="ck_finding_transfers_proposer_is_party",
        ),
        sa.CheckConstraint(
            "state in (" + ", ".join(f"'{s}'" for s in STATES) + ")",
            name="ck_finding_transfers_state",
        ),
        # Accepted means both sides agreed; completed means every step of the move is done.
        sa.CheckConstraint(
            "state not in ('accepted', 'completed') "
            "or (sender_agreed_at is not null and receiver_agreed_at is not null)",
            name="ck_finding_transfers_both_agreed",
        ),
        sa.CheckConstraint(
            "state <> 'completed' or (copied_at is not null and source_removed_at is not null "
            "and completed_at is not null and content_digest is not null)",
            name="ck_finding_transfers_completed_stamped",
        ),
        sa.CheckConstraint(
            "content_digest is null or content_digest ~ '^[0-9a-f]{64}$'",
            name="ck_finding_transfers_digest_hex",
        ),
        schema="accord",
    )
    # At most one live transfer per finding: a second proposal is refused, not queued.
    op.create_index(
        "uq_finding_transfers_live_finding",
        "finding_transfers",
        ["finding_id"],
        unique=True,
        schema="accord",
        postgresql_where=sa.text("state in ('proposed', 'accepted')"),
    )
    op.create_index(
        "ix_finding_transfers_from_tenant", "finding_transfers", ["from_tenant"], schema="accord"
    )
    op.create_index(
        "ix_finding_transfers_to_tenant", "finding_transfers", ["to_tenant"], schema="accord"
    )


def downgrade() -> None:
    op.drop_table("finding_transfers", schema="accord")
