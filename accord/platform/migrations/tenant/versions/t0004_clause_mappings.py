"""Tenant plane: the tenant's own clause mappings (global ones live in ``catalog.mappings``).

Clause keys are checked against the catalog by the service, not by a foreign key: a
tenant schema stays self-contained, so it can be exported and restored into any store.

Revision ID: t0004
Revises: t0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "t0004"
down_revision = "t0001"
branch_labels = None
depends_on = None

RELATIONSHIPS = "('equal', 'subset', 'superset', 'intersects', 'no_relationship')"


def upgrade() -> None:
    op.create_table(
        "clause_mappings",
        sa.Column("id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("source_system", sa.Text, nullable=False),
        sa.Column("external_id", sa.Text, nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("content_hash", sa.Text, nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("updated_by", sa.Text, nullable=False),
        sa.Column("mapping_set", sa.Text, nullable=False),
        sa.Column("mapping_set_name", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("source_key", sa.Text, nullable=False),
        sa.Column("target_key", sa.Text, nullable=False),
        sa.Column("relationship", sa.Text, nullable=False),
        sa.Column("rationale", sa.Text, nullable=True),
        sa.Column("strength", sa.SmallInteger, nullable=True),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("author", sa.Text, nullable=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_clause_mappings"),
        sa.UniqueConstraint(
            "mapping_set", "position", name="uq_clause_mappings_mapping_set_position"
        ),
        sa.UniqueConstraint(
            "source_system", "external_id", name="uq_clause_mappings_source_system_external_id"
        ),
        sa.CheckConstraint(
            f"relationship in {RELATIONSHIPS}", name="ck_clause_mappings_relationship"
        ),
        sa.CheckConstraint(
            "rationale is null or rationale in ('syntactic', 'semantic', 'functional')",
            name="ck_clause_mappings_rationale",
        ),
        sa.CheckConstraint(
            "strength is null or strength between 0 and 10", name="ck_clause_mappings_strength"
        ),
        sa.CheckConstraint(
            "method in ('human', 'automation', 'hybrid')", name="ck_clause_mappings_method"
        ),
        sa.CheckConstraint("status in ('draft', 'approved')", name="ck_clause_mappings_status"),
    )
    op.create_index("ix_clause_mappings_source_key", "clause_mappings", ["source_key"])
    op.create_index("ix_clause_mappings_target_key", "clause_mappings", ["target_key"])


def downgrade() -> None:
    op.drop_table("clause_mappings")
