"""Every record type over HTTP: keyset pages, summary partners, filters, by-id reads, nested
fields through loaders (with a statement count that does not grow with the parents), and
the caller's own sharing setup (agreements, RACI matrices, access log, sync runs)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import Enum
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.audits import service as audit_service
from accord.compliance.audits.models import AuditStatus, AuditType
from accord.compliance.capa import service as capa_service
from accord.compliance.capa.models import ActionStatus, EffectivenessResult, RootCauseMethod
from accord.compliance.capa.states import CapaState
from accord.compliance.evidence import service as evidence_service
from accord.compliance.findings.models import Finding
from accord.compliance.incidents import service as incident_service
from accord.compliance.incidents.models import IncidentStatus
from accord.compliance.kpis import service as kpi_service
from accord.compliance.kpis.models import Direction
from accord.compliance.reviews import service as review_service
from accord.compliance.reviews.models import ReviewStatus
from accord.compliance.risks import service as risk_service
from accord.compliance.risks.models import RiskLevel, RiskStatus, Treatment
from accord.compliance.workflow import service as finding_workflow
from accord.connectors.models import SyncRun
from accord.graphql.records.agreements import AgreementLevelEnum
from accord.graphql.records.audits import AuditStatusEnum, AuditTypeEnum
from accord.graphql.records.capas import (
    CapaActionStatusEnum,
    CapaStateEnum,
    EffectivenessResultEnum,
    RootCauseMethodEnum,
)
from accord.graphql.records.incidents import IncidentStatusEnum
from accord.graphql.records.kpis import KpiDirectionEnum
from accord.graphql.records.reviews import ManagementReviewStatusEnum
from accord.graphql.records.risks import RiskLevelEnum, RiskStatusEnum, RiskTreatmentEnum
from accord.graphql.relay import GlobalId
from accord.platform.clock import now, today
from accord.platform.runtime import Runtime
from accord.platform.settings import Settings
from accord.policies import service as policy_service
from accord.tenants.agreements.models import SharingLevel
from accord.tenants.models import Tenant
from accord.tenants.provisioning import create_tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, TenantFactory, unique_slug
from tests.factories import raci
from tests.factories.records import action_input, capa_input, evidence_input, finding_input
from tests.factories.sharing import grant
from tests.factories.tokens import sign_in
from tests.graphql.conftest import Api

ACTOR = "user:anna.keller"
SHARED_TYPES = (
    "finding",
    "capa",
    "capa_action",
    "audit",
    "evidence",
    "management_review",
    "kpi",
    "risk",
    "incident",
)


def shared_matrix(process: str, owner: str, reader: str) -> str:
    """``reader``'s quality managers are Informed on every record type of ``owner``."""
    return raci.matrix(
        name=f"Records {process}",
        process=process,
        owners=[owner],
        activities=[raci.Activity(f"Follow {t}", t, ["read"]) for t in SHARED_TYPES],
        raci={
            f"Follow {t}": {
                f"role:{owner}/quality_manager": "A",
                f"role:{reader}/quality_manager": "I",
            }
            for t in SHARED_TYPES
        },
    )


@dataclass
class Seeded:
    """One tenant's records, by record type, in creation order."""

    ids: dict[str, list[uuid.UUID]] = field(default_factory=dict)

    def add(self, record_type: str, record_id: uuid.UUID) -> None:
        self.ids.setdefault(record_type, []).append(record_id)


async def seed(runtime: Runtime, slug: str) -> Seeded:
    """Three records of every type, varied so that each filter below matches one or two."""
    seeded = Seeded()
    async with tenant_session(runtime, slug) as s:
        audits = []
        for n, (kind, start, end) in enumerate(
            (
                ("joint", today() - timedelta(days=3), today() + timedelta(days=1)),
                ("internal", today() - timedelta(days=20), today() - timedelta(days=10)),
                ("supplier", today() + timedelta(days=30), today() + timedelta(days=32)),
            )
        ):
            audit = await audit_service.create_audit(
                session=s,
                actor=ACTOR,
                data={
                    "programme": "Supplier quality 2027",
                    "type": kind,
                    "title": f"Audit {n}",
                    "scope": "Purchasing and operational control",
                    "clause_keys": ["iso9001:2015/8.4"] if n != 2 else ["iso14001:2015/8.1"],
                    "lead_tenant": slug,
                    "audited_tenant": slug,
                    "window_start": start,
                    "window_end": end,
                },
            )
            audits.append(audit)
            seeded.add("audit", audit.id)
        await audit_service.set_audit_status(
            session=s, audit=audits[0], target="in_progress", actor=ACTOR
        )
        findings = []
        for n in range(3):
            finding = await _raise(s, audit_id=audits[0].id if n < 2 else None)
            findings.append(finding)
            seeded.add("finding", finding.id)
        for n in range(3):
            capa = await capa_service.create_capa(
                session=s,
                actor=ACTOR,
                data=capa_input(
                    findings[n].id,
                    containment="Quarantined the affected lots.",
                    clause_keys=["iso9001:2015/8.4"] if n != 1 else ["iso14001:2015/8.1"],
                    actions=[
                        action_input(owner_tenant=slug),
                        action_input(owner_tenant=slug, title="Train the buyers"),
                    ],
                    effectiveness={
                        "due_at": today() + timedelta(days=60 * (n + 1)),
                        "verifier": {"tenant": "auditco", "subject": "user:vera"},
                    }
                    if n == 0
                    else None,
                ),
            )
            seeded.add("capa", capa.id)
        for n, attached in enumerate(
            (
                {"finding_id": findings[0].id},
                {"capa_id": seeded.ids["capa"][0]},
                {"clause_keys": ["iso14001:2015/8.1"]},
            )
        ):
            evidence = await evidence_service.add_evidence(
                session=s,
                actor=ACTOR,
                data=evidence_input(
                    media_type="image/png" if n == 2 else "application/pdf",
                    size_bytes=5_000_000_000 if n == 0 else 48_213,
                    **attached,
                ),
            )
            seeded.add("evidence", evidence.id)
        for n in range(3):
            review = await review_service.create_review(
                session=s,
                actor=ACTOR,
                data={
                    "title": f"Management review {n}",
                    "period_start": date(2026, 1 + 3 * n, 1),
                    "period_end": date(2026, 3 + 3 * n, 28),
                    "standards": ["iso9001:2015"] if n else ["iso14001:2015"],
                    "minutes": "Attendees: managing director, QHSE lead.",
                },
            )
            seeded.add("management_review", review.id)
        for n, direction in enumerate(("higher_is_better", "lower_is_better", "higher_is_better")):
            higher = direction == "higher_is_better"
            kpi = await kpi_service.create_kpi(
                session=s,
                actor=ACTOR,
                data={
                    "key": f"kpi-{n}",
                    "name": f"Indicator {n}",
                    "definition": "Measured monthly.",
                    "unit": "%",
                    "direction": direction,
                    "target": 98.0 if higher else 2.0,
                    "warning_threshold": 95.0 if higher else 5.0,
                    "breach_threshold": 90.0 if higher else 10.0,
                    "owner": "user:hanna.vogt",
                    "standards": ["iso9001:2015"],
                },
            )
            seeded.add("kpi", kpi.id)
        for n, (likelihood, impact) in enumerate(((1, 2), (3, 5), (4, 4))):
            risk = await risk_service.create_risk(
                session=s,
                actor=ACTOR,
                data={
                    "reference": f"R-{n}",
                    "title": f"Risk {n}",
                    "description": "A compromised admin account.",
                    "likelihood": likelihood,
                    "impact": impact,
                    "owner": "user:aoife.byrne",
                    "third_party_dependencies": ["Contoso Backup Services"],
                },
            )
            seeded.add("risk", risk.id)
        for n in range(3):
            occurred = now() - timedelta(days=10 - n)
            incident = await incident_service.report_incident(
                session=s,
                actor=ACTOR,
                data={
                    "reference": f"INC-{n}",
                    "title": f"Incident {n}",
                    "severity": n + 1,
                    "occurred_at": occurred,
                    "detected_at": occurred + timedelta(hours=1),
                    "description": "Encrypted backup catalogue.",
                },
            )
            seeded.add("incident", incident.id)
    return seeded


async def _raise(session: AsyncSession, **overrides: Any) -> Finding:
    return await finding_workflow.raise_finding(
        session=session,
        data=finding_input(owner="user:li.wei", **overrides),
        actor=ACTOR,
    )


@dataclass(frozen=True)
class World:
    """``own`` (home store) reads; ``partner`` (second store) shares every record type with
    it at ``summary`` and makes its quality managers Informed in ``process``; ``stranger``
    shares nothing."""

    own: Tenant
    partner: Tenant
    stranger: Tenant
    process: str
    token: str
    partner_token: str
    seeded: dict[str, Seeded]


@pytest.fixture(scope="module")
async def world(runtime: Runtime, settings: Settings) -> AsyncIterator[World]:
    own, partner, stranger = [
        await create_tenant(
            runtime,
            slug=unique_slug(label),
            legal_name="Test Partner Ltd",
            jurisdiction="DE",
            store=store,
        )
        for label, store in (("ro", "home"), ("rp", SECOND_STORE), ("rs", "home"))
    ]
    seeded = {t.slug: await seed(runtime, t.slug) for t in (own, partner, stranger)}
    types = [t for t in SHARED_TYPES if t != "capa_action"]
    await grant(runtime, partner.slug, own.slug, "summary", record_types=types)
    process = f"records-{secrets.token_hex(4)}"
    async with runtime.control_session() as session:
        result = await policy_service.import_matrix(
            session=session, text=shared_matrix(process, partner.slug, own.slug), fmt="yaml"
        )
    token = await sign_in(runtime, settings, own, roles=["quality_manager"], ttl=timedelta(hours=1))
    partner_token = await sign_in(
        runtime, settings, partner, roles=["quality_manager"], ttl=timedelta(hours=1)
    )
    yield World(own, partner, stranger, process, token, partner_token, seeded)
    async with runtime.control_session() as session:
        await policy_service.delete_matrix(session=session, name=result.matrix.name)


@dataclass(frozen=True)
class Spec:
    record_type: str
    listing: str
    by_id: str
    type_name: str
    fields: str
    #: fields null at summary and set at full (for the seeded records)
    withheld: tuple[str, ...]
    #: a filter, and how many of each tenant's seeded records it matches
    filter: dict[str, Any]
    matches: int

    @property
    def filter_type(self) -> str:
        return f"{self.type_name}Filter"


SPECS = [
    Spec(
        "audit",
        "audits",
        "audit",
        "Audit",
        "type status windowStart windowEnd clauseKeys leadTenant",
        ("title", "programme", "scope"),
        {"overdue": True},
        1,
    ),
    Spec(
        "capa",
        "capas",
        "capa",
        "Capa",
        "reference state clauseKeys effectivenessDueAt",
        ("title", "containment"),
        {"clause": "iso9001:2015/8.4", "state": ["PLANNED"]},
        2,
    ),
    Spec(
        "evidence",
        "evidenceItems",
        "evidence",
        "Evidence",
        "mediaType sizeBytes findingId capaId uploadedAt",
        ("title", "sha256", "uri", "uploadedBy"),
        {"mediaType": ["application/pdf"]},
        2,
    ),
    Spec(
        "management_review",
        "managementReviews",
        "managementReview",
        "ManagementReview",
        "periodStart periodEnd standards status revision",
        ("title", "minutes", "inputs"),
        {"standard": "iso9001:2015", "periodTo": "2026-05-01"},
        1,
    ),
    Spec(
        "kpi",
        "kpis",
        "kpi",
        "Kpi",
        "key direction target unit",
        ("name", "definition", "owner"),
        {"direction": "HIGHER_IS_BETTER"},
        2,
    ),
    Spec(
        "risk",
        "risks",
        "risk",
        "Risk",
        "reference score riskLevel status likelihood impact",
        ("title", "description", "owner", "thirdPartyDependencies"),
        {"riskLevel": ["CRITICAL"]},
        2,
    ),
    Spec(
        "incident",
        "incidentReports",
        "incidentReport",
        "IncidentReport",
        "reference severity severityLevel occurredAt status",
        ("title", "description"),
        {"severity": [1, 2]},
        2,
    ),
]
IDS = [s.record_type for s in SPECS]


def listing_query(spec: Spec) -> str:
    return f"""
query($first: Int!, $after: String, $filter: {spec.filter_type}, $process: String) {{
  {spec.listing}(first: $first, after: $after, filter: $filter, process: $process) {{
    edges {{ cursor node {{ id tenant level {spec.fields} {" ".join(spec.withheld)} }} }}
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
  }}
}}
"""


def by_id_query(spec: Spec) -> str:
    return f"""
query($id: ID!, $process: String) {{
  {spec.by_id}(id: $id, process: $process) {{ id tenant level {" ".join(spec.withheld)} }}
}}
"""


async def walk(
    api: Api,
    spec: Spec,
    token: str,
    *,
    first: int,
    filter: dict[str, Any] | None = None,
    process: str | None = None,
) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    after = None
    for page in range(50):
        body = await api.post(
            listing_query(spec),
            {"first": first, "after": after, "filter": filter, "process": process},
            token=token,
        )
        assert "errors" not in body, body
        listing = body["data"][spec.listing]
        info = listing["pageInfo"]
        assert info["hasPreviousPage"] is (page > 0)
        assert len(listing["edges"]) <= first
        seen.extend(e["node"] for e in listing["edges"])
        if not info["hasNextPage"]:
            return seen
        after = info["endCursor"]
    raise AssertionError("paging did not end")


def gid(type_name: str, tenant: Tenant, record_id: uuid.UUID) -> str:
    return str(GlobalId(type_name, tenant.slug, record_id).encode())


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
async def test_own_records_come_in_keyset_pages(api: Api, world: World, spec: Spec) -> None:
    own = world.own.slug
    seen = await walk(api, spec, world.token, first=2, filter={"tenants": [own]})
    assert len(seen) == 3
    assert {GlobalId.decode(n["id"], expected=spec.type_name).record_id for n in seen} == set(
        world.seeded[own].ids[spec.record_type]
    )
    for node in seen:
        assert (node["tenant"], node["level"]) == (own, "FULL")
        assert all(node[name] is not None for name in spec.withheld), node
    # One big page lists the same records in the same order.
    whole = await walk(api, spec, world.token, first=10, filter={"tenants": [own]})
    assert [n["id"] for n in whole] == [n["id"] for n in seen]


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
async def test_a_summary_partner_sees_withheld_fields_null(
    api: Api, world: World, spec: Spec
) -> None:
    partner = world.partner.slug
    seen = await walk(
        api, spec, world.token, first=2, filter={"tenants": [partner]}, process=world.process
    )
    assert len(seen) == 3
    for node in seen:
        assert (node["tenant"], node["level"]) == (partner, "SUMMARY")
        assert all(node[name] is None for name in spec.withheld), node
    # Outside the shared process the action gate says no: nothing from the partner.
    outside = await walk(api, spec, world.token, first=5, filter={"tenants": [partner]})
    assert outside == []
    # Every owner at once: own records in full, the partner's in summary, no stranger.
    both = await walk(api, spec, world.token, first=4, process=world.process)
    assert {n["tenant"] for n in both} == {world.own.slug, partner}


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
async def test_filters_narrow_the_listing(api: Api, world: World, spec: Spec) -> None:
    own = world.own.slug
    seen = await walk(api, spec, world.token, first=5, filter={"tenants": [own], **spec.filter})
    assert len(seen) == spec.matches, seen
    partner = await walk(api, spec, world.token, first=5, filter=spec.filter, process=world.process)
    assert sorted(n["tenant"] for n in partner) == sorted(
        [own] * spec.matches + [world.partner.slug] * spec.matches
    )


async def test_the_standard_filter_matches_any_clause_of_it(api: Api, world: World) -> None:
    seen = await walk(
        api,
        SPECS[1],
        world.token,
        first=5,
        filter={"tenants": [world.own.slug], "standard": "iso9001:2015"},
    )
    assert len(seen) == 2


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
async def test_one_record_by_its_global_id(api: Api, world: World, spec: Spec) -> None:
    query = by_id_query(spec)
    mine = world.seeded[world.own.slug].ids[spec.record_type][0]
    body = await api.post(query, {"id": gid(spec.type_name, world.own, mine)}, token=world.token)
    assert "errors" not in body, body
    assert body["data"][spec.by_id]["level"] == "FULL"

    theirs = world.seeded[world.partner.slug].ids[spec.record_type][0]
    shared = gid(spec.type_name, world.partner, theirs)
    body = await api.post(query, {"id": shared, "process": world.process}, token=world.token)
    node = body["data"][spec.by_id]
    assert node["level"] == "SUMMARY"
    assert all(node[name] is None for name in spec.withheld)

    foreign = world.seeded[world.stranger.slug].ids[spec.record_type][0]
    for hidden in (
        gid(spec.type_name, world.stranger, foreign),  # exists, not shared with us
        gid(spec.type_name, world.own, uuid.uuid4()),  # does not exist
        gid(spec.type_name, world.partner, theirs),  # shared, but outside the process
    ):
        body = await api.post(query, {"id": hidden}, token=world.token)
        assert body["data"][spec.by_id] is None
        [error] = body["errors"]
        assert error["extensions"]["code"] == "NOT_FOUND"
        assert error["extensions"]["reason"].endswith("_NOT_FOUND")

    wrong = await api.post(query, {"id": gid("Finding", world.own, mine)}, token=world.token)
    assert wrong["errors"][0]["extensions"]["reason"] == "WRONG_ID_TYPE"


async def test_cursors_belong_to_their_listing(api: Api, world: World) -> None:
    spec = SPECS[0]
    body = await api.post(listing_query(spec), {"first": 1}, token=world.token)
    cursor = body["data"]["audits"]["pageInfo"]["endCursor"]
    other = await api.post(
        listing_query(spec),
        {"first": 1, "after": cursor, "filter": {"overdue": True}},
        token=world.token,
    )
    assert other["errors"][0]["extensions"]["reason"] == "CURSOR_FOR_ANOTHER_QUERY"
    capas = await api.post(
        listing_query(SPECS[1]), {"first": 1, "after": cursor}, token=world.token
    )
    assert capas["errors"][0]["extensions"]["reason"] == "CURSOR_FOR_ANOTHER_QUERY"


async def test_orders_hold_across_pages(api: Api, world: World) -> None:
    query = """
    query($first: Int!, $after: String, $p: String) {
      risks(first: $first, after: $after, orderBy: SCORE, process: $p) {
        edges { node { tenant score } } pageInfo { hasNextPage endCursor }
      }
      kpis(first: 10, orderBy: KEY, process: $p) { edges { node { tenant key } } }
      capas(first: 10, orderBy: EFFECTIVENESS_DUE_AT, process: $p) {
        edges { node { tenant effectivenessDueAt } }
      }
    }
    """
    scores: list[int] = []
    after = None
    while True:
        body = await api.post(
            query, {"first": 2, "after": after, "p": world.process}, token=world.token
        )
        assert "errors" not in body, body
        scores.extend(e["node"]["score"] for e in body["data"]["risks"]["edges"])
        info = body["data"]["risks"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert scores == sorted(scores, reverse=True) and len(scores) == 6
    keys = [e["node"]["key"] for e in body["data"]["kpis"]["edges"]]
    assert keys == sorted(keys)
    due = [e["node"]["effectivenessDueAt"] for e in body["data"]["capas"]["edges"]]
    dated = [d for d in due if d is not None]
    assert dated == sorted(dated) and due[len(dated) :] == [None] * (len(due) - len(dated))


NESTED = """
query($p: String, $tenants: [String!]) {
  audits(first: 10, filter: {tenants: $tenants}, orderBy: WINDOW_START, process: $p) {
    edges { node { tenant findings { id level title } } }
  }
  capas(first: 10, filter: {tenants: $tenants}, process: $p) {
    edges { node {
      tenant level
      findings { id level title }
      actions { id level title owner dueAt status overdue ownerTenant }
      evidence { id title }
    } }
  }
  evidenceItems(first: 10, filter: {tenants: $tenants}, process: $p) {
    edges { node { findingId capaId finding { id level } capa { id level } } }
  }
}
"""


@pytest.mark.parametrize("who", ["own", "partner"])
async def test_nested_fields_follow_the_owners_level(api: Api, world: World, who: str) -> None:
    tenant = world.own if who == "own" else world.partner
    level, visible = ("FULL", True) if who == "own" else ("SUMMARY", False)
    body = await api.post(NESTED, {"p": world.process, "tenants": [tenant.slug]}, token=world.token)
    assert "errors" not in body, body
    audits = [e["node"] for e in body["data"]["audits"]["edges"]]
    # Windows sorted ascending: the overdue one, the current one (2 findings), the future one.
    assert [len(a["findings"]) for a in audits] == [0, 2, 0]
    for finding in audits[1]["findings"]:
        assert finding["level"] == level and (finding["title"] is not None) is visible
    capas = [e["node"] for e in body["data"]["capas"]["edges"]]
    assert len(capas) == 3
    for capa in capas:
        assert [f["level"] for f in capa["findings"]] == [level]
        assert capa["actions"] is not None and len(capa["actions"]) == 2
        for action in capa["actions"]:
            assert action["level"] == level
            assert (action["title"] is not None, action["owner"] is not None) == (visible,) * 2
            assert (action["status"], action["overdue"], action["ownerTenant"]) == (
                "OPEN",
                False,
                tenant.slug,
            )
    assert sorted(len(c["evidence"]) for c in capas) == [0, 0, 1]
    evidence = {
        (e["node"]["findingId"] is not None, e["node"]["capaId"] is not None): e["node"]
        for e in body["data"]["evidenceItems"]["edges"]
    }
    assert evidence[(True, False)]["finding"]["level"] == level
    assert evidence[(False, True)]["capa"]["level"] == level
    assert evidence[(False, False)]["finding"] is None


async def test_capa_actions_need_their_own_read_right(api: Api, world: World) -> None:
    """A process that lets the reader read the partner's CAPAs but not their actions."""
    process = f"capas-only-{secrets.token_hex(4)}"
    owner, reader = world.partner.slug, world.own.slug
    text = f"""
name: CAPAs only {process}
process: {process}
owners: [{owner}]
parties: [role:{owner}/quality_manager, role:{reader}/quality_manager]
activities:
  - {{name: Follow capa, record_type: capa, actions: [read]}}
raci:
  Follow capa:
    role:{owner}/quality_manager: A
    role:{reader}/quality_manager: I
"""
    name = await api.import_matrix(text)
    try:
        body = await api.post(
            "query($p: String, $t: [String!]) { capas(first: 5, filter: {tenants: $t}, "
            "process: $p) { edges { node { level actions { id } findings { id } } } } }",
            {"p": process, "t": [owner]},
            token=world.token,
        )
    finally:
        async with api.runtime.control_session() as session:
            await policy_service.delete_matrix(session=session, name=name)
    assert "errors" not in body, body
    nodes = [e["node"] for e in body["data"]["capas"]["edges"]]
    assert len(nodes) == 3
    assert all(n["actions"] is None and n["findings"] == [] for n in nodes)


class StatementCounter:
    #: Policy reloads run in the background whenever any process sharing the database
    #: changes a matrix; they are not the request's.
    BACKGROUND = ("policy_rules", "policy_domains")

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not any(table in statement for table in self.BACKGROUND):
            self.statements.append(statement)


@pytest.fixture
def counted(runtime: Runtime) -> Iterator[StatementCounter]:
    counter = StatementCounter()
    names = runtime.stores.names()
    engines = {
        id(e): e
        for e in (
            *(runtime.stores._base_tenant_engine(s).sync_engine for s in names),
            *(runtime.stores.engine(s).sync_engine for s in names),
        )
    }
    for engine in engines.values():
        event.listen(engine, "before_cursor_execute", counter)
    yield counter
    for engine in engines.values():
        event.remove(engine, "before_cursor_execute", counter)


async def capas_with_findings(runtime: Runtime, slug: str, count: int) -> None:
    async with tenant_session(runtime, slug) as s:
        for _ in range(count):
            finding = await _raise(s)
            await capa_service.create_capa(
                session=s,
                actor=ACTOR,
                data=capa_input(
                    finding.id,
                    actions=[action_input(owner_tenant=slug), action_input(owner_tenant=slug)],
                ),
            )


NPLUSONE = """
query($t: [String!]) {
  capas(first: 20, filter: {tenants: $t}) {
    edges { node { findings { id } actions { id } } }
  }
}
"""


async def test_nested_reads_do_not_grow_with_the_parents(
    api: Api, make_tenant: TenantFactory, counted: StatementCounter
) -> None:
    few, many = await make_tenant(label="n5"), await make_tenant(SECOND_STORE, label="n20")
    await capas_with_findings(api.runtime, few.slug, 5)
    await capas_with_findings(api.runtime, many.slug, 20)
    runs: list[list[str]] = []
    for tenant, size in ((few, 5), (many, 20)):
        token = await api.sign_in(tenant, "qm", "quality_manager")
        counted.statements.clear()
        body = await api.post(NPLUSONE, {"t": [tenant.slug]}, token=token)
        assert "errors" not in body, body
        nodes = [e["node"] for e in body["data"]["capas"]["edges"]]
        assert len(nodes) == size
        assert all(len(n["findings"]) == 1 and len(n["actions"]) == 2 for n in nodes)
        # What each statement reads, without the tenant's schema or the parameters.
        runs.append([s.split("FROM")[-1].split()[0].split(".")[-1] for s in counted.statements])
    assert len(runs[0]) == len(runs[1]), runs
    assert len(runs[1]) < 40, runs[1]


AGREEMENTS = """
query($role: AgreementRole) {
  agreements(role: $role) { id role grantor grantee recordTypes level state purpose }
}
"""


async def test_agreements_of_the_callers_own_organisation(api: Api, world: World) -> None:
    body = await api.post(AGREEMENTS, token=world.token)
    assert "errors" not in body, body
    [agreement] = body["data"]["agreements"]
    assert (agreement["role"], agreement["grantor"], agreement["grantee"]) == (
        "GRANTEE",
        world.partner.slug,
        world.own.slug,
    )
    assert (agreement["level"], agreement["state"]) == ("SUMMARY", "ACTIVE")
    assert "capa" in agreement["recordTypes"]
    granted = await api.post(AGREEMENTS, {"role": "GRANTOR"}, token=world.partner_token)
    assert [a["grantee"] for a in granted["data"]["agreements"]] == [world.own.slug]
    none = await api.post(AGREEMENTS, {"role": "GRANTOR"}, token=world.token)
    assert none["data"]["agreements"] == []


async def test_a_member_without_rights_is_refused(api: Api, world: World) -> None:
    token = await api.sign_in(world.own, "nobody")
    for query in (
        "{ agreements { id } }",
        "{ raciMatrices { name } }",
        "{ myAccessLog { id } }",
        "{ syncRuns { edges { node { id } } } }",
    ):
        body = await api.post(query, token=token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", query
    anonymous = await api.post("{ agreements { id } }")
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_raci_matrices_naming_the_organisation(api: Api, world: World) -> None:
    query = """
    { raciMatrices { name process owners parties { key tenant role }
        activities { name recordType owners } cells { activity party letters } } }
    """
    body = await api.post(query, token=world.token)
    assert "errors" not in body, body
    [matrix] = [m for m in body["data"]["raciMatrices"] if m["process"] == world.process]
    assert matrix["owners"] == [world.partner.slug]
    assert {a["recordType"] for a in matrix["activities"]} == set(SHARED_TYPES)
    reader = f"role:{world.own.slug}/quality_manager"
    assert {"activity": "Follow kpi", "party": reader, "letters": ["INFORMED"]} in matrix["cells"]
    stranger = await sign_in(
        api.runtime, api.settings, world.stranger, roles=["viewer"], ttl=timedelta(hours=1)
    )
    other = await api.post(query, token=stranger)
    assert world.process not in {m["process"] for m in other["data"]["raciMatrices"]}


async def test_the_grantor_reads_its_own_access_log(api: Api, world: World) -> None:
    request = f"records-log-{secrets.token_hex(4)}"
    listing = await api.post(
        listing_query(SPECS[4]),
        {"first": 5, "filter": {"tenants": [world.partner.slug]}, "process": world.process},
        token=world.token,
        headers={"x-request-id": request},
    )
    assert len(listing["data"]["kpis"]["edges"]) == 3
    body = await api.post(
        "{ myAccessLog(first: 100) { at grantee principal recordType level records requestId } }",
        token=world.partner_token,
    )
    assert "errors" not in body, body
    mine = [e for e in body["data"]["myAccessLog"] if e["requestId"] == request]
    assert mine == [
        {
            "at": mine[0]["at"],
            "grantee": world.own.slug,
            "principal": mine[0]["principal"],
            "recordType": "kpi",
            "level": "SUMMARY",
            "records": 3,
            "requestId": request,
        }
    ]
    assert mine[0]["principal"].startswith(f"{world.own.slug}/")
    # The grantee's own log holds nothing of it: it granted nothing.
    own = await api.post("{ myAccessLog { requestId } }", token=world.token)
    assert request not in {e["requestId"] for e in own["data"]["myAccessLog"]}


ACCESS_LOG = """
query($first: Int!, $after: String, $since: DateTime) {
  accessLog(first: $first, after: $after, since: $since) {
    edges { cursor node { id } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def test_the_access_log_pages_through_every_entry(api: Api, world: World) -> None:
    for _ in range(2):
        await api.post(
            listing_query(SPECS[4]),
            {"first": 5, "filter": {"tenants": [world.partner.slug]}, "process": world.process},
            token=world.token,
        )
    newest = await api.post("{ myAccessLog(first: 100) { id } }", token=world.partner_token)
    expected = [e["id"] for e in newest["data"]["myAccessLog"]]
    assert 2 <= len(expected) < 100
    paged: list[str] = []
    after = None
    for _ in expected:
        body = await api.post(ACCESS_LOG, {"first": 1, "after": after}, token=world.partner_token)
        page = body["data"]["accessLog"]
        paged += [edge["node"]["id"] for edge in page["edges"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert paged == expected
    since = {"first": 1, "after": after, "since": "2000-01-01T00:00:00Z"}
    other = await api.post(ACCESS_LOG, since, token=world.partner_token)
    assert other["errors"][0]["extensions"]["reason"] == "CURSOR_FOR_ANOTHER_QUERY"


async def test_an_incident_s_severity_is_on_the_findings_scale(api: Api, world: World) -> None:
    [incidents] = [spec for spec in SPECS if spec.record_type == "incident"]
    body = await api.post(
        listing_query(incidents),
        {"first": 10, "filter": {"tenants": [world.partner.slug]}, "process": world.process},
        token=world.token,
    )
    nodes = [e["node"] for e in body["data"]["incidentReports"]["edges"]]
    assert nodes
    scale = {1: "CRITICAL", 2: "HIGH", 3: "MEDIUM", 4: "LOW"}
    assert all(n["severityLevel"] == scale[n["severity"]] for n in nodes), nodes


async def test_nested_reads_are_logged_by_the_grantor(api: Api, world: World) -> None:
    request = f"records-nested-{secrets.token_hex(4)}"
    body = await api.post(
        NESTED,
        {"p": world.process, "tenants": [world.partner.slug]},
        token=world.token,
        headers={"x-request-id": request},
    )
    assert "errors" not in body, body
    log = await api.post(
        "{ myAccessLog(first: 100) { recordType records requestId } }", token=world.partner_token
    )
    logged = {
        (e["recordType"], e["records"])
        for e in log["data"]["myAccessLog"]
        if e["requestId"] == request
    }
    assert ("capa_action", 6) in logged
    assert ("finding", 3) in logged  # the CAPAs' findings
    assert ("capa", 3) in logged


SYNC_RUNS = """
query($first: Int!, $after: String, $status: SyncRunStatus) {
  syncRuns(first: $first, after: $after, status: $status) {
    edges { node { id stream status startedAt fetched } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def test_sync_runs_newest_first(api: Api, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant(label="sr")
    instance = uuid.uuid4()
    async with tenant_session(api.runtime, tenant.slug) as session:
        for n in range(3):
            started = now() - timedelta(hours=n)
            session.add(
                SyncRun(
                    id=uuid.uuid4(),
                    instance_id=instance,
                    instance_name="sap",
                    stream="notifications",
                    kind="sap_qm",
                    status="failed" if n == 2 else "succeeded",
                    started_at=started,
                    heartbeat_at=started,
                    ended_at=started + timedelta(minutes=1),
                    host="test",
                    pid=1,
                    fetched=10 * n,
                )
            )
    token = await api.sign_in(tenant, "admin", "admin")
    first = await api.post(SYNC_RUNS, {"first": 2}, token=token)
    assert "errors" not in first, first
    page = first["data"]["syncRuns"]
    assert [e["node"]["fetched"] for e in page["edges"]] == [0, 10]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = await api.post(
        SYNC_RUNS, {"first": 2, "after": page["pageInfo"]["endCursor"]}, token=token
    )
    assert [e["node"]["fetched"] for e in rest["data"]["syncRuns"]["edges"]] == [20]
    assert rest["data"]["syncRuns"]["pageInfo"]["hasNextPage"] is False
    failed = await api.post(SYNC_RUNS, {"first": 5, "status": "FAILED"}, token=token)
    assert [e["node"]["status"] for e in failed["data"]["syncRuns"]["edges"]] == ["FAILED"]
    replayed = await api.post(
        SYNC_RUNS,
        {"first": 2, "after": page["pageInfo"]["endCursor"], "status": "FAILED"},
        token=token,
    )
    assert replayed["errors"][0]["extensions"]["reason"] == "CURSOR_FOR_ANOTHER_QUERY"


async def test_big_sizes_are_not_cut_to_32_bits_nor_to_a_javascript_number(
    api: Api, world: World
) -> None:
    body = await api.post(
        "query($t: [String!]) { evidenceItems(first: 5, filter: {tenants: $t}) "
        "{ edges { node { sizeBytes } } } }",
        {"t": [world.own.slug]},
        token=world.token,
    )
    assert "5000000000" in {e["node"]["sizeBytes"] for e in body["data"]["evidenceItems"]["edges"]}


@pytest.mark.parametrize(
    ("mirror", "domain"),
    [
        (AuditTypeEnum, AuditType),
        (AuditStatusEnum, AuditStatus),
        (CapaStateEnum, CapaState),
        (RootCauseMethodEnum, RootCauseMethod),
        (EffectivenessResultEnum, EffectivenessResult),
        (CapaActionStatusEnum, ActionStatus),
        (ManagementReviewStatusEnum, ReviewStatus),
        (KpiDirectionEnum, Direction),
        (RiskTreatmentEnum, Treatment),
        (RiskStatusEnum, RiskStatus),
        (RiskLevelEnum, RiskLevel),
        (IncidentStatusEnum, IncidentStatus),
        (AgreementLevelEnum, SharingLevel),
    ],
)
def test_enums_mirror_the_domain(mirror: type[Enum], domain: type[Enum]) -> None:
    assert [(m.name, m.value) for m in mirror] == [(d.name, d.value) for d in domain]
