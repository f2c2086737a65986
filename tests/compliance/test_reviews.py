"""Management reviews: inputs compiled from records, frozen under a digest, revised."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
import rfc8785
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, func, inspect, select, text
from sqlalchemy.exc import DBAPIError

from accord.compliance.audits import service as audit_service
from accord.compliance.capa import service as capa_service
from accord.compliance.incidents.models import IncidentNotification, IncidentReport
from accord.compliance.kpis import service as kpi_service
from accord.compliance.kpis.models import GovernanceItem, Kpi, KpiMeasurement
from accord.compliance.reviews import flows as review_flows
from accord.compliance.reviews import service as review_service
from accord.compliance.reviews.models import (
    ActionStatus,
    ManagementReview,
    ReviewAction,
    ReviewStatus,
)
from accord.compliance.reviews.schemas import document_digest
from accord.compliance.risks import service as risk_service
from accord.compliance.risks.models import Risk
from accord.compliance.workflow import service as finding_workflow
from accord.platform import clock
from accord.platform.errors import BadInput, Conflict
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.models import Tenant
from accord.tenants.provisioning import create_tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory, unique_slug

pytestmark = pytest.mark.usefixtures("synced_catalog")

ACTOR = "user:hanna.vogt"
Q4: dict[str, Any] = {
    "title": "Integrated management review Q4 2026",
    "period_start": date(2026, 10, 1),
    "period_end": date(2026, 12, 31),
    "standards": ["iso9001:2015", "iso14001:2015", "iso45001:2018"],
    "minutes": "Attendees: managing director, QHSE lead, operations, HR.",
    "decisions": [
        {
            "text": "Re-qualify globex as a supplier",
            "owner": "user:hanna.vogt",
            "due_at": "2027-02-28",
        },
        {
            "text": "Fund a second calibration rig",
            "owner": "user:jonas.richter",
            "due_at": "2027-03-31",
        },
    ],
    "required_signatories": [
        {"tenant": "northwind", "subject": "user:katrin.maier", "role": "managing_director"},
        {"tenant": "northwind", "subject": "user:hanna.vogt", "role": "qhse_lead"},
    ],
}
MODELS = (
    Kpi,
    KpiMeasurement,
    GovernanceItem,
    Risk,
    IncidentReport,
    IncidentNotification,
    ManagementReview,
    ReviewAction,
)


@pytest.fixture(scope="module")
async def shared(runtime: Runtime, synced_catalog: None) -> Tenant:
    """One tenant for refusals (they write nothing) and for schema checks."""
    return await create_tenant(
        runtime,
        slug=unique_slug("reviews"),
        legal_name="Northwind Logistics GmbH",
        jurisdiction="DE",
        store="home",
    )


async def _counts(runtime: Runtime, tenant: Tenant) -> tuple[int, ...]:
    async with tenant_session(runtime, tenant.slug) as session:
        return tuple(
            [
                await session.scalar(select(func.count()).select_from(model)) or 0
                for model in (ManagementReview, ReviewAction, EventLogEntry)
            ]
        )


async def _actions(runtime: Runtime, tenant: Tenant, record_id: object) -> list[str]:
    async with tenant_session(runtime, tenant.slug) as session:
        assert (await verify_chain(session)).ok
        return list(
            await session.scalars(
                select(EventLogEntry.action)
                .where(EventLogEntry.record_id == str(record_id))
                .order_by(EventLogEntry.seq)
            )
        )


async def _draft(runtime: Runtime, tenant: Tenant, **change: Any) -> ManagementReview:
    async with tenant_session(runtime, tenant.slug) as session:
        review = await review_service.create_review(
            session=session, actor=ACTOR, data={**Q4, **change}
        )
        await review_flows.compile_inputs(
            session=session,
            actor=ACTOR,
            review=review,
            external_internal_issues="New EU packaging regulation; warehouse lease renewed.",
        )
    return review


async def _frozen(runtime: Runtime, tenant: Tenant, **change: Any) -> ManagementReview:
    review = await _draft(runtime, tenant, **change)
    async with tenant_session(runtime, tenant.slug) as session:
        stored = await review_service.get_review(session=session, review_id=review.id)
        return await review_service.freeze(session=session, actor=ACTOR, review=stored)


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"period_end": date(2026, 9, 30)}, "period_end", "PERIOD_END_BEFORE_START"),
        ({"standards": []}, "standards", "TOO_FEW"),
        ({"standards": ["iso9001"]}, "standards", "BAD_STANDARD_ID"),
        ({"standards": ["iso9001:2008"]}, "standards", "UNKNOWN_STANDARD"),
        ({"title": " "}, "title", "EMPTY"),
        (
            {"decisions": [{"text": "Hire an auditor", "owner": "user:x"}]},
            "decisions.0.due_at",
            "REQUIRED",
        ),
        (
            {"decisions": [{"text": "", "owner": "user:x", "due_at": "2027-01-31"}]},
            "decisions.0.text",
            "EMPTY",
        ),
        (
            {"required_signatories": [{"tenant": "Meridian NHS", "subject": "u", "role": "ceo"}]},
            "required_signatories.0.tenant",
            "BAD_TENANT",
        ),
        (
            {"required_signatories": [Q4["required_signatories"][0]] * 2},
            "required_signatories",
            "DUPLICATE_SIGNATORY",
        ),
        ({"status": "approved"}, "status", "UNKNOWN_FIELD"),
    ],
)
async def test_bad_review_is_refused_and_nothing_is_written(
    runtime: Runtime, shared: Tenant, change: dict[str, Any], field: str, reason: str
) -> None:
    before = await _counts(runtime, shared)
    async with tenant_session(runtime, shared.slug) as session:
        with pytest.raises(BadInput) as refused:
            await review_service.create_review(session=session, actor=ACTOR, data={**Q4, **change})
    assert (refused.value.field, refused.value.reason) == (field, reason)
    assert await _counts(runtime, shared) == before


async def _records_of_the_quarter(runtime: Runtime, tenant: Tenant) -> None:
    """KPIs, a risk, a joint audit with findings and a CAPA, and a frozen Q3 review."""
    async with tenant_session(runtime, tenant.slug) as session:
        otd = await kpi_service.create_kpi(
            session=session,
            actor=ACTOR,
            data={
                "key": "on-time-delivery",
                "name": "On-time delivery",
                "definition": "Shipments in the agreed window / all shipments, per month.",
                "unit": "%",
                "direction": "higher_is_better",
                "target": 98,
                "warning_threshold": 95,
                "breach_threshold": 90,
                "owner": ACTOR,
                "standards": ["iso9001:2015"],
            },
        )
        for start, end, value in [
            (date(2026, 9, 1), date(2026, 9, 30), 97.5),
            (date(2026, 10, 1), date(2026, 10, 31), 98.6),
            (date(2026, 11, 1), date(2026, 11, 30), 88.2),
        ]:
            await kpi_service.record_measurement(
                session=session,
                actor=ACTOR,
                kpi=otd,
                data={"period_start": start, "period_end": end, "value": value},
            )
        await risk_service.create_risk(
            session=session,
            actor=ACTOR,
            data={
                "reference": "R-NW-007",
                "title": "Single supplier for calibrated torque tools",
                "description": "Only globex supplies the calibrated torque tools.",
                "likelihood": 3,
                "impact": 4,
                "owner": ACTOR,
                "third_party_dependencies": ["globex"],
            },
        )
        audit = await audit_service.create_audit(
            session=session,
            actor=ACTOR,
            data={
                "programme": "Supplier quality 2027",
                "type": "joint",
                "title": "Joint audit of the globex plant",
                "scope": "Incoming goods and calibration",
                "clause_keys": ["iso9001:2015/8.4", "iso14001:2015/8.1"],
                "lead_tenant": "northwind",
                "audited_tenant": "globex",
                "window_start": date(2026, 10, 12),
                "window_end": date(2026, 10, 16),
                "status": "in_progress",
            },
        )
        findings = []
        for reference, grade in [
            ("F-101", "major_nonconformity"),
            ("F-102", "minor_nonconformity"),
            ("F-103", "opportunity_for_improvement"),
        ]:
            findings.append(
                await finding_workflow.raise_finding(
                    session=session,
                    actor=ACTOR,
                    data={
                        "audit_id": audit.id,
                        "reference": reference,
                        "title": f"Finding {reference}",
                        "grade": grade,
                        "severity": "high",
                        "clause_keys": ["iso9001:2015/8.4"],
                        "criteria": "ISO 9001:2015 8.4.1",
                        "condition": "Supplier monitoring records missing for Q3.",
                        "raised_at": datetime(2026, 10, 14, 10, 0, tzinfo=UTC),
                    },
                )
            )
        await capa_service.create_capa(
            session=session,
            actor=ACTOR,
            data={
                "reference": "CAPA-55",
                "title": "Restore supplier monitoring",
                "finding_ids": [findings[0].id],
                "actions": [
                    {
                        "title": "Backfill monitoring records",
                        "owner": "user:li.wei",
                        "owner_tenant": "globex",
                        "due_at": date(2026, 11, 15),
                    },
                    {
                        "title": "Monthly supplier review",
                        "owner": "user:li.wei",
                        "owner_tenant": "globex",
                        "due_at": date(2027, 1, 31),
                    },
                ],
            },
        )
    q3 = await _frozen(
        runtime,
        tenant,
        title="Management review Q3 2026",
        period_start=date(2026, 7, 1),
        period_end=date(2026, 9, 30),
        decisions=[{"text": "Audit globex jointly", "owner": ACTOR, "due_at": "2026-10-31"}],
    )
    assert q3.status is ReviewStatus.FROZEN


@pytest.mark.parametrize(
    "fixed_clock",
    [datetime(2026, 12, 20, 9, tzinfo=UTC), datetime(2027, 2, 3, 9, tzinfo=UTC)],
    ids=["compiled-in-the-period", "compiled-after-it"],
    indirect=True,
)
async def test_compiled_inputs_report_the_period_from_the_records(
    runtime: Runtime, make_tenant: TenantFactory, fixed_clock: clock.FixedClock
) -> None:
    tenant = await make_tenant(label="revin")
    await _records_of_the_quarter(runtime, tenant)
    review = await _draft(runtime, tenant)
    inputs = review.inputs
    assert inputs["clause"] == "9.3.2"
    assert inputs["period"] == {"start": "2026-10-01", "end": "2026-12-31"}
    assert inputs["external_internal_issues"].startswith("New EU packaging regulation")

    [otd] = inputs["kpi_performance"]
    assert [(m["period_end"], m["value"], m["rating"]) for m in otd["measurements"]] == [
        ("2026-10-31", 98.6, "on_target"),
        ("2026-11-30", 88.2, "breach"),
    ]
    assert otd["latest_rating"] == "breach" and len(otd["governance_items"]) == 1

    previous = inputs["previous_actions"]
    assert previous["by_status"] == {"open": 1} and previous["overdue"] == 1
    assert previous["actions"][0]["review"] == "Management review Q3 2026"

    [audit] = inputs["audit_results"]
    assert audit["title"] == "Joint audit of the globex plant"
    assert audit["findings_by_grade"] == {
        "major_nonconformity": 1,
        "minor_nonconformity": 1,
        "opportunity_for_improvement": 1,
    }
    nc = inputs["nonconformities_and_corrective_actions"]
    assert [f["reference"] for f in nc["nonconformities"]] == ["F-101", "F-102"]
    assert [(c["reference"], c["actions"], c["actions_overdue"]) for c in nc["capas"]] == [
        ("CAPA-55", 2, 1)
    ]
    ro = inputs["risks_and_opportunities"]
    assert [r["reference"] for r in ro["risks"]["risks"]] == ["R-NW-007"]
    assert [f["reference"] for f in ro["opportunities_for_improvement"]] == ["F-103"]
    assert (await _actions(runtime, tenant, review.id)) == ["review.created", "review.compiled"]


async def test_freeze_stores_the_rfc8785_sha256_and_tracks_the_decisions(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="revfz")
    frozen = await _frozen(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        row = await review_service.get_review(session=session, review_id=frozen.id)
        actions = await review_service.list_review_actions(session=session, review=row)
    # Computed independently of Accord's code: the documented fields, RFC 8785, SHA-256.
    document = {
        "type": "accord.management_review",
        "format": 1,
        "id": str(row.id),
        "revision": 1,
        "previous_id": None,
        "title": Q4["title"],
        "period": {"start": "2026-10-01", "end": "2026-12-31"},
        "standards": Q4["standards"],
        "inputs": row.inputs,
        "minutes": Q4["minutes"],
        "decisions": Q4["decisions"],
        "required_signatories": Q4["required_signatories"],
    }
    expected = hashlib.sha256(rfc8785.dumps(document)).hexdigest()
    assert row.status is ReviewStatus.FROZEN and row.frozen_by == ACTOR
    assert row.frozen_at is not None
    assert row.content_digest == frozen.content_digest == expected
    assert document_digest(row) == expected  # stable when recomputed from the stored row
    assert [(a.text, a.owner, a.due_at, a.status) for a in actions] == [
        (
            "Re-qualify globex as a supplier",
            "user:hanna.vogt",
            date(2027, 2, 28),
            ActionStatus.OPEN,
        ),
        (
            "Fund a second calibration rig",
            "user:jonas.richter",
            date(2027, 3, 31),
            ActionStatus.OPEN,
        ),
    ]
    assert await _actions(runtime, tenant, row.id) == [
        "review.created",
        "review.compiled",
        "review.frozen",
    ]
    assert await _actions(runtime, tenant, actions[0].id) == ["review_action.opened"]


async def test_a_frozen_review_refuses_edits_in_the_service_and_the_database(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="revlock")
    frozen = await _frozen(runtime, tenant)
    before = await _counts(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        review = await review_service.get_review(session=session, review_id=frozen.id)
        with pytest.raises(Conflict) as edited:
            await review_service.edit_review(
                session=session, actor=ACTOR, review=review, changes={"minutes": "rewritten"}
            )
        with pytest.raises(Conflict) as compiled:
            await review_flows.compile_inputs(session=session, actor=ACTOR, review=review)
        with pytest.raises(Conflict) as refrozen:
            await review_service.freeze(session=session, actor=ACTOR, review=review)
    assert {e.value.reason for e in (edited, compiled, refrozen)} == {"REVIEW_FROZEN"}
    assert edited.value.field == "status"
    assert await _counts(runtime, tenant) == before

    table = f'"t_{tenant.slug}".management_reviews'
    for statement in (
        f"update {table} set minutes = 'rewritten'",
        f"update {table} set status = 'draft', content_digest = null, frozen_at = null",
        f"delete from {table}",
    ):
        with pytest.raises(DBAPIError, match="is frozen"):
            async with tenant_session(runtime, tenant.slug) as session:
                await session.execute(text(statement))
    async with tenant_session(runtime, tenant.slug) as session:
        review = await review_service.get_review(session=session, review_id=frozen.id)
        assert document_digest(review) == review.content_digest


async def test_new_revision_is_an_editable_copy_linked_to_the_previous(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="revrev")
    first = await _frozen(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        original = await review_service.get_review(session=session, review_id=first.id)
        second = await review_service.new_revision(session=session, actor=ACTOR, review=original)
        assert (second.revision, second.previous_id, second.status) == (
            2,
            first.id,
            ReviewStatus.DRAFT,
        )
        assert second.inputs == original.inputs and second.content_digest is None
        await review_service.edit_review(
            session=session,
            actor=ACTOR,
            review=second,
            changes={
                "minutes": Q4["minutes"]
                + " Addendum: the supervisory board asked for a risk item.",
                "decisions": [
                    *Q4["decisions"],
                    {"text": "Add a cyber-risk item", "owner": ACTOR, "due_at": "2027-01-15"},
                ],
            },
        )
        await review_service.freeze(session=session, actor=ACTOR, review=second)
        with pytest.raises(Conflict) as forked:
            await review_service.new_revision(session=session, actor=ACTOR, review=original)
        chain = await review_service.history(session=session, review=second)
        actions = await review_service.list_review_actions(session=session)
    assert forked.value.reason == "REVISION_EXISTS"
    assert [r.revision for r in chain] == [1, 2]
    assert second.content_digest not in (None, first.content_digest)
    # Decisions carried over stay one tracked action each; the new one is added.
    assert sorted(a.text for a in actions) == [
        "Add a cyber-risk item",
        "Fund a second calibration rig",
        "Re-qualify globex as a supplier",
    ]
    assert await _actions(runtime, tenant, second.id) == [
        "review.revised",
        "review.edited",
        "review.frozen",
    ]


async def test_preconditions_of_freeze_approve_and_revise(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="revpre")
    async with tenant_session(runtime, tenant.slug) as session:
        bare = await review_service.create_review(
            session=session, actor=ACTOR, data={**Q4, "required_signatories": []}
        )
    before = await _counts(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        review = await review_service.get_review(session=session, review_id=bare.id)
        with pytest.raises(Conflict) as uncompiled:
            await review_service.freeze(session=session, actor=ACTOR, review=review)
        with pytest.raises(Conflict) as draft_approved:
            await review_service.approve(session=session, actor=ACTOR, review=review)
        with pytest.raises(Conflict) as draft_revised:
            await review_service.new_revision(session=session, actor=ACTOR, review=review)
        with pytest.raises(BadInput) as nothing:
            await review_service.edit_review(
                session=session, actor=ACTOR, review=review, changes={}
            )
    assert (uncompiled.value.reason, uncompiled.value.field) == ("INPUTS_NOT_COMPILED", "inputs")
    assert draft_approved.value.reason == draft_revised.value.reason == "REVIEW_NOT_FROZEN"
    assert nothing.value.reason == "NO_CHANGES"
    assert await _counts(runtime, tenant) == before

    async with tenant_session(runtime, tenant.slug) as session:
        review = await review_service.get_review(session=session, review_id=bare.id)
        await review_flows.compile_inputs(session=session, actor=ACTOR, review=review)
        with pytest.raises(Conflict) as unsigned:
            await review_service.freeze(session=session, actor=ACTOR, review=review)
        assert unsigned.value.reason == "SIGNATORIES_REQUIRED"
        await review_service.edit_review(
            session=session,
            actor=ACTOR,
            review=review,
            changes={
                "required_signatories": Q4["required_signatories"],
                "period_end": date(2026, 11, 30),
            },
        )
        assert review.inputs == {}  # a moved period invalidates the compiled inputs
        await review_flows.compile_inputs(session=session, actor=ACTOR, review=review)
        await review_service.freeze(session=session, actor=ACTOR, review=review)
    async with tenant_session(runtime, tenant.slug) as session:
        review = await review_service.get_review(session=session, review_id=bare.id)
        with pytest.raises(Conflict) as unsigned_approval:
            await review_service.approve(session=session, actor=ACTOR, review=review)
    # Approval comes only with the last required signature (tests/compliance/
    # test_review_signing.py); nobody can approve a review its signatories have not signed.
    assert unsigned_approval.value.reason == "SIGNATURES_MISSING"
    assert review.status is ReviewStatus.FROZEN
    assert (await _actions(runtime, tenant, review.id))[-1] == "review.frozen"


async def test_review_actions_are_completed_or_cancelled_with_a_note(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="revact")
    frozen = await _frozen(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        review = await review_service.get_review(session=session, review_id=frozen.id)
        first, second = await review_service.list_review_actions(session=session, review=review)
        await review_service.set_action_status(
            session=session, actor=ACTOR, action=first, status="done"
        )
        with pytest.raises(BadInput) as no_note:
            await review_service.set_action_status(
                session=session, actor=ACTOR, action=second, status=ActionStatus.CANCELLED
            )
        with pytest.raises(Conflict) as closed:
            await review_service.set_action_status(
                session=session, actor=ACTOR, action=first, status="cancelled", note="oops"
            )
        await review_service.set_action_status(
            session=session,
            actor=ACTOR,
            action=second,
            status="cancelled",
            note="Superseded by the 2027 capex plan.",
        )
    assert (no_note.value.reason, closed.value.reason) == ("NOTE_REQUIRED", "ACTION_CLOSED")
    assert first.status is ActionStatus.DONE and first.completed_at is not None
    assert second.status is ActionStatus.CANCELLED
    assert await _actions(runtime, tenant, first.id) == [
        "review_action.opened",
        "review_action.updated",
    ]


async def test_migration_creates_exactly_what_the_models_declare(
    runtime: Runtime, shared: Tenant
) -> None:
    schema = f"t_{shared.slug}"
    names = {model.__tablename__ for model in MODELS}
    declared = MetaData()
    for model in MODELS:
        model.__table__.to_metadata(declared, schema=schema, referred_schema_fn=lambda *_: schema)

    def compare(sync: Connection) -> tuple[list[Any], dict[str, dict[str, str]]]:
        context = MigrationContext.configure(
            sync,
            opts={
                "compare_type": True,
                "include_schemas": True,
                "include_name": lambda name, kind, _: (
                    name == schema if kind == "schema" else kind != "table" or name in names
                ),
            },
        )
        checks = {
            table: {
                c["name"]: c["sqltext"]
                for c in inspect(sync).get_check_constraints(table, schema=schema)
            }
            for table in names
        }
        return compare_metadata(context, declared), checks

    async with runtime.stores.migrator_engine(shared.store).connect() as conn:
        differences, checks = await conn.run_sync(compare)
    assert differences == []
    for model in MODELS:
        declared_checks = {
            str(c.name): c
            for c in model.__table__.constraints
            if c.name and c.name.startswith("ck_")
        }
        assert set(checks[model.__tablename__]) == set(declared_checks), model.__tablename__
        for name, constraint in declared_checks.items():
            enum = constraint.info.get("enum")
            if enum is not None:  # the CHECK lists exactly the StrEnum's values
                in_db = set(re.findall(r"'([^']*)'", checks[model.__tablename__][name]))
                assert in_db == {member.value for member in enum}, name
