"""Tenant plane: audits and teams, findings, CAPA with actions, evidence.

Revision ID: t0002
Revises: t0001
Create Date: 2026-11-23

Enumerations are text columns with CHECK constraints mirroring the Python StrEnums of
accord.compliance.{audits,findings,capa}; the values are written out here so that this
revision stays what it was when the enums change (a later revision alters the CHECK).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "t0002"
down_revision = "t0001"
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


def _record_constraints(table: str) -> list[sa.Constraint]:
    return [
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.UniqueConstraint(
            "source_system", "external_id", name=f"uq_{table}_source_system_external_id"
        ),
    ]


def _in(table: str, column: str, *values: str) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=f"ck_{table}_{column}")


def upgrade() -> None:
    op.create_table(
        "audits",
        sa.Column("programme", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("clause_keys", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("lead_tenant", sa.Text, nullable=False),
        sa.Column("audited_tenant", sa.Text, nullable=False),
        sa.Column("window_start", sa.Date, nullable=False),
        sa.Column("window_end", sa.Date, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        *_record_columns(),
        *_record_constraints("audits"),
        _in("audits", "type", "internal", "joint", "supplier", "certification"),
        _in("audits", "status", "planned", "in_progress", "completed", "cancelled"),
        sa.CheckConstraint("window_end >= window_start", name="ck_audits_window_order"),
        sa.CheckConstraint("cardinality(clause_keys) > 0", name="ck_audits_has_clauses"),
    )
    op.create_table(
        "audit_team_members",
        sa.Column("audit_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("valid_from", sa.Date, nullable=True),
        sa.Column("valid_until", sa.Date, nullable=True),
        *_record_columns(),
        *_record_constraints("audit_team_members"),
        sa.ForeignKeyConstraint(
            ["audit_id"],
            ["audits.id"],
            name="fk_audit_team_members_audit_id_audits",
            ondelete="CASCADE",
        ),
        _in(
            "audit_team_members",
            "role",
            "lead_auditor",
            "auditor",
            "observer",
            "auditee_representative",
        ),
        sa.CheckConstraint(
            "valid_until >= valid_from", name="ck_audit_team_members_validity_order"
        ),
    )
    op.create_index("ix_audit_team_members_audit_id", "audit_team_members", ["audit_id"])

    op.create_table(
        "findings",
        sa.Column("audit_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("grade", sa.Text, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("clause_keys", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("criteria", sa.Text, nullable=True),
        sa.Column("condition", sa.Text, nullable=False),
        sa.Column("cause", sa.Text, nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raised_by", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=True),
        sa.Column("response_due_at", sa.Date, nullable=True),
        sa.Column("response", sa.Text, nullable=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("verification_result", sa.Text, nullable=True),
        sa.Column("verified_by", sa.Text, nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reopened_reason", sa.Text, nullable=True),
        sa.Column("reopened_by", sa.Text, nullable=True),
        sa.Column("reopened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Text, nullable=True),
        *_record_columns(),
        *_record_constraints("findings"),
        sa.UniqueConstraint("reference", name="uq_findings_reference"),
        sa.ForeignKeyConstraint(["audit_id"], ["audits.id"], name="fk_findings_audit_id_audits"),
        _in(
            "findings",
            "grade",
            "major_nonconformity",
            "minor_nonconformity",
            "observation",
            "opportunity_for_improvement",
        ),
        _in("findings", "severity", "low", "medium", "high", "critical"),
        _in(
            "findings",
            "state",
            "open",
            "responded",
            "capa_planned",
            "capa_implemented",
            "verification",
            "closed",
            "reopened",
        ),
        _in("findings", "verification_result", "passed", "failed"),
        sa.CheckConstraint("cardinality(clause_keys) > 0", name="ck_findings_has_clauses"),
        sa.CheckConstraint(
            "state <> 'closed' OR (closed_at IS NOT NULL AND closed_by IS NOT NULL)",
            name="ck_findings_closed_stamped",
        ),
    )
    op.create_index("ix_findings_audit_id", "findings", ["audit_id"])
    op.create_index(
        "ix_findings_clause_keys", "findings", ["clause_keys"], postgresql_using="gin"
    )

    op.create_table(
        "capas",
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("clause_keys", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("root_cause_method", sa.Text, nullable=True),
        sa.Column("root_cause_analysis", pg.JSONB, nullable=True),
        sa.Column("containment", sa.Text, nullable=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("effectiveness_due_at", sa.Date, nullable=True),
        sa.Column("effectiveness_verifier_subject", sa.Text, nullable=True),
        sa.Column("effectiveness_verifier_tenant", sa.Text, nullable=True),
        sa.Column("effectiveness_result", sa.Text, nullable=True),
        sa.Column("effectiveness_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("effectiveness_checked_by", sa.Text, nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Text, nullable=True),
        *_record_columns(),
        *_record_constraints("capas"),
        sa.UniqueConstraint("reference", name="uq_capas_reference"),
        _in("capas", "root_cause_method", "five_whys", "fishbone", "fmea"),
        _in(
            "capas",
            "state",
            "planned",
            "approved",
            "in_progress",
            "implemented",
            "effectiveness_check",
            "closed",
        ),
        _in("capas", "effectiveness_result", "effective", "not_effective"),
        sa.CheckConstraint(
            "(root_cause_method IS NULL) = (root_cause_analysis IS NULL)",
            name="ck_capas_root_cause_complete",
        ),
        sa.CheckConstraint(
            "(effectiveness_verifier_subject IS NULL) = (effectiveness_verifier_tenant IS NULL)",
            name="ck_capas_verifier_complete",
        ),
    )
    op.create_table(
        "capa_findings",
        sa.Column("capa_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("finding_id", pg.UUID(as_uuid=True), nullable=False),
        sa.PrimaryKeyConstraint("capa_id", "finding_id", name="pk_capa_findings"),
        sa.ForeignKeyConstraint(
            ["capa_id"], ["capas.id"], name="fk_capa_findings_capa_id_capas", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["findings.id"],
            name="fk_capa_findings_finding_id_findings",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_capa_findings_finding_id", "capa_findings", ["finding_id"])
    op.create_table(
        "capa_actions",
        sa.Column("capa_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("owner_tenant", sa.Text, nullable=False),
        sa.Column("due_at", sa.Date, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_by", sa.Text, nullable=True),
        *_record_columns(),
        *_record_constraints("capa_actions"),
        sa.ForeignKeyConstraint(
            ["capa_id"], ["capas.id"], name="fk_capa_actions_capa_id_capas", ondelete="CASCADE"
        ),
        _in("capa_actions", "status", "open", "done"),
        sa.CheckConstraint(
            "(status = 'done') = (completed_at IS NOT NULL AND completed_by IS NOT NULL)",
            name="ck_capa_actions_completion_stamped",
        ),
    )
    op.create_index("ix_capa_actions_capa_id", "capa_actions", ["capa_id"])

    op.create_table(
        "evidence",
        sa.Column("finding_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("capa_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("media_type", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_by", sa.Text, nullable=False),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("clause_keys", pg.ARRAY(sa.Text), nullable=False),
        *_record_columns(),
        *_record_constraints("evidence"),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name="fk_evidence_finding_id_findings"
        ),
        sa.ForeignKeyConstraint(["capa_id"], ["capas.id"], name="fk_evidence_capa_id_capas"),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="ck_evidence_sha256_hex"),
        sa.CheckConstraint(
            "media_type ~ '^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$'",
            name="ck_evidence_media_type_form",
        ),
        sa.CheckConstraint("size_bytes >= 0", name="ck_evidence_size_not_negative"),
        sa.CheckConstraint(
            "finding_id IS NOT NULL OR capa_id IS NOT NULL OR cardinality(clause_keys) > 0",
            name="ck_evidence_attached",
        ),
    )
    op.create_index("ix_evidence_finding_id", "evidence", ["finding_id"])
    op.create_index("ix_evidence_capa_id", "evidence", ["capa_id"])
    op.create_index(
        "ix_evidence_clause_keys", "evidence", ["clause_keys"], postgresql_using="gin"
    )


def downgrade() -> None:
    for table in (
        "evidence",
        "capa_actions",
        "capa_findings",
        "capas",
        "findings",
        "audit_team_members",
        "audits",
    ):
        op.drop_table(table)
