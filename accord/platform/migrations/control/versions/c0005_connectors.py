"""Control plane: connector instances (one tenant each), secrets encrypted at rest.

Revision ID: c0005
Revises: c0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "c0005"
down_revision = "c0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_instances",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant", sa.Text, sa.ForeignKey("accord.tenants.slug"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("base_url", sa.Text, nullable=False),
        sa.Column("config", pg.JSONB, nullable=False),
        sa.Column("secrets", sa.Text),
        sa.Column("mapping_override", pg.JSONB, nullable=False),
        sa.Column("schedule", sa.Text),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("last_run_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("tenant", "name", name="uq_connector_instances_tenant_name"),
        schema="accord",
    )


def downgrade() -> None:
    op.drop_table("connector_instances", schema="accord")
