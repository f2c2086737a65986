"""Catalog: an empty start; the compliance layer's revisions add the tables.

Revision ID: k0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

revision = "k0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
