"""Tenant plane: KPIs, measurements, governance items, risks, incident reports and their
partner notifications, management reviews and review actions.

Tables are created unqualified; the environment's transaction-local search_path places
them in the tenant schema. Enumerations are text with a CHECK listing the values.

Revision ID: t0003
Revises: t0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.schema import SchemaItem

revision = "t0003"
down_revision = "t0001"
branch_labels = None
depends_on = None

TABLES = (
    "review_actions",
    "management_reviews",
    "incident_notifications",
    "incident_reports",
    "risks",
    "governance_items",
    "kpi_measurements",
    "kpis",
)
# Content of a review that freezing locks; status may still move on (frozen → approved).
REVIEW_CONTENT = (
    "title",
    "period_start",
    "period_end",
    "standards",
    "inputs",
    "minutes",
    "decisions",
    "required_signatories",
    "revision",
    "previous_id",
    "content_digest",
    "frozen_at",
    "frozen_by",
)


def _record(table: str) -> list[SchemaItem]:
    """RecordMixin's columns: identity, provenance, authorship."""
    return [
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
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.UniqueConstraint(
            "source_system", "external_id", name=f"uq_{table}_source_system_external_id"
        ),
    ]


def _one_of(table: str, column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=f"ck_{table}_{column}")


def upgrade() -> None:
    op.create_table(
        "kpis",
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("unit", sa.Text, nullable=False),
        sa.Column("direction", sa.Text, nullable=False),
        sa.Column("target", sa.Double, nullable=False),
        sa.Column("warning_threshold", sa.Double, nullable=False),
        sa.Column("breach_threshold", sa.Double, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("standards", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("clause_keys", pg.ARRAY(sa.Text), nullable=False),
        *_record("kpis"),
        sa.UniqueConstraint("key", name="uq_kpis_key"),
        _one_of("kpis", "direction", ("higher_is_better", "lower_is_better")),
        sa.CheckConstraint(
            "(direction = 'higher_is_better'"
            " AND target > warning_threshold AND warning_threshold > breach_threshold)"
            " OR (direction = 'lower_is_better'"
            " AND target < warning_threshold AND warning_threshold < breach_threshold)",
            name="ck_kpis_thresholds",
        ),
    )
    op.create_table(
        "kpi_measurements",
        sa.Column("kpi_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period_end", sa.Date, nullable=False),
        sa.Column("value", sa.Double, nullable=False),
        sa.Column("rating", sa.Text, nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        *_record("kpi_measurements"),
        sa.UniqueConstraint("kpi_id", "period_end", name="uq_kpi_measurements_kpi_id_period_end"),
        sa.CheckConstraint("period_end >= period_start", name="ck_kpi_measurements_period"),
        _one_of("kpi_measurements", "rating", ("on_target", "off_target", "warning", "breach")),
        sa.ForeignKeyConstraint(["kpi_id"], ["kpis.id"], name="fk_kpi_measurements_kpi_id_kpis"),
    )
    op.create_table(
        "governance_items",
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("kpi_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("measurement_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Text, nullable=True),
        sa.Column("resolution", sa.Text, nullable=True),
        *_record("governance_items"),
        _one_of("governance_items", "kind", ("kpi_breach",)),
        _one_of("governance_items", "status", ("open", "closed")),
        sa.CheckConstraint(
            "kind <> 'kpi_breach' OR (kpi_id IS NOT NULL AND measurement_id IS NOT NULL)",
            name="ck_governance_items_kpi_breach_refs",
        ),
        sa.ForeignKeyConstraint(["kpi_id"], ["kpis.id"], name="fk_governance_items_kpi_id_kpis"),
        sa.ForeignKeyConstraint(
            ["measurement_id"],
            ["kpi_measurements.id"],
            name="fk_governance_items_measurement_id_kpi_measurements",
        ),
    )
    op.create_index("ix_governance_items_kpi_id", "governance_items", ["kpi_id"])

    op.create_table(
        "risks",
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("likelihood", sa.Integer, nullable=False),
        sa.Column("impact", sa.Integer, nullable=False),
        sa.Column(
            "score", sa.Integer, sa.Computed("likelihood * impact", persisted=True), nullable=False
        ),
        sa.Column("treatment", sa.Text, nullable=True),
        sa.Column("treatment_plan", sa.Text, nullable=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("third_party_dependencies", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("clause_keys", pg.ARRAY(sa.Text), nullable=False),
        *_record("risks"),
        sa.UniqueConstraint("reference", name="uq_risks_reference"),
        sa.CheckConstraint("likelihood BETWEEN 1 AND 5", name="ck_risks_likelihood"),
        sa.CheckConstraint("impact BETWEEN 1 AND 5", name="ck_risks_impact"),
        _one_of("risks", "treatment", ("avoid", "reduce", "transfer", "accept")),
        _one_of("risks", "status", ("open", "treated", "accepted", "closed")),
    )

    op.create_table(
        "incident_reports",
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("severity", sa.Integer, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        *_record("incident_reports"),
        sa.UniqueConstraint("reference", name="uq_incident_reports_reference"),
        sa.CheckConstraint("severity BETWEEN 1 AND 4", name="ck_incident_reports_severity"),
        sa.CheckConstraint(
            "detected_at >= occurred_at AND reported_at >= detected_at",
            name="ck_incident_reports_timeline",
        ),
        _one_of("incident_reports", "status", ("open", "contained", "resolved", "closed")),
    )
    op.create_table(
        "incident_notifications",
        sa.Column("incident_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("partner", sa.Text, nullable=False),
        sa.Column("deadline_hours", sa.Double, nullable=False),
        sa.Column("required_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified_by", sa.Text, nullable=True),
        *_record("incident_notifications"),
        sa.UniqueConstraint(
            "incident_id", "partner", name="uq_incident_notifications_incident_id_partner"
        ),
        sa.CheckConstraint("deadline_hours > 0", name="ck_incident_notifications_deadline_hours"),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident_reports.id"],
            name="fk_incident_notifications_incident_id_incident_reports",
        ),
    )

    op.create_table(
        "management_reviews",
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period_end", sa.Date, nullable=False),
        sa.Column("standards", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("inputs", pg.JSONB, nullable=False),
        sa.Column("minutes", sa.Text, nullable=False),
        sa.Column("decisions", pg.JSONB, nullable=False),
        sa.Column("required_signatories", pg.JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("previous_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("content_digest", sa.Text, nullable=True),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("frozen_by", sa.Text, nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.Text, nullable=True),
        *_record("management_reviews"),
        sa.UniqueConstraint("previous_id", name="uq_management_reviews_previous_id"),
        sa.CheckConstraint("period_end >= period_start", name="ck_management_reviews_period"),
        sa.CheckConstraint("revision >= 1", name="ck_management_reviews_revision"),
        sa.CheckConstraint(
            "(status = 'draft') = (content_digest IS NULL AND frozen_at IS NULL)",
            name="ck_management_reviews_frozen_digest",
        ),
        _one_of("management_reviews", "status", ("draft", "frozen", "approved")),
        sa.ForeignKeyConstraint(
            ["previous_id"],
            ["management_reviews.id"],
            name="fk_management_reviews_previous_id_management_reviews",
        ),
    )
    # Defence in depth behind the service's REVIEW_FROZEN refusal: signatures will bind the
    # digest, so not even a buggy code path may change a frozen review's content.
    new = ", ".join(f"NEW.{column}" for column in REVIEW_CONTENT)
    old = ", ".join(f"OLD.{column}" for column in REVIEW_CONTENT)
    op.execute(
        f"""
        CREATE FUNCTION refuse_frozen_review_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF OLD.status = 'draft' THEN
            NULL;
          ELSIF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION 'management review % is frozen: DELETE refused', OLD.id
              USING ERRCODE = 'object_not_in_prerequisite_state';
          ELSIF NEW.status = 'draft'
             OR (OLD.status = 'approved' AND NEW.status <> 'approved')
             OR ROW({new}) IS DISTINCT FROM ROW({old}) THEN
            RAISE EXCEPTION 'management review % is frozen: UPDATE refused', OLD.id
              USING ERRCODE = 'object_not_in_prerequisite_state';
          END IF;
          IF TG_OP = 'DELETE' THEN
            RETURN OLD;
          END IF;
          RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER frozen_review_guard BEFORE UPDATE OR DELETE ON management_reviews "
        "FOR EACH ROW EXECUTE FUNCTION refuse_frozen_review_change()"
    )

    op.create_table(
        "review_actions",
        sa.Column("review_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("due_at", sa.Date, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        *_record("review_actions"),
        _one_of("review_actions", "status", ("open", "done", "cancelled")),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["management_reviews.id"],
            name="fk_review_actions_review_id_management_reviews",
        ),
    )
    op.create_index("ix_review_actions_review_id", "review_actions", ["review_id"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
    op.execute("DROP FUNCTION refuse_frozen_review_change()")
