"""Tenant plane: the joint audit closing protocol.

* ``audit_protocols`` — a programme's default protocol (``audit_id`` null, one per
  programme) or the protocol agreed for one audit (one per audit): response and CAPA-plan
  deadlines in days, the verifier tenant, evidence types closing needs, the effectiveness
  re-check delay, the shared process.
* ``audit_finding_deadlines`` — the protocol's clock on each finding of such an audit:
  CAPA-plan deadline, effectiveness re-check date, overdue flag and kinds.
* ``audit_notifications`` — notices to the Accountable party (overdue findings), one per
  finding, kind and deadline.

Revision ID: t0012
Revises: t0009
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "t0012"
down_revision = "t0009"
branch_labels = None
depends_on = None


def _record_columns() -> list[sa.Column[object]]:
    """RecordMixin: identity, provenance, authorship."""
    return [
        sa.Column("id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("source_system", sa.Text, nullable=False),
        sa.Column("external_id", sa.Text, nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("content_hash", sa.Text, nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("updated_by", sa.Text, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "audit_protocols",
        sa.Column("audit_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("programme", sa.Text, nullable=False),
        sa.Column("response_days", sa.Integer, nullable=False),
        sa.Column("capa_plan_days", sa.Integer, nullable=False),
        sa.Column("verifier_tenant", sa.Text, nullable=True),
        sa.Column("required_evidence_types", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("recheck_after_days", sa.Integer, nullable=True),
        sa.Column("process", sa.Text, nullable=True),
        *_record_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_audit_protocols"),
        sa.UniqueConstraint(
            "source_system", "external_id", name="uq_audit_protocols_source_system_external_id"
        ),
        sa.UniqueConstraint("audit_id", name="uq_audit_protocols_audit_id"),
        sa.ForeignKeyConstraint(
            ["audit_id"],
            ["audits.id"],
            name="fk_audit_protocols_audit_id_audits",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "response_days BETWEEN 1 AND 365", name="ck_audit_protocols_response_days_range"
        ),
        sa.CheckConstraint(
            "capa_plan_days BETWEEN response_days AND 730",
            name="ck_audit_protocols_capa_plan_days_range",
        ),
        sa.CheckConstraint(
            "recheck_after_days IS NULL OR recheck_after_days BETWEEN 1 AND 1095",
            name="ck_audit_protocols_recheck_after_days_range",
        ),
    )
    op.create_index(
        "uq_audit_protocols_programme_default",
        "audit_protocols",
        ["programme"],
        unique=True,
        postgresql_where=sa.text("audit_id IS NULL"),
    )

    op.create_table(
        "audit_finding_deadlines",
        sa.Column("finding_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("audit_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("capa_plan_due_at", sa.Date, nullable=True),
        sa.Column("recheck_due_at", sa.Date, nullable=True),
        sa.Column("overdue_since", sa.Date, nullable=True),
        sa.Column(
            "overdue_kinds", pg.ARRAY(sa.Text), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("finding_id", name="pk_audit_finding_deadlines"),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["findings.id"],
            name="fk_audit_finding_deadlines_finding_id_findings",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["audit_id"],
            ["audits.id"],
            name="fk_audit_finding_deadlines_audit_id_audits",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_audit_finding_deadlines_audit_id", "audit_finding_deadlines", ["audit_id"])

    op.create_table(
        "audit_notifications",
        sa.Column("id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("audit_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("finding_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("recipient_tenant", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_audit_notifications"),
        sa.UniqueConstraint(
            "finding_id", "kind", "due_on", name="uq_audit_notifications_finding_id_kind_due_on"
        ),
        sa.ForeignKeyConstraint(
            ["audit_id"],
            ["audits.id"],
            name="fk_audit_notifications_audit_id_audits",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["findings.id"],
            name="fk_audit_notifications_finding_id_findings",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "kind IN ('response_overdue', 'capa_plan_overdue')", name="ck_audit_notifications_kind"
        ),
    )
    op.create_index(
        "ix_audit_notifications_recipient_tenant", "audit_notifications", ["recipient_tenant"]
    )


def downgrade() -> None:
    op.drop_table("audit_notifications")
    op.drop_table("audit_finding_deadlines")
    op.drop_index("uq_audit_protocols_programme_default", table_name="audit_protocols")
    op.drop_table("audit_protocols")
