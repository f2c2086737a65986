"""Tenant plane: incident-notification deliveries, on both sides.

* ``webhook_deliveries`` — the owner's record of every attempt to deliver one of its
  incident notifications to a partner's webhook (status, HTTP status, error, duration).
  Append-only like the event log: what was tried is never rewritten.
* ``received_incident_notifications`` — the partner's view: each notification it
  received, when, and the deadline the owner had (late = received after it).

Revision ID: t0014
Revises: t0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "t0014"
down_revision = "t0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), nullable=False),
        sa.Column("delivery_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("notification_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("partner", sa.Text, nullable=False),
        sa.Column("endpoint_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("http_status", sa.Integer),
        sa.Column("error_code", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("duration_ms", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["incident_notifications.id"],
            name="fk_webhook_deliveries_notification_id_incident_notifications",
        ),
        sa.CheckConstraint(
            "status IN ('retrying', 'delivered', 'failed')", name="ck_webhook_deliveries_status"
        ),
        sa.CheckConstraint("attempt >= 1", name="ck_webhook_deliveries_attempt"),
    )
    op.create_index(
        "ix_webhook_deliveries_notification_id", "webhook_deliveries", ["notification_id"]
    )
    op.create_index("ix_webhook_deliveries_delivery_id", "webhook_deliveries", ["delivery_id"])
    op.execute(
        "CREATE TRIGGER append_only_guard BEFORE UPDATE OR DELETE ON webhook_deliveries "
        "FOR EACH ROW EXECUTE FUNCTION refuse_mutation()"
    )
    op.create_table(
        "received_incident_notifications",
        sa.Column("notification_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("incident_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("incident_reference", sa.Text, nullable=False),
        sa.Column("severity", sa.Integer, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("required_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("delivery_id", pg.UUID(as_uuid=True)),
        sa.PrimaryKeyConstraint("notification_id", name="pk_received_incident_notifications"),
        sa.CheckConstraint(
            "channel IN ('webhook', 'event')", name="ck_received_incident_notifications_channel"
        ),
    )
    op.create_index(
        "ix_received_incident_notifications_owner", "received_incident_notifications", ["owner"]
    )


def downgrade() -> None:
    op.drop_table("received_incident_notifications")
    op.drop_table("webhook_deliveries")
