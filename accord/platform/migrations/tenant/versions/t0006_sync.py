"""Tenant plane: connector sync state, sync runs and the quarantine.

Revision ID: t0006
Revises: t0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "t0006"
down_revision = "t0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_state",
        sa.Column("instance_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("stream", sa.Text, nullable=False),
        sa.Column("bookmark", pg.JSONB, nullable=False),
        sa.Column("run_id", pg.UUID(as_uuid=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("instance_id", "stream", name="pk_sync_state"),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("instance_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("instance_name", sa.Text, nullable=False),
        sa.Column("stream", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("pages", sa.Integer, nullable=False, server_default="0"),
        sa.Column("fetched", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated", sa.Integer, nullable=False, server_default="0"),
        sa.Column("unchanged", sa.Integer, nullable=False, server_default="0"),
        sa.Column("quarantined", sa.Integer, nullable=False, server_default="0"),
        sa.Column("retries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("full_resync", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("bookmark_before", pg.JSONB),
        sa.Column("bookmark_after", pg.JSONB),
        sa.Column("error", sa.Text),
        sa.Column("log", pg.JSONB, nullable=False, server_default="[]"),
        sa.CheckConstraint(
            "status in ('running', 'succeeded', 'failed', 'interrupted')",
            name="ck_sync_runs_status",
        ),
    )
    op.create_index("ix_sync_runs_instance_started", "sync_runs", ["instance_id", "started_at"])
    op.create_table(
        "quarantine",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("instance_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("stream", sa.Text, nullable=False),
        sa.Column("run_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("external_id", sa.Text),
        sa.Column("position", sa.Integer),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("payload_hash", sa.Text, nullable=False),
        sa.Column("reasons", pg.JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fixed_at", sa.DateTime(timezone=True)),
        sa.Column("replayed_at", sa.DateTime(timezone=True)),
        sa.Column("replay_run_id", pg.UUID(as_uuid=True)),
        sa.UniqueConstraint("instance_id", "stream", "payload_hash", name="uq_quarantine_payload"),
    )
    op.create_index(
        "ix_quarantine_external_id", "quarantine", ["instance_id", "stream", "external_id"]
    )


def downgrade() -> None:
    op.drop_table("quarantine")
    op.drop_table("sync_runs")
    op.drop_table("sync_state")
