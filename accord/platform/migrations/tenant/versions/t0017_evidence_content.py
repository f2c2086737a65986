"""Tenant plane: uploaded evidence — its bytes, its file name, what of a CAPA it shows.

* ``evidence_content`` — the bytes of uploaded evidence, one row per SHA-256, in the
  owner's own schema (never granted to the federation role: no partner reads it there).
* ``evidence.capa_action_id`` (the CAPA action it shows done), ``evidence.effectiveness_check``
  (filed for the CAPA's effectiveness check) and ``evidence.filename`` (the uploaded file's
  name, sanitised).

Revision ID: t0017
Revises: t0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "t0017"
down_revision = "t0015"
branch_labels = None
depends_on = None

_MEDIA_TYPE = "media_type ~ '^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$'"


def upgrade() -> None:
    op.create_table(
        "evidence_content",
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("media_type", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_by", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_evidence_content"),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="ck_evidence_content_sha256_hex"),
        sa.CheckConstraint(
            "size_bytes = octet_length(content)", name="ck_evidence_content_size_matches"
        ),
        sa.CheckConstraint(_MEDIA_TYPE, name="ck_evidence_content_media_type_form"),
    )
    # Bytes are served whole from the row: no point compressing what is mostly compressed.
    op.execute("ALTER TABLE evidence_content ALTER COLUMN content SET STORAGE EXTERNAL")
    op.add_column("evidence", sa.Column("capa_action_id", pg.UUID(as_uuid=True), nullable=True))
    op.add_column(
        "evidence",
        sa.Column("effectiveness_check", sa.Boolean, server_default="false", nullable=False),
    )
    op.add_column("evidence", sa.Column("filename", sa.Text, nullable=True))
    op.create_foreign_key(
        "fk_evidence_capa_action_id_capa_actions",
        "evidence",
        "capa_actions",
        ["capa_action_id"],
        ["id"],
    )
    op.create_check_constraint(
        "ck_evidence_capa_part_has_capa",
        "evidence",
        "(capa_action_id IS NULL AND NOT effectiveness_check) OR capa_id IS NOT NULL",
    )
    op.create_index("ix_evidence_sha256", "evidence", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_evidence_sha256", table_name="evidence")
    op.drop_constraint("ck_evidence_capa_part_has_capa", "evidence", type_="check")
    op.drop_constraint("fk_evidence_capa_action_id_capa_actions", "evidence", type_="foreignkey")
    for column in ("filename", "effectiveness_check", "capa_action_id"):
        op.drop_column("evidence", column)
    op.drop_table("evidence_content")
