"""Control plane: RACI matrices, their compiled Casbin policy lines, per-domain versions.

``raci_matrices`` keeps each imported document as written (YAML or CSV); ``policy_rules``
the lines compiled from it, one row per line with the Casbin fields ``v0``…``v5`` and the
matrix/activity/party/letter they came from (for explanations); ``policy_domains`` one
version counter per Casbin domain (owning tenant), bumped by every change that touches the
domain and announced on the ``accord_policies`` channel.

Revision ID: c0003
Revises: c0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "c0003"
down_revision = "c0001"
branch_labels = None
depends_on = None


def _stamp(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "raci_matrices",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("process", sa.Text, nullable=False),
        sa.Column("owners", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("source_format", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
        sa.Column("imported_by", sa.Text),
        _stamp("created_at"),
        _stamp("updated_at"),
        sa.CheckConstraint(
            "source_format in ('yaml', 'csv')", name="ck_raci_matrices_source_format"
        ),
        sa.UniqueConstraint("process", name="uq_raci_matrices_process"),
        schema="accord",
    )
    op.create_table(
        "policy_rules",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("matrix", sa.Text, sa.ForeignKey("accord.raci_matrices.name", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("ptype", sa.Text, nullable=False),
        sa.Column("v0", sa.Text, nullable=False),
        sa.Column("v1", sa.Text, nullable=False),
        sa.Column("v2", sa.Text, nullable=False),
        sa.Column("v3", sa.Text),
        sa.Column("v4", sa.Text),
        sa.Column("v5", sa.Text),
        sa.Column("activity", sa.Text, nullable=False, server_default=""),
        sa.Column("party", sa.Text, nullable=False, server_default=""),
        sa.Column("letter", sa.Text, nullable=False, server_default=""),
        sa.CheckConstraint("ptype in ('p', 'g')", name="ck_policy_rules_ptype"),
        schema="accord",
    )
    op.create_index("ix_policy_rules_domain", "policy_rules", ["domain", "id"], schema="accord")
    op.create_index("ix_policy_rules_matrix", "policy_rules", ["matrix"], schema="accord")
    op.create_table(
        "policy_domains",
        sa.Column("domain", sa.Text, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        _stamp("updated_at"),
        schema="accord",
    )


def downgrade() -> None:
    op.drop_table("policy_domains", schema="accord")
    op.drop_table("policy_rules", schema="accord")
    op.drop_table("raci_matrices", schema="accord")
