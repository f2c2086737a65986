"""The risk register: scored by the database, treated with a plan, closed for good."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from accord.compliance.risks import service as risk_service
from accord.compliance.risks.models import Risk, RiskLevel, RiskStatus, Treatment
from accord.platform.errors import BadInput, Conflict
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.models import Tenant
from accord.tenants.provisioning import create_tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory, unique_slug

pytestmark = pytest.mark.usefixtures("synced_catalog")

ACTOR = "user:aoife.byrne"
RANSOMWARE: dict[str, Any] = {
    "reference": "R-2026-014",
    "title": "Ransomware encrypts the ticketing and monitoring platform",
    "description": "A compromised admin account deploys ransomware across the SOC tooling.",
    "likelihood": 3,
    "impact": 5,
    "owner": "user:aoife.byrne",
    "third_party_dependencies": ["meridian", "Contoso Backup Services"],
    "clause_keys": ["iso27001:2022/6.1.2", "iso22301:2019/8.2.3"],
}


@pytest.fixture(scope="module")
async def shared(runtime: Runtime, synced_catalog: None) -> Tenant:
    """One tenant for the refusals (they write nothing), holding RANSOMWARE already."""
    tenant = await create_tenant(
        runtime,
        slug=unique_slug("risks"),
        legal_name="Initech Managed Services Ltd",
        jurisdiction="IE",
        store="home",
    )
    await _risk(runtime, tenant)
    return tenant


async def _counts(runtime: Runtime, tenant: Tenant) -> tuple[int, int]:
    async with tenant_session(runtime, tenant.slug) as session:
        risks = await session.scalar(select(func.count()).select_from(Risk))
        events = await session.scalar(select(func.count()).select_from(EventLogEntry))
    return risks or 0, events or 0


async def _last_event(runtime: Runtime, tenant: Tenant) -> EventLogEntry:
    async with tenant_session(runtime, tenant.slug) as session:
        assert (await verify_chain(session)).ok
        event = await session.scalar(select(EventLogEntry).order_by(EventLogEntry.seq.desc()))
    assert event is not None
    return event


async def _risk(runtime: Runtime, tenant: Tenant, **change: Any) -> Risk:
    async with tenant_session(runtime, tenant.slug) as session:
        return await risk_service.create_risk(
            session=session, actor=ACTOR, data={**RANSOMWARE, **change}
        )


async def test_create_risk_is_scored_by_the_database(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="risk")
    risk = await _risk(runtime, tenant)
    assert (risk.score, risk.level, risk.status) == (15, RiskLevel.CRITICAL, RiskStatus.OPEN)
    assert risk.third_party_dependencies == ["meridian", "Contoso Backup Services"]
    event = await _last_event(runtime, tenant)
    assert (event.action, event.record_id) == ("risk.created", str(risk.id))
    assert event.change["score"] == 15 and event.change["status"] == "open"


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"likelihood": 0}, "likelihood", "OUT_OF_RANGE"),
        ({"likelihood": 6}, "likelihood", "OUT_OF_RANGE"),
        ({"impact": 0}, "impact", "OUT_OF_RANGE"),
        ({"impact": 2.5}, "impact", "INVALID_VALUE"),
        ({"treatment": "ignore"}, "treatment", "INVALID_CHOICE"),
        ({"treatment": "reduce"}, "treatment_plan", "TREATMENT_PLAN_REQUIRED"),
        (
            {"treatment": "transfer", "treatment_plan": " "},
            "treatment_plan",
            "TREATMENT_PLAN_REQUIRED",
        ),
        ({"title": ""}, "title", "EMPTY"),
        (
            {"third_party_dependencies": ["globex", "  "]},
            "third_party_dependencies",
            "BAD_THIRD_PARTY",
        ),
        ({"clause_keys": ["iso27001:2022/6.1.9"]}, "clause_keys", "UNKNOWN_CLAUSE"),
        ({"clause_keys": ["6.1.2"]}, "clause_keys", "BAD_CLAUSE_KEY"),
    ],
)
async def test_bad_risk_is_refused_and_nothing_is_written(
    runtime: Runtime, shared: Tenant, change: dict[str, Any], field: str, reason: str
) -> None:
    tenant = shared
    before = await _counts(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        with pytest.raises(BadInput) as refused:
            await risk_service.create_risk(
                session=session, actor=ACTOR, data={**RANSOMWARE, **change}
            )
    assert (refused.value.field, refused.value.reason) == (field, reason)
    assert await _counts(runtime, tenant) == before


async def test_duplicate_reference_is_a_conflict(runtime: Runtime, shared: Tenant) -> None:
    tenant = shared
    before = await _counts(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        with pytest.raises(Conflict) as refused:
            await risk_service.create_risk(session=session, actor=ACTOR, data=RANSOMWARE)
    assert refused.value.reason == "DUPLICATE_RISK_REFERENCE"
    assert await _counts(runtime, tenant) == before


async def test_reassessment_rescores_and_logs_before_and_after(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="riska")
    risk = await _risk(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        stored = await risk_service.get_risk(session=session, risk_id=risk.id)
        await risk_service.assess_risk(
            session=session, actor=ACTOR, risk=stored, likelihood=2, impact=4
        )
        assert (stored.score, stored.level) == (8, RiskLevel.MEDIUM)
    event = await _last_event(runtime, tenant)
    assert event.action == "risk.assessed"
    assert event.change == {
        "from": {"likelihood": 3, "impact": 5, "score": 15},
        "to": {"likelihood": 2, "impact": 4, "score": 8},
    }
    before = await _counts(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        stored = await risk_service.get_risk(session=session, risk_id=risk.id)
        with pytest.raises(BadInput) as refused:
            await risk_service.assess_risk(
                session=session, actor=ACTOR, risk=stored, likelihood=6, impact=4
            )
    assert (refused.value.field, refused.value.reason) == ("likelihood", "OUT_OF_RANGE")
    assert await _counts(runtime, tenant) == before


async def test_treatment_sets_the_status_and_closing_is_final(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="riskt")
    risk = await _risk(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        stored = await risk_service.get_risk_by_reference(session=session, reference="R-2026-014")
        with pytest.raises(BadInput, match="treatment plan"):
            await risk_service.treat_risk(
                session=session, actor=ACTOR, risk=stored, treatment="reduce"
            )
        await risk_service.treat_risk(
            session=session,
            actor=ACTOR,
            risk=stored,
            treatment=Treatment.REDUCE,
            treatment_plan="Immutable off-site backups; phishing-resistant MFA for admins.",
        )
        assert stored.status is RiskStatus.TREATED
        await risk_service.treat_risk(session=session, actor=ACTOR, risk=stored, treatment="accept")
        assert stored.status is RiskStatus.ACCEPTED and stored.treatment_plan is None
        await risk_service.close_risk(
            session=session, actor=ACTOR, risk=stored, reason="Platform decommissioned."
        )
    before = await _counts(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        stored = await risk_service.get_risk(session=session, risk_id=risk.id)
        assert stored.status is RiskStatus.CLOSED
        with pytest.raises(Conflict) as assessed:
            await risk_service.assess_risk(
                session=session, actor=ACTOR, risk=stored, likelihood=1, impact=1
            )
        with pytest.raises(Conflict) as treated:
            await risk_service.treat_risk(
                session=session, actor=ACTOR, risk=stored, treatment="accept"
            )
        with pytest.raises(Conflict) as closed:
            await risk_service.close_risk(session=session, actor=ACTOR, risk=stored, reason="x")
    assert {e.value.reason for e in (assessed, treated, closed)} == {"RISK_CLOSED"}
    assert await _counts(runtime, tenant) == before
    async with tenant_session(runtime, tenant.slug) as session:
        actions = list(
            await session.scalars(
                select(EventLogEntry.action).where(EventLogEntry.record_id == str(risk.id))
            )
        )
    assert actions == ["risk.created", "risk.treated", "risk.treated", "risk.closed"]


async def test_register_lists_by_score_and_by_dependency(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="riskl")
    await _risk(runtime, tenant)
    await _risk(
        runtime,
        tenant,
        reference="R-2026-021",
        title="Courier strike delays spare-part deliveries",
        likelihood=2,
        impact=2,
        third_party_dependencies=["northwind"],
        clause_keys=["iso22301:2019/8.2.3"],
    )
    await _risk(
        runtime,
        tenant,
        reference="R-2026-030",
        title="Loss of the hospital's VPN concentrator",
        likelihood=4,
        impact=4,
        third_party_dependencies=["meridian"],
        treatment="transfer",
        treatment_plan="Carrier-managed redundant concentrator under the 2027 contract.",
    )
    async with tenant_session(runtime, tenant.slug) as session:
        everything = await risk_service.list_risks(session=session)
        meridian = await risk_service.list_risks(session=session, depends_on="meridian")
        high = await risk_service.list_risks(session=session, min_score=10)
        summary = await risk_service.register_summary(session=session)
    assert [r.reference for r in everything] == ["R-2026-030", "R-2026-014", "R-2026-021"]
    assert [r.reference for r in meridian] == ["R-2026-030", "R-2026-014"]
    assert [r.score for r in high] == [16, 15]
    assert summary["by_status"] == {"open": 2, "treated": 1}
    assert summary["by_level"] == {"low": 1, "medium": 0, "high": 0, "critical": 2}
    assert summary["untreated"] == 2
    assert summary["risks"][0]["treatment"] == "transfer"
