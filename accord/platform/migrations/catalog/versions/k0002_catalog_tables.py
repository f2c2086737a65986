"""Catalog: standards, clauses, global clause mapping sets and mappings, data digest.

Tables are created schema-qualified in ``catalog``: this environment does not place
objects with a search_path. Clause numbers and titles only, never requirement text.

Revision ID: k0002
Revises: k0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "k0002"
down_revision = "k0001"
branch_labels = None
depends_on = None

S = "catalog"
RELATIONSHIPS = "('equal', 'subset', 'superset', 'intersects', 'no_relationship')"


def upgrade() -> None:
    op.create_table(
        "standards",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("number", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("library_urn", sa.Text, nullable=True),
        sa.Column(
            "loaded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_standards"),
        sa.CheckConstraint("kind in ('requirements', 'guidance')", name="ck_standards_kind"),
        schema=S,
    )
    op.create_table(
        "clauses",
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("standard_id", sa.Text, nullable=False),
        sa.Column("number", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("parent_key", sa.Text, nullable=True),
        sa.Column("depth", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("hs", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("hs_ref", sa.Text, nullable=True),
        sa.Column("assessable", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("urn", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_clauses"),
        sa.ForeignKeyConstraint(
            ["standard_id"], [f"{S}.standards.id"], name="fk_clauses_standard_id_standards"
        ),
        sa.UniqueConstraint("urn", name="uq_clauses_urn"),
        schema=S,
    )
    op.create_index(
        "ix_clauses_standard_position", "clauses", ["standard_id", "position"], schema=S
    )
    op.create_table(
        "mapping_sets",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("source_standard", sa.Text, nullable=True),
        sa.Column("target_standard", sa.Text, nullable=True),
        sa.Column("source_document", sa.Text, nullable=True),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column(
            "imported_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("mapping_count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mapping_sets"),
        sa.ForeignKeyConstraint(
            ["source_standard"],
            [f"{S}.standards.id"],
            name="fk_mapping_sets_source_standard_standards",
        ),
        sa.ForeignKeyConstraint(
            ["target_standard"],
            [f"{S}.standards.id"],
            name="fk_mapping_sets_target_standard_standards",
        ),
        schema=S,
    )
    op.create_table(
        "mappings",
        sa.Column("id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("mapping_set", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("source_key", sa.Text, nullable=False),
        sa.Column("target_key", sa.Text, nullable=False),
        sa.Column("relationship", sa.Text, nullable=False),
        sa.Column("rationale", sa.Text, nullable=True),
        sa.Column("strength", sa.SmallInteger, nullable=True),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("author", sa.Text, nullable=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mappings"),
        sa.ForeignKeyConstraint(
            ["mapping_set"],
            [f"{S}.mapping_sets.id"],
            name="fk_mappings_mapping_set_mapping_sets",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_key"], [f"{S}.clauses.key"], name="fk_mappings_source_key_clauses"
        ),
        sa.ForeignKeyConstraint(
            ["target_key"], [f"{S}.clauses.key"], name="fk_mappings_target_key_clauses"
        ),
        sa.UniqueConstraint("mapping_set", "position", name="uq_mappings_mapping_set_position"),
        sa.CheckConstraint(f"relationship in {RELATIONSHIPS}", name="ck_mappings_relationship"),
        sa.CheckConstraint(
            "rationale is null or rationale in ('syntactic', 'semantic', 'functional')",
            name="ck_mappings_rationale",
        ),
        sa.CheckConstraint(
            "strength is null or strength between 0 and 10", name="ck_mappings_strength"
        ),
        sa.CheckConstraint(
            "method in ('human', 'automation', 'hybrid')", name="ck_mappings_method"
        ),
        sa.CheckConstraint("status in ('draft', 'approved')", name="ck_mappings_status"),
        schema=S,
    )
    op.create_index("ix_mappings_source_key", "mappings", ["source_key"], schema=S)
    op.create_index("ix_mappings_target_key", "mappings", ["target_key"], schema=S)
    op.create_table(
        "meta",
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_meta"),
        schema=S,
    )


def downgrade() -> None:
    for table in ("meta", "mappings", "mapping_sets", "clauses", "standards"):
        op.drop_table(table, schema=S)
