"""Cross-entity CAPA over HTTP, with real tokens of three tenants' users.

globex (second store) owns the findings and the CAPA; its quality manager li plans it
(Responsible). northwind is Accountable: its quality manager maria approves the plan, and
its kai owns one action and completes it from northwind. initech verifies effectiveness:
its tom is Accountable for that (northwind did part of the work, so it may not judge it),
its priya is only Informed. globex shares findings and CAPAs with northwind (full) and
initech (summary). Every refusal comes back with a code, changes nothing and is in
globex's event log.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from accord.compliance.capa import flows as capa_flows
from accord.compliance.mappings import service as mapping_service
from accord.compliance.vocab import MappingStatus, Relationship
from accord.compliance.workflow import service as finding_workflow
from accord.graphql.relay import GlobalId
from accord.platform.clock import today
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.policies import service as policy_service
from accord.tenants.models import Tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, TenantFactory
from tests.factories import raci
from tests.factories.api import payload
from tests.factories.records import FIVE_WHYS, finding_input
from tests.factories.sharing import grant
from tests.graphql.conftest import Api, new_process

Q84, E81 = "iso9001:2015/8.4", "iso14001:2015/8.1"
CAPA_FIELDS = "id tenant level state title effectivenessDueAt effectivenessVerifierTenant"
CREATE = f"""
mutation($input: CreateCapaInput!) {{
  createCapa(input: $input) {{
    capa {{ {CAPA_FIELDS} clauseKeys rootCauseMethod findings {{ id }}
            actions {{ id owner ownerTenant status }} }}
    errors {{ field code reason reasonCode }}
  }}
}}
"""
APPROVE = f"""
mutation($id: ID!, $process: String) {{
  approveCapaPlan(id: $id, process: $process) {{
    capa {{ {CAPA_FIELDS} }}
    errors {{ field code reason reasonCode }}
  }}
}}
"""
COMPLETE = f"""
mutation($capaId: ID!, $actionId: UUID!, $process: String) {{
  completeCapaAction(capaId: $capaId, actionId: $actionId, process: $process) {{
    capa {{ {CAPA_FIELDS} }}
    action {{ id status completedBy level }}
    errors {{ field code reason reasonCode }}
  }}
}}
"""
PLAN = f"""
mutation($id: ID!, $input: PlanEffectivenessCheckInput!, $process: String) {{
  planEffectivenessCheck(id: $id, input: $input, process: $process) {{
    capa {{ {CAPA_FIELDS} }}
    errors {{ field code reason reasonCode }}
  }}
}}
"""
RECORD = f"""
mutation($id: ID!, $result: EffectivenessResult!, $process: String) {{
  recordCapaEffectiveness(id: $id, result: $result, process: $process) {{
    capa {{ {CAPA_FIELDS} effectivenessResult effectivenessCheckedBy closedBy }}
    errors {{ field code reason reasonCode }}
  }}
}}
"""
STATE = "query($id: ID!) { capa(id: $id) { state effectivenessDueAt actions { status } } }"
COVERAGE = """
query($id: ID!, $process: String) {
  capaCoverage(capaId: $id, process: $process) {
    capa { id }
    findings { finding { id reference } coverage clauses { clause coverage } }
  }
}
"""


def capa_matrix(process: str, globex: str, northwind: str, initech: str) -> str:
    globex_qm, northwind_qm = f"role:{globex}/quality_manager", f"role:{northwind}/quality_manager"
    kai, tom, viewer = f"user:{northwind}/kai", f"user:{initech}/tom", f"role:{initech}/viewer"
    return raci.matrix(
        name=f"CAPA {process}",
        process=process,
        owners=[globex],
        activities=[
            raci.Activity("Plan CAPA", "finding", ["propose_capa"]),
            raci.Activity("Plan the check", "capa", ["propose_capa"]),
            raci.Activity("Approve the plan", "capa", ["approve"]),
            raci.Activity("Carry out actions", "capa", ["complete_action"]),
            raci.Activity("Verify effectiveness", "capa", ["verify"]),
        ],
        raci={
            "Plan CAPA": {globex_qm: "R", northwind_qm: "A", viewer: "I"},
            "Plan the check": {globex_qm: "R", northwind_qm: "A"},
            "Approve the plan": {northwind_qm: "A", globex_qm: "C", viewer: "I"},
            "Carry out actions": {globex_qm: "R", kai: "R", northwind_qm: "A"},
            "Verify effectiveness": {tom: "A", globex_qm: "C"},
        },
        parties=[globex_qm, northwind_qm, kai, tom, viewer],
    )


@dataclass(frozen=True)
class CapaNetwork:
    globex: Tenant
    northwind: Tenant
    initech: Tenant
    process: str
    findings: list[str]  # global ids: one under ISO 9001 8.4, one under ISO 14001 8.1
    li: str  # globex quality manager: Responsible, proposes the CAPA
    maria: str  # northwind quality manager: Accountable, approves
    kai: str  # northwind viewer who owns one action
    tom: str  # initech viewer, Accountable for verifying effectiveness
    priya: str  # initech viewer, Informed

    def actor(self, tenant: Tenant, subject: str) -> str:
        return f"user:{tenant.slug}/{subject}"


@pytest.fixture
async def network(api: Api, make_tenant: TenantFactory) -> AsyncIterator[CapaNetwork]:
    globex = await make_tenant(SECOND_STORE, label="gx")
    northwind = await make_tenant(label="nw")
    initech = await make_tenant(label="it")
    for grantee, level in ((northwind, "full"), (initech, "summary")):
        await grant(api.runtime, globex.slug, grantee.slug, level, record_types=["finding", "capa"])
    async with tenant_session(api.runtime, globex.slug) as session:
        raised = [
            await finding_workflow.raise_finding(
                session=session,
                data=finding_input(reference=f"GX-{n}", clause_keys=[key]),
                actor="user:anna.keller",
            )
            for n, key in enumerate((Q84, E81), start=1)
        ]
        # globex's own cross-walk: purchasing control overlaps operational control.
        await mapping_service.add_tenant_mapping(
            session=session,
            actor="user:anna.keller",
            source_key=Q84,
            target_key=E81,
            relationship=Relationship.INTERSECTS,
            status=MappingStatus.APPROVED,
        )
    process = new_process()
    name = await api.import_matrix(capa_matrix(process, globex.slug, northwind.slug, initech.slug))
    yield CapaNetwork(
        globex,
        northwind,
        initech,
        process,
        findings=[str(GlobalId("Finding", globex.slug, f.id).encode()) for f in raised],
        li=await api.sign_in(globex, "li", "quality_manager"),
        maria=await api.sign_in(northwind, "maria", "quality_manager"),
        kai=await api.sign_in(northwind, "kai", "viewer"),
        tom=await api.sign_in(initech, "tom", "viewer"),
        priya=await api.sign_in(initech, "priya", "viewer"),
    )
    async with api.runtime.control_session() as session:
        await policy_service.delete_matrix(session=session, name=name)


def create_input(net: CapaNetwork, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "findingIds": net.findings,
        "process": net.process,
        "reference": "CAPA-GX-1",
        "title": "Restore supplier monitoring",
        "clauseKeys": [Q84],
        "rootCause": FIVE_WHYS,
        "actions": [
            {
                "title": "Re-evaluate the three suppliers",
                "owner": "li",
                "ownerTenant": net.globex.slug,
                "dueAt": str(today() + timedelta(days=14)),
            },
            {
                "title": "Add review dates to the vendor master",
                "owner": "kai",
                "ownerTenant": net.northwind.slug,
                "dueAt": str(today() + timedelta(days=21)),
            },
        ],
    }
    values.update(overrides)
    return values


def codes(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(generic class, typed domain reason) of each error; the deprecated text agrees."""
    assert all(e["reason"] == e["reasonCode"] for e in result["errors"]), result["errors"]
    return [(e["code"], e["reasonCode"]) for e in result["errors"]]


async def refusals(api: Api, slug: str, record: uuid.UUID) -> list[tuple[str, str, str, str]]:
    """(action, actor, attempt, reason) of refused attempts logged against ``record``."""
    async with tenant_session(api.runtime, slug) as session:
        rows = await session.scalars(
            select(EventLogEntry)
            .where(EventLogEntry.record_id == str(record), EventLogEntry.action.like("%.refused"))
            .order_by(EventLogEntry.seq)
        )
        assert (await verify_chain(session)).ok
        return [(e.action, e.actor, e.change["attempt"], e.change["reason"]) for e in rows]


async def test_a_capa_is_planned_approved_done_and_verified_across_three_tenants(
    api: Api, network: CapaNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = network
    globex, northwind = net.globex.slug, net.northwind.slug
    li, maria = net.actor(net.globex, "li"), net.actor(net.northwind, "maria")
    kai, tom = net.actor(net.northwind, "kai"), net.actor(net.initech, "tom")
    priya = net.actor(net.initech, "priya")

    async def call(query: str, name: str, token: str, **variables: Any) -> dict[str, Any]:
        return payload(await api.post(query, variables, token=token), name)

    async def complete(token: str, action: dict[str, Any]) -> dict[str, Any]:
        variables = {"capaId": cid, "actionId": action["id"], "process": net.process}
        return await call(COMPLETE, "completeCapaAction", token, **variables)

    async def plan(token: str, check: dict[str, Any]) -> dict[str, Any]:
        variables = {"id": cid, "input": check, "process": net.process}
        return await call(PLAN, "planEffectivenessCheck", token, **variables)

    async def judge(token: str, process: str | None) -> dict[str, Any]:
        variables = {"id": cid, "result": "EFFECTIVE", "process": process}
        return await call(RECORD, "recordCapaEffectiveness", token, **variables)

    async def state(capa_id: str) -> dict[str, Any]:
        body = await api.post(STATE, {"id": capa_id}, token=net.li)
        found: dict[str, Any] = body["data"]["capa"]
        return found

    # -- planning: by globex's Responsible, in globex's store; an Informed party may not
    refused = await call(CREATE, "createCapa", net.priya, input=create_input(net))
    assert codes(refused) == [("FORBIDDEN", "ACTION_DENIED")]
    created = await call(CREATE, "createCapa", net.li, input=create_input(net))
    assert created["errors"] == []
    capa = created["capa"]
    assert (capa["tenant"], capa["level"], capa["state"], capa["rootCauseMethod"]) == (
        globex,
        "FULL",
        "PLANNED",
        "FIVE_WHYS",
    )
    assert sorted(f["id"] for f in capa["findings"]) == sorted(net.findings)
    actions = {a["ownerTenant"]: a for a in capa["actions"]}
    assert actions[northwind]["owner"] == "kai"
    cid, record = capa["id"], GlobalId.decode(capa["id"], expected="Capa").record_id
    first_finding = GlobalId.decode(net.findings[0], expected="Finding").record_id
    assert await refusals(api, globex, first_finding) == [
        ("finding.refused", priya, "create_capa", "ACTION_DENIED")
    ]

    # -- approval: the Accountable party only, never the proposer, once
    for token, process, reason in (
        (net.li, net.process, ("FORBIDDEN", "ACTION_DENIED")),  # reserved to northwind
        (net.li, None, ("FORBIDDEN", "OWN_PLAN")),  # baseline rights pass; the service not
        (net.priya, net.process, ("FORBIDDEN", "ACTION_DENIED")),
    ):
        attempt = await call(APPROVE, "approveCapaPlan", token, id=cid, process=process)
        assert codes(attempt) == [reason]
    early = await complete(net.kai, actions[northwind])
    assert codes(early) == [("CONFLICT", "PLAN_NOT_APPROVED")]
    assert (await state(cid))["state"] == "PLANNED"

    approved = await call(APPROVE, "approveCapaPlan", net.maria, id=cid, process=net.process)
    assert approved["errors"] == []
    assert (approved["capa"]["state"], approved["capa"]["level"]) == ("APPROVED", "FULL")
    again = await call(APPROVE, "approveCapaPlan", net.maria, id=cid, process=net.process)
    assert codes(again) == [("CONFLICT", "ALREADY_APPROVED")]

    # -- actions: each by its owner, kai from northwind; not by someone else
    for token, action, reason in (
        (net.li, actions[northwind], ("FORBIDDEN", "NOT_ACTION_OWNER")),
        (net.maria, actions[northwind], ("FORBIDDEN", "ACTION_DENIED")),  # A, not R
        (net.kai, actions[globex], ("FORBIDDEN", "NOT_ACTION_OWNER")),
    ):
        assert codes(await complete(token, action)) == [reason]
    assert [a["status"] for a in (await state(cid))["actions"]] == ["OPEN", "OPEN"]
    done = await complete(net.kai, actions[northwind])
    assert done["errors"] == []
    assert done["action"] == {
        "id": actions[northwind]["id"],
        "status": "DONE",
        "completedBy": kai,
        "level": "FULL",
    }
    assert done["capa"]["state"] == "IN_PROGRESS"
    done = await complete(net.li, actions[globex])
    assert done["capa"]["state"] == "IMPLEMENTED"

    # -- the check: due in 30 days, by a party that neither owns the CAPA nor did its work
    def check(tenant: Tenant, subject: str, after_days: int = 30) -> dict[str, Any]:
        return {"afterDays": after_days, "verifierTenant": tenant.slug, "verifierSubject": subject}

    for wrong, bad in (
        (check(net.globex, "ops"), "VERIFIER_IS_OWNER"),
        (check(net.northwind, "maria"), "VERIFIER_NOT_INDEPENDENT"),  # kai did an action
        (check(net.initech, "tom", after_days=0), "OUT_OF_RANGE"),
    ):
        assert codes(await plan(net.li, wrong)) == [("BAD_USER_INPUT", bad)]
    stranger = await plan(net.tom, check(net.initech, "tom"))  # the verifier plans nothing
    assert codes(stranger) == [("FORBIDDEN", "ACTION_DENIED")]
    planned = await plan(net.li, check(net.initech, "tom"))
    assert planned["errors"] == []
    due = today() + timedelta(days=30)
    assert planned["capa"]["state"] == "EFFECTIVENESS_CHECK"
    assert planned["capa"]["effectivenessDueAt"] == str(due)

    # -- effectiveness: the planned verifier only, not the owner, not before it is due
    for token, process, reason in (
        (net.li, net.process, ("FORBIDDEN", "ACTION_DENIED")),  # reserved to initech's tom
        (net.li, None, ("FORBIDDEN", "OWNER_CANNOT_VERIFY")),  # baseline rights pass
        (net.priya, net.process, ("FORBIDDEN", "ACTION_DENIED")),
        (net.tom, net.process, ("CONFLICT", "EFFECTIVENESS_NOT_DUE")),
    ):
        assert codes(await judge(token, process)) == [reason]
    assert (await state(cid))["state"] == "EFFECTIVENESS_CHECK"

    monkeypatch.setattr(capa_flows, "current_day", lambda: due)
    verified = await judge(net.tom, net.process)
    assert verified["errors"] == []
    closed = verified["capa"]
    assert (closed["state"], closed["effectivenessResult"], closed["level"]) == (
        "CLOSED",
        "EFFECTIVE",
        "SUMMARY",
    )
    # initech sees a summary: who checked and closed is personal data, withheld.
    assert (closed["title"], closed["effectivenessCheckedBy"], closed["closedBy"]) == (
        None,
        None,
        None,
    )

    # -- every refusal in globex's log, against the CAPA; the chain verifies
    assert await refusals(api, globex, record) == [
        ("capa.refused", li, "approve_plan", "ACTION_DENIED"),
        ("capa.refused", li, "approve_plan", "OWN_PLAN"),
        ("capa.refused", priya, "approve_plan", "ACTION_DENIED"),
        ("capa.refused", kai, "complete_action", "PLAN_NOT_APPROVED"),
        ("capa.refused", maria, "approve_plan", "ALREADY_APPROVED"),
        ("capa.refused", li, "complete_action", "NOT_ACTION_OWNER"),
        ("capa.refused", maria, "complete_action", "ACTION_DENIED"),
        ("capa.refused", kai, "complete_action", "NOT_ACTION_OWNER"),
        ("capa.refused", li, "plan_effectiveness_check", "VERIFIER_IS_OWNER"),
        ("capa.refused", li, "plan_effectiveness_check", "VERIFIER_NOT_INDEPENDENT"),
        ("capa.refused", li, "plan_effectiveness_check", "OUT_OF_RANGE"),
        ("capa.refused", tom, "plan_effectiveness_check", "ACTION_DENIED"),
        ("capa.refused", li, "record_effectiveness", "ACTION_DENIED"),
        ("capa.refused", li, "record_effectiveness", "OWNER_CANNOT_VERIFY"),
        ("capa.refused", priya, "record_effectiveness", "ACTION_DENIED"),
        ("capa.refused", tom, "record_effectiveness", "EFFECTIVENESS_NOT_DUE"),
    ]
    async with tenant_session(api.runtime, globex) as session:
        steps = await session.scalars(
            select(EventLogEntry)
            .where(
                EventLogEntry.record_id == str(record),
                EventLogEntry.action.not_like("%.refused"),
            )
            .order_by(EventLogEntry.seq)
        )
        history = [(e.action, e.actor, e.change.get("to")) for e in steps]
    assert history == [
        ("capa.created", li, None),
        ("capa.transition", maria, "approved"),
        ("capa.transition", kai, "in_progress"),
        ("capa.action_completed", kai, None),
        ("capa.action_completed", li, None),
        ("capa.transition", li, "implemented"),
        ("capa.effectiveness_planned", li, None),
        ("capa.transition", li, "effectiveness_check"),
        ("capa.effectiveness_recorded", tom, None),
        ("capa.transition", tom, "closed"),
    ]


async def test_coverage_per_finding_under_two_standards_and_strangers_find_nothing(
    api: Api, network: CapaNetwork, make_tenant: TenantFactory
) -> None:
    net = network
    created = payload(
        await api.post(CREATE, {"input": create_input(net)}, token=net.li), "createCapa"
    )
    cid = created["capa"]["id"]

    # ISO 9001 8.4 is the CAPA's own clause; globex maps it onto ISO 14001 8.1 as
    # `intersects`, so the environmental finding is only partly addressed.
    body = await api.post(COVERAGE, {"id": cid, "process": net.process}, token=net.maria)
    assert "errors" not in body, body
    coverage = body["data"]["capaCoverage"]
    assert coverage["capa"]["id"] == cid
    assert [
        (f["finding"]["id"], f["finding"]["reference"], f["coverage"], f["clauses"])
        for f in coverage["findings"]
    ] == [
        (net.findings[0], "GX-1", "FULL", [{"clause": Q84, "coverage": "FULL"}]),
        (net.findings[1], "GX-2", "PARTIAL", [{"clause": E81, "coverage": "PARTIAL"}]),
    ]

    outsider = await make_tenant(label="out")
    token = await api.sign_in(outsider, "eve", "quality_manager")
    hidden = await api.post(COVERAGE, {"id": cid, "process": net.process}, token=token)
    assert [e["extensions"]["reason"] for e in hidden["errors"]] == ["CAPA_NOT_FOUND"]
    attempt = payload(
        await api.post(APPROVE, {"id": cid, "process": net.process}, token=token),
        "approveCapaPlan",
    )
    assert codes(attempt) == [("NOT_FOUND", "CAPA_NOT_FOUND")]
    record = GlobalId.decode(cid, expected="Capa").record_id
    assert await refusals(api, net.globex.slug, record) == []  # no standing: nothing to log
