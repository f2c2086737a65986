"""OSCAL assessment results and POA&M (NIST's IFA GoodRead examples) → findings and risks."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from accord.compliance.capa.models import Capa, CapaAction, capa_findings
from accord.compliance.findings.models import Finding
from accord.compliance.risks.models import Risk, RiskStatus, Treatment
from accord.connectors import instances
from accord.connectors.instances import Loaded
from accord.connectors.models import QuarantineEntry, SyncRun
from accord.connectors.sync import engine
from accord.connectors.sync.quarantine import replay
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session
from tests.connectors.conftest import MakeInstance
from tests.connectors.fake_sap import ServerThread

FIXTURES = Path(__file__).parents[2].parent / "shared" / "fixtures" / "oscal"
AR_FILE = FIXTURES / "ifa_assessment-results-example.json"
POAM_FILE = FIXTURES / "ifa_plan-of-action-and-milestones.json"
FINDING = "45d8a6c2-1368-4bad-9ba0-7141f0a32889"
AR_RISK = "0cfa750e-3553-47ba-a7ba-cf84a884d261"
RISK_1 = "8b8bae66-b28c-4fa5-9a20-b79e7322fc00"  # deviation approved, response "accept"
RISK_2 = "1c65d2d3-7735-47fa-8f68-a236744beab7"  # open, response "mitigate"
ITEM_1 = "e174dfb9-0ae3-4a8f-8e7c-081527b84337"  # Django admin panel
ITEM_2 = "48c8368d-43ff-4736-9b28-64b1b1284c03"  # IAM roles, addressing risk 2
# AC-6(1) "Least privilege | authorize access to security functions", by ISO/IEC 27001:2022.
CLAUSE_MAP = {"ac-6.1": ["iso27001:2022/A.5.15", "iso27001:2022/A.8.2"]}


def load(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


async def rows(runtime: Runtime, slug: str, model: Any) -> dict[str, Any]:
    async with tenant_session(runtime, slug) as s:
        return {r.external_id: r for r in (await s.scalars(select(model))).all()}


async def quarantined(runtime: Runtime, slug: str) -> list[QuarantineEntry]:
    async with tenant_session(runtime, slug) as s:
        return list(
            (
                await s.scalars(
                    select(QuarantineEntry)
                    .where(QuarantineEntry.fixed_at.is_(None))
                    .order_by(QuarantineEntry.id)
                )
            ).all()
        )


async def run(runtime: Runtime, loaded: Loaded, stream: str) -> engine.RunResult:
    [result] = await engine.run_instance(runtime, loaded, [stream])
    assert result.status == "succeeded", result.error
    return result


async def run_log(runtime: Runtime, slug: str, run_id: str) -> list[dict[str, Any]]:
    async with tenant_session(runtime, slug) as s:
        found = await s.get(SyncRun, uuid.UUID(run_id))
        assert found is not None
        return list(found.log)


async def test_findings_with_mapped_controls_and_unchanged_rerun(
    runtime: Runtime, make_tenant: Any, make_instance: MakeInstance
) -> None:
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, str(AR_FILE), kind="oscal", clause_map=CLAUSE_MAP)
    first = await run(runtime, loaded, "ar_findings")
    assert {k: first.counts[k] for k in ("pages", "fetched", "created", "quarantined")} == {
        "pages": 1,
        "fetched": 1,
        "created": 1,
        "quarantined": 0,
    }
    finding = (await rows(runtime, tenant.slug, Finding))[FINDING]
    assert (finding.source_system, finding.reference) == ("oscal", f"OSCAL-{FINDING}")
    assert finding.title == (
        "GoodRead AwesomeCloud Account's System Engineer Role Permits High Risk Actions"
    )
    assert finding.condition.startswith("The assessor's security automation platform detected")
    assert (finding.grade.value, finding.severity.value, finding.state.value) == (
        "minor_nonconformity",
        "medium",
        "open",
    )
    assert finding.clause_keys == CLAUSE_MAP["ac-6.1"]
    assert finding.criteria == "OSCAL objective-id ac-6.1_obj"
    # Raised when its observation was collected (08:31:20 -04:00), by the named assessor.
    assert finding.raised_at == datetime(2023, 6, 2, 12, 31, 20, tzinfo=UTC)
    assert finding.raised_by == "Amy Assessor" and finding.response_due_at is None

    # metadata.last-modified has not moved: the document is read, nothing is written.
    again = await run(runtime, loaded, "ar_findings")
    assert again.counts == dict.fromkeys(engine.COUNTS, 0)
    assert {"stream": "ar_findings", "action": "unchanged since the last pass"}.items() <= (
        (await run_log(runtime, tenant.slug, again.run_id))[0].items()
    )


async def test_unmapped_control_quarantined_then_fixed_by_override_and_replay(
    runtime: Runtime, make_tenant: Any, make_instance: MakeInstance
) -> None:
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, str(AR_FILE), kind="oscal")
    result = await run(runtime, loaded, "ar_findings")
    assert (result.counts["created"], result.counts["quarantined"]) == (0, 1)
    [entry] = await quarantined(runtime, tenant.slug)
    assert entry.external_id == FINDING and entry.stream == "ar_findings"
    assert [(r["field"], r["reason"]) for r in entry.reasons] == [("clause_keys", "UNKNOWN_CLAUSE")]
    assert "nist-sp800-53:2020/AC-6.1" in entry.reasons[0]["message"]
    assert (entry.payload["control_id"], entry.payload["target_id"]) == ("ac-6.1", "ac-6.1_obj")

    override = {
        "ar_findings": {
            "fields": {
                "clause_keys": {
                    "from": "control_id",
                    "type": "list",
                    "codes": {"ac-6.1": ["iso27001:2022/A.8.2"]},
                }
            }
        }
    }
    await instances.set_mapping_override(runtime, str(loaded.row.id), override)
    loaded = await instances.load_instance(runtime, str(loaded.row.id))
    report = await replay(runtime, loaded, "ar_findings")
    assert (report.replayed, report.still_failing) == (1, 0)
    assert (await rows(runtime, tenant.slug, Finding))[FINDING].clause_keys == [
        "iso27001:2022/A.8.2"
    ]
    assert await quarantined(runtime, tenant.slug) == []


async def test_risks_scored_from_facets_and_unrated_risk_quarantined(
    runtime: Runtime, make_tenant: Any, make_instance: MakeInstance
) -> None:
    tenant = await make_tenant()
    poam = await make_instance(tenant.slug, str(POAM_FILE), kind="oscal")
    result = await run(runtime, poam, "poam_risks")
    assert (result.counts["created"], result.counts["quarantined"]) == (2, 0)
    risks = await rows(runtime, tenant.slug, Risk)
    accepted, reduced = risks[RISK_1], risks[RISK_2]
    # Facets likelihood "low" and impact "high" on NIST SP 800-30's five-step scale.
    assert [(r.likelihood, r.impact, r.score) for r in (accepted, reduced)] == [(2, 4, 8)] * 2
    assert (accepted.treatment, accepted.status) == (Treatment.ACCEPT, RiskStatus.ACCEPTED)
    assert (reduced.treatment, reduced.status) == (Treatment.REDUCE, RiskStatus.TREATED)
    assert reduced.treatment_plan is not None
    assert reduced.treatment_plan.startswith("The GoodRead Product Team does not have siginficant")
    assert reduced.reference == f"OSCAL-{RISK_2}" and reduced.owner == "unassigned"
    assert reduced.title.startswith("IFA-GOODREAD-RISK-2: GoodRead System Engineers")
    assert "\n\nAn account without proper least privilege" in reduced.description

    # The assessment results' risk has no characterization: no score is made up for it.
    ar = await make_instance(tenant.slug, str(AR_FILE), kind="oscal")
    result = await run(runtime, ar, "ar_risks")
    assert (result.counts["created"], result.counts["quarantined"]) == (0, 1)
    [entry] = await quarantined(runtime, tenant.slug)
    assert entry.external_id == AR_RISK
    assert {(r["field"], r["reason"]) for r in entry.reasons} == {
        ("likelihood", "REQUIRED"),
        ("impact", "REQUIRED"),
    }
    policy = {"ar_risks": {"fields": {"likelihood": {"default": 3}, "impact": {"default": 3}}}}
    await instances.set_mapping_override(runtime, str(ar.row.id), policy)
    ar = await instances.load_instance(runtime, str(ar.row.id))
    report = await replay(runtime, ar, "ar_risks")
    assert (report.replayed, report.still_failing) == (1, 0)
    unrated = (await rows(runtime, tenant.slug, Risk))[AR_RISK]
    assert (unrated.score, unrated.treatment, unrated.status.value) == (9, None, "open")


class Served:
    """One JSON document at ``/doc.json`` that a test changes between runs."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body, self.requests = body, 0

    def app(self) -> Starlette:
        async def document(request: Request) -> JSONResponse:
            self.requests += 1
            return JSONResponse(self.body)

        return Starlette(routes=[Route("/doc.json", document)])

    def touch(self, moment: str) -> None:
        self.body["plan-of-action-and-milestones"]["metadata"]["last-modified"] = moment


@pytest.fixture
def served_poam() -> Iterator[tuple[Served, str]]:
    served = Served(copy.deepcopy(load(POAM_FILE)))
    with ServerThread(served.app()) as server:
        yield served, f"{server.url}/doc.json"


async def test_poam_over_http_modified_document_and_closed_risk(
    runtime: Runtime,
    make_tenant: Any,
    make_instance: MakeInstance,
    served_poam: tuple[Served, str],
) -> None:
    served, url = served_poam
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, url, kind="oscal")
    assert (await run(runtime, loaded, "poam_risks")).counts["created"] == 2

    # An assessment-results stream on a POA&M reads nothing and says why.
    other = await run(runtime, loaded, "ar_findings")
    assert other.counts["fetched"] == 0
    [note] = await run_log(runtime, tenant.slug, other.run_id)
    assert (note["action"], note["model"]) == (
        "skipped: the document is another OSCAL model",
        "plan-of-action-and-milestones",
    )

    # A new version of the document: risk 1's response is now to mitigate, and risk 2 is
    # closed. Risk 1's status follows its new treatment; risk 2 is closed in Accord too.
    risks = served.body["plan-of-action-and-milestones"]["risks"]
    risks[0]["remediations"][0]["props"] = [{"name": "type", "value": "mitigate"}]
    risks[1]["status"] = "closed"
    served.touch("2024-03-01T09:00:00Z")
    changed = await run(runtime, loaded, "poam_risks")
    assert (changed.counts["updated"], changed.counts["unchanged"]) == (2, 0)
    after = await rows(runtime, tenant.slug, Risk)
    assert (after[RISK_1].treatment, after[RISK_1].status) == (
        Treatment.REDUCE,
        RiskStatus.TREATED,
    )
    assert after[RISK_2].status is RiskStatus.CLOSED
    assert served.requests == 3

    # Unchanged since: fetched over HTTP, nothing written.
    assert (await run(runtime, loaded, "poam_risks")).counts == dict.fromkeys(engine.COUNTS, 0)
    assert served.requests == 4

    # A closed risk is final in Accord: a later change from the source is quarantined.
    risks[1]["title"] = "Renamed after closing"
    served.touch("2024-04-01T09:00:00Z")
    late = await run(runtime, loaded, "poam_risks")
    assert (late.counts["quarantined"], late.counts["updated"]) == (1, 0)
    [entry] = await quarantined(runtime, tenant.slug)
    assert [r["reason"] for r in entry.reasons] == ["RISK_CLOSED"]
    risk = (await rows(runtime, tenant.slug, Risk))[RISK_2]
    assert risk.title.startswith("IFA-GOODREAD-RISK-2")
    async with tenant_session(runtime, tenant.slug) as s:
        trail = (
            await s.execute(
                select(EventLogEntry.record_id, EventLogEntry.action)
                .where(EventLogEntry.record_type == "risk")
                .order_by(EventLogEntry.seq)
            )
        ).all()
        assert (await verify_chain(s)).ok
    by_risk = {str(after[RISK_1].id): RISK_1, str(risk.id): RISK_2}
    # A page's changes are logged first, then what the register's rules made of them.
    assert [(by_risk[r], action) for r, action in trail if r in by_risk][2:] == [
        (RISK_1, "risk.source_changed"),
        (RISK_2, "risk.source_changed"),
        (RISK_1, "risk.treated"),
        (RISK_2, "risk.closed"),
    ]


async def test_poam_items_become_capas_linked_to_their_findings(
    runtime: Runtime, make_tenant: Any, make_instance: MakeInstance, tmp_path: Path
) -> None:
    # The NIST POA&M links its items to findings through observations only; this version
    # names the assessment results' finding as its second item's related finding.
    poam = load(POAM_FILE)
    items = poam["plan-of-action-and-milestones"]["poam-items"]
    items[1]["related-findings"] = [{"finding-uuid": FINDING}]
    path = tmp_path / "poam.json"
    path.write_text(json.dumps(poam), encoding="utf-8")
    tenant = await make_tenant()
    capas = await make_instance(tenant.slug, str(path), kind="oscal")
    first = await run(runtime, capas, "poam_items")
    assert (first.counts["created"], first.counts["quarantined"]) == (1, 1)
    [waiting] = await quarantined(runtime, tenant.slug)
    assert waiting.external_id == ITEM_2
    assert [r["reason"] for r in waiting.reasons] == ["UNKNOWN_PARENT"]

    # Once the finding has synced, a replay applies the CAPA, linked, with its clauses;
    # an owner known to the instance gives it its corrective action, due by the deadline.
    findings = await make_instance(tenant.slug, str(AR_FILE), kind="oscal", clause_map=CLAUSE_MAP)
    assert (await run(runtime, findings, "ar_findings")).counts["created"] == 1
    owner = {
        "poam_items": {
            "fields": {
                "owner": {"const": "GoodRead ISSO"},
                "due_at": {"from": "deadline", "type": "date"},
            }
        }
    }
    await instances.set_mapping_override(runtime, str(capas.row.id), owner)
    capas = await instances.load_instance(runtime, str(capas.row.id))
    report = await replay(runtime, capas, "poam_items")
    assert (report.replayed, report.still_failing) == (1, 0)
    async with tenant_session(runtime, tenant.slug) as s:
        by_id = {c.external_id: c for c in (await s.scalars(select(Capa))).all()}
        linked = (
            await s.execute(
                select(capa_findings.c.capa_id, Finding.external_id).join(
                    Finding, Finding.id == capa_findings.c.finding_id
                )
            )
        ).all()
        actions = (await s.scalars(select(CapaAction))).all()
    admin, iam = by_id[ITEM_1], by_id[ITEM_2]
    assert (admin.reference, admin.state.value, admin.clause_keys) == (
        f"OSCAL-{ITEM_1}",
        "planned",
        [],
    )
    assert admin.title == "Update Django Framework Configuration to Disable Default Admin Panel"
    assert iam.clause_keys == CLAUSE_MAP["ac-6.1"]
    assert linked == [(iam.id, FINDING)]
    [action] = actions
    assert (action.capa_id, action.owner, str(action.due_at)) == (
        iam.id,
        "GoodRead ISSO",
        "2023-06-23",
    )
