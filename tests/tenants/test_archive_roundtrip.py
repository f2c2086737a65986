"""Export → restore → export of a tenant holding every kind of record gives the same bytes.

The tenant's records are written through the services, as a partner's would be: an audit
with its team, findings answered and closed, evidence, a CAPA with actions (one done), KPIs
with measurements and the governance item a breach opens, risks (whose score the database
generates), an incident with its partner notification, a compiled and frozen management
review, and the event log of all of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from accord.compliance.audits import service as audit_service
from accord.compliance.capa import service as capa_service
from accord.compliance.catalog.service import sync_catalog
from accord.compliance.evidence import service as evidence_service
from accord.compliance.evidence.uploads import Target, read_upload, store_upload
from accord.compliance.incidents import service as incident_service
from accord.compliance.kpis import service as kpi_service
from accord.compliance.reviews import flows as review_flows
from accord.compliance.reviews import service as review_service
from accord.compliance.risks import service as risk_service
from accord.compliance.risks.models import Risk
from accord.compliance.tallies import FindingCount
from accord.compliance.workflow import service as finding_workflow
from accord.platform import clock
from accord.platform.eventlog import verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.archive import export_tenant, restore_tenant
from accord.tenants.models import Tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, TenantFactory, unique_slug

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
TODAY = NOW.date()
ACTOR = "globex/maria.santos"
# Tables a partner's ordinary work leaves empty here: connector runs, webhooks, transfers
# and notifications between tenants are covered by their own tests.
NOT_SEEDED = {
    "access_log",
    "audit_finding_deadlines",
    "audit_notifications",
    "audit_protocols",
    "clause_mappings",
    "finding_transfers",
    "incident_webhook_endpoints",
    "quarantine",
    "received_incident_notifications",
    "review_signatures",
    "source_deletions",
    "sync_runs",
    "sync_state",
    "webhook_deliveries",
}


async def _chunks(content: bytes) -> AsyncIterator[bytes]:
    yield content


async def _audit_findings_evidence_capa(runtime: Runtime, slug: str) -> None:
    raised = NOW - timedelta(days=30)
    async with tenant_session(runtime, slug) as s:
        audit = await audit_service.create_audit(
            session=s,
            actor=ACTOR,
            data={
                "programme": "Supplier quality 2027",
                "type": "joint",
                "title": "Joint supplier audit, plant Dayton",
                "scope": "Control of externally provided processes",
                "clause_keys": ["iso9001:2015/8.4", "iso14001:2015/8.1"],
                "lead_tenant": "northwind",
                "audited_tenant": slug,
                "window_start": TODAY - timedelta(days=32),
                "window_end": TODAY - timedelta(days=28),
            },
        )
        await audit_service.add_team_member(
            session=s,
            audit=audit,
            actor=ACTOR,
            data={"tenant": "northwind", "subject": "lea.hoffmann", "role": "lead_auditor"},
        )
        await audit_service.set_audit_status(
            session=s, audit=audit, target="in_progress", actor=ACTOR
        )
        major = await finding_workflow.raise_finding(
            session=s,
            actor=ACTOR,
            data={
                "audit_id": audit.id,
                "reference": "GX-01",
                "title": "Supplier monitoring records missing",
                "grade": "major_nonconformity",
                "severity": "high",
                "clause_keys": ["iso9001:2015/8.4"],
                "criteria": "iso9001:2015/8.4",
                "condition": "No monitoring records for 3 of 12 suppliers — «Lieferanten»",
                "raised_at": raised,
                "response_due_at": TODAY - timedelta(days=16),
            },
        )
        ofi = await finding_workflow.raise_finding(
            session=s,
            actor=ACTOR,
            data={
                "reference": "GX-02",
                "title": "Scorecards could be shared monthly",
                "grade": "opportunity_for_improvement",
                "severity": "low",
                "clause_keys": ["iso9001:2015/8.4"],
                "condition": "Scorecards are compiled quarterly.",
                "raised_at": raised,
            },
        )
        await finding_workflow.respond(session=s, finding=ofi, actor=ACTOR, response="Agreed.")
        await finding_workflow.transition(session=s, finding=ofi, target="closed", actor=ACTOR)
        await finding_workflow.respond(
            session=s, finding=major, actor=ACTOR, response="Monitoring lapsed; CAPA raised."
        )
        await evidence_service.add_evidence(
            session=s,
            actor=ACTOR,
            data={
                "finding_id": major.id,
                "title": "Supplier evaluation register",
                "sha256": "ab" * 32,
                "media_type": "application/pdf",
                "size_bytes": 48_213,
                "captured_at": NOW - timedelta(days=2),
                "uri": "s3://evidence/register.pdf",
            },
        )
        # An uploaded file: its bytes live in the tenant's schema and travel with it.
        upload = await read_upload(
            _chunks(b"Supplier evaluation, Q3\nsupplier,score\nacme,82\n"),
            filename="evaluation.txt",
            max_bytes=1_000_000,
        )
        await store_upload(
            session=s, upload=upload, target=Target(finding_id=major.id), actor=ACTOR
        )
        capa = await capa_service.create_capa(
            session=s,
            actor=ACTOR,
            data={
                "reference": "GX-CAPA-01",
                "title": "Restore supplier monitoring",
                "finding_ids": [major.id],
                "clause_keys": ["iso9001:2015/8.4"],
                "containment": "Interim monthly review by the QA lead.",
                "actions": [
                    {
                        "title": "Assign supplier monitoring to a role",
                        "owner": "maria.santos",
                        "owner_tenant": slug,
                        "due_at": TODAY - timedelta(days=5),
                    },
                    {
                        "title": "Evaluate the three suppliers",
                        "owner": "maria.santos",
                        "owner_tenant": slug,
                        "due_at": TODAY + timedelta(days=20),
                    },
                ],
            },
        )
        await finding_workflow.transition(
            session=s, finding=major, target="capa_planned", actor=ACTOR
        )
        first = (await capa_service.list_actions(session=s, capa=capa))[0]
        await capa_service.complete_action(session=s, action=first, actor=ACTOR)


async def _kpis_risks_incident(runtime: Runtime, slug: str) -> None:
    async with tenant_session(runtime, slug) as s:
        kpi = await kpi_service.create_kpi(
            session=s,
            actor=ACTOR,
            data={
                "key": "supplier_defects_ppm",
                "name": "Supplier defects",
                "definition": "Defective parts per million received.",
                "unit": "ppm",
                "direction": "lower_is_better",
                "target": 150,
                "warning_threshold": 250,
                "breach_threshold": 400,
                "owner": ACTOR,
                "standards": ["iso9001:2015"],
            },
        )
        for month, value in ((8, 180.0), (9, 310.5), (10, 460.0)):  # October breaches
            start = date(2026, month, 1)
            await kpi_service.record_measurement(
                session=s,
                actor=ACTOR,
                kpi=kpi,
                data={
                    "period_start": start,
                    "period_end": date(2026, month + 1, 1) - timedelta(days=1),
                    "value": value,
                },
            )
        resin = await risk_service.create_risk(
            session=s,
            actor=ACTOR,
            data={
                "reference": "R-01",
                "title": "Single-source resin supplier",
                "description": "One qualified resin supplier; requalification takes 9 months.",
                "owner": ACTOR,
                "likelihood": 3,
                "impact": 5,
                "third_party_dependencies": ["Resinco GmbH"],
                "treatment": "accept",
            },
        )
        await risk_service.assess_risk(session=s, actor=ACTOR, risk=resin, likelihood=2, impact=5)
        press = await risk_service.create_risk(
            session=s,
            actor=ACTOR,
            data={
                "reference": "R-02",
                "title": "Press line downtime",
                "description": "The only press line for housings fails.",
                "owner": ACTOR,
                "likelihood": 4,
                "impact": 3,
                "clause_keys": ["iso9001:2015/6.1"],
            },
        )
        await risk_service.treat_risk(
            session=s, actor=ACTOR, risk=press, treatment="reduce", treatment_plan="Spare dies"
        )
        incident = await incident_service.report_incident(
            session=s,
            actor=ACTOR,
            data={
                "reference": "IN-01",
                "title": "Ransomware on the backup network",
                "severity": 1,
                "occurred_at": NOW - timedelta(hours=40),
                "detected_at": NOW - timedelta(hours=38),
                "description": "Encrypted backup catalogue.",
            },
            notify=["meridian"],
            policy={"deadline_hours": {1: 24, 2: 72}},
        )
        await incident_service.mark_notified(
            session=s,
            actor=ACTOR,
            incident=incident,
            partner="meridian",
            notified_at=NOW - timedelta(hours=8),
        )


async def _review(runtime: Runtime, slug: str) -> None:
    async with tenant_session(runtime, slug) as s:
        review = await review_service.create_review(
            session=s,
            actor=ACTOR,
            data={
                "title": "Management review Q4 2026",
                "period_start": date(2026, 8, 1),
                "period_end": date(2026, 10, 31),
                "standards": ["iso9001:2015", "iso14001:2015"],
                "minutes": "Supplier monitoring and the late notification discussed.",
                "decisions": [
                    {"text": "Monthly scorecards", "owner": ACTOR, "due_at": date(2027, 1, 31)}
                ],
                "required_signatories": [
                    {"tenant": slug, "subject": "david.chen", "role": "executive"}
                ],
            },
        )
        await review_flows.compile_inputs(session=s, actor=ACTOR, review=review)
        await review_service.freeze(session=s, actor=ACTOR, review=review)


@pytest.fixture
async def busy_tenant(runtime: Runtime, make_tenant: TenantFactory) -> Tenant:
    await sync_catalog(runtime)
    tenant = await make_tenant(SECOND_STORE, label="every")
    with clock.use(clock.FixedClock(NOW)):
        await _audit_findings_evidence_capa(runtime, tenant.slug)
        await _kpis_risks_incident(runtime, tenant.slug)
        await _review(runtime, tenant.slug)
    return tenant


async def test_a_tenant_with_every_record_type_round_trips_byte_for_byte(
    runtime: Runtime, busy_tenant: Tenant, tmp_path: Path
) -> None:
    first = await export_tenant(runtime, slug=busy_tenant.slug, directory=tmp_path / "first")
    empty = {table for table, rows in first.rows.items() if rows == 0}
    assert empty <= NOT_SEEDED, f"tables no record reached: {sorted(empty - NOT_SEEDED)}"
    assert first.rows["risks"] == 2 and first.rows["governance_items"] == 1
    assert first.rows["capa_actions"] == 2 and first.rows["kpi_measurements"] == 3

    copy = unique_slug("every")
    restored = await restore_tenant(runtime, directory=first.directory, slug=copy, store="home")
    assert restored.store == "home"
    second = await export_tenant(runtime, slug=copy, directory=tmp_path / "second")

    assert second.rows == first.rows
    for table in first.rows:
        name = f"{table}.ndjson"
        assert (second.directory / name).read_bytes() == (first.directory / name).read_bytes()
    assert second.content_hash == first.content_hash
    async with tenant_session(runtime, copy) as session:
        verdict = await verify_chain(session)
        scores = (
            await session.execute(select(Risk.reference, Risk.score).order_by(Risk.reference))
        ).all()
    assert verdict.ok and verdict.entries == first.rows["event_log"]
    assert [tuple(row) for row in scores] == [("R-01", 10), ("R-02", 12)]

    # The restored tenant's triggers work again: its tallies count a new finding.
    async with tenant_session(runtime, copy) as session:
        before = await session.scalar(select(func.sum(FindingCount.n)))
        await finding_workflow.raise_finding(
            session=session,
            actor=ACTOR,
            data={
                "reference": "GX-03",
                "title": "Waste manifests incomplete",
                "grade": "observation",
                "severity": "low",
                "clause_keys": ["iso14001:2015/8.1"],
                "condition": "2 of 9 manifests lack the carrier signature.",
                "raised_at": NOW,
            },
        )
        assert await session.scalar(select(func.sum(FindingCount.n))) == before + 1
