"""Control plane: stores, tenants, members.

Revision ID: c0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "c0001"
down_revision = None
branch_labels = None
depends_on = None

TENANT_STATUSES = ("provisioning", "active", "suspended", "offboarded")


def upgrade() -> None:
    op.create_table(
        "stores",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("is_home", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema="accord",
    )
    op.create_index("uq_stores_one_home", "stores", ["is_home"], unique=True, schema="accord",
                    postgresql_where=sa.text("is_home"))
    op.create_table(
        "tenants",
        sa.Column("slug", sa.Text, primary_key=True),
        sa.Column("legal_name", sa.Text, nullable=False),
        sa.Column("jurisdiction", sa.Text, nullable=False),
        sa.Column("store", sa.Text, sa.ForeignKey("accord.stores.name"), nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("activated_at", sa.DateTime(timezone=True)),
        sa.Column("suspended_at", sa.DateTime(timezone=True)),
        sa.Column("offboarded_at", sa.DateTime(timezone=True)),
        sa.Column("export_hash", sa.Text),
        sa.Column("export_path", sa.Text),
        sa.CheckConstraint(f"status in {TENANT_STATUSES!r}", name="ck_tenants_status"),
        schema="accord",
    )
    op.create_table(
        "members",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant", sa.Text, sa.ForeignKey("accord.tenants.slug"), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("email", sa.Text),
        sa.Column("roles", pg.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("tenant", "subject", name="uq_members_tenant_subject"),
        schema="accord",
    )


def downgrade() -> None:
    op.drop_table("members", schema="accord")
    op.drop_table("tenants", schema="accord")
    op.drop_table("stores", schema="accord")
