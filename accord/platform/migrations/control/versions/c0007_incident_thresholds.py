"""Control plane: partners' incident-notification webhook endpoints.

Incident-notification thresholds need no new columns: an agreement's existing
``notification_policy`` (c0004; severity → hours, and when the clock starts) already says
which severities a partner must be told of and by when. What is new is where a partner
wants to be told: one webhook endpoint per tenant, its shared secret Fernet-encrypted with
``ACCORD_SECRET_KEY`` like connector secrets.

Revision ID: c0007
Revises: c0006
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "c0007"
down_revision = "c0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_webhook_endpoints",
        sa.Column("id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("updated_by", sa.Text, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_incident_webhook_endpoints"),
        sa.ForeignKeyConstraint(
            ["tenant"],
            ["accord.tenants.slug"],
            name="fk_incident_webhook_endpoints_tenant_tenants",
        ),
        sa.UniqueConstraint("tenant", name="uq_incident_webhook_endpoints_tenant"),
        schema="accord",
    )


def downgrade() -> None:
    op.drop_table("incident_webhook_endpoints", schema="accord")
