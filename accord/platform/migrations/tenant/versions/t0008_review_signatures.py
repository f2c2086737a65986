"""Tenant plane: signatures of management reviews (detached JWS over the content digest).

A signature row is never rewritten or deleted; the one update allowed marks it superseded
(once) when a new revision of its review is made. The trigger holds that even against a
buggy code path, like the frozen-review guard of t0003.

Revision ID: t0008
Revises: t0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "t0008"
down_revision = "t0003"
branch_labels = None
depends_on = None

# Everything of a signature except the superseded marker.
RECORDED = (
    "id",
    "review_id",
    "revision",
    "content_digest",
    "signer_tenant",
    "signer_subject",
    "signer_role",
    "kid",
    "alg",
    "jwk",
    "jws",
    "signed_at",
    "recorded_at",
    "recorded_by",
)


def upgrade() -> None:
    op.create_table(
        "review_signatures",
        sa.Column("id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("review_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("content_digest", sa.Text, nullable=False),
        sa.Column("signer_tenant", sa.Text, nullable=False),
        sa.Column("signer_subject", sa.Text, nullable=False),
        sa.Column("signer_role", sa.Text, nullable=False),
        sa.Column("kid", sa.Text, nullable=False),
        sa.Column("alg", sa.Text, nullable=False),
        sa.Column("jwk", pg.JSONB, nullable=False),
        sa.Column("jws", sa.Text, nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("recorded_by", sa.Text, nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("superseded_by", pg.UUID(as_uuid=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_review_signatures"),
        sa.UniqueConstraint(
            "review_id",
            "signer_tenant",
            "signer_subject",
            name="uq_review_signatures_review_id_signer_tenant_signer_subject",
        ),
        sa.CheckConstraint("alg IN ('Ed25519', 'EdDSA', 'ES256')", name="ck_review_signatures_alg"),
        sa.CheckConstraint(
            "(superseded_at IS NULL) = (superseded_by IS NULL)",
            name="ck_review_signatures_superseded",
        ),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["management_reviews.id"],
            name="fk_review_signatures_review_id_management_reviews",
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by"],
            ["management_reviews.id"],
            name="fk_review_signatures_superseded_by_management_reviews",
        ),
    )
    new = ", ".join(f"NEW.{column}" for column in RECORDED)
    old = ", ".join(f"OLD.{column}" for column in RECORDED)
    op.execute(
        f"""
        CREATE FUNCTION refuse_review_signature_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE'
             AND OLD.superseded_at IS NULL
             AND NEW.superseded_at IS NOT NULL
             AND ROW({new}) IS NOT DISTINCT FROM ROW({old}) THEN
            RETURN NEW;
          END IF;
          RAISE EXCEPTION 'review signature % is recorded: % refused', OLD.id, TG_OP
            USING ERRCODE = 'object_not_in_prerequisite_state';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER review_signature_guard BEFORE UPDATE OR DELETE ON review_signatures "
        "FOR EACH ROW EXECUTE FUNCTION refuse_review_signature_change()"
    )


def downgrade() -> None:
    op.drop_table("review_signatures")
    op.execute("DROP FUNCTION refuse_review_signature_change()")
