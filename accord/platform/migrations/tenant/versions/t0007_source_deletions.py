"""Tenant plane: records deleted in their source system are marked, never dropped.

Revision ID: t0007
Revises: t0002
Create Date: 2026-11-24

``deleted_at`` is set by a sync when the source reports the record deleted (Dataverse
change tracking) and cleared when the record comes back; the row, its history and its
links stay, so an audit trail that cites the record keeps resolving.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "t0007"
down_revision = "t0002"
branch_labels = None
depends_on = None

TABLES = ("findings", "capas", "capa_actions")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_column(table, "deleted_at")
