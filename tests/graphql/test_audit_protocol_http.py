"""The joint audit closing protocol over HTTP, with real tokens of three tenants' users.

northwind-like ``lead`` plans and leads the audit at ``audited`` (its records, in the
second store); ``observer`` sends an observer. The audited tenant shares audits and
findings with the lead (full) and the observer (summary); a RACI matrix of the joint
audit's process makes the lead's quality manager Accountable for planning, the audited
tenant's quality manager Responsible for responding and CAPA, and the lead's auditors
Accountable for verifying and closing.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from accord.compliance.audits.protocol.models import AuditNotification, FindingDeadline
from accord.compliance.capa import service as capa_service
from accord.compliance.evidence import service as evidence_service
from accord.compliance.findings import service as finding_service
from accord.compliance.workflow import deadlines as protocol_deadlines
from accord.platform.clock import today
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.policies import service as policy_service
from accord.tenants.models import Tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, TenantFactory
from tests.factories import raci
from tests.factories.api import payload
from tests.factories.audit_api import (
    ADD_MEMBER,
    PLAN,
    RAISE,
    RESPOND,
    TRANSITION,
    VERIFY,
    codes,
    record_id,
)
from tests.factories.records import capa_input, evidence_input
from tests.factories.sharing import grant
from tests.graphql.conftest import Api, new_process

STATE = "query($id: ID!) { finding(id: $id) { state closedBy } }"
HISTORY = "query($id: ID!) { history(id: $id) { actor action change } }"


def joint_audit_matrix(process: str, lead: str, audited: str, observer: str) -> str:
    return raci.joint_audit(
        name=f"Joint audit {process}",
        process=process,
        lead=lead,
        audited=audited,
        observer=observer,
        carry_out_capa=False,
    )


@dataclass(frozen=True)
class JointAuditNetwork:
    lead: Tenant
    audited: Tenant
    observer: Tenant
    process: str
    maria: str  # lead's quality manager, the lead auditor
    jonas: str  # lead's auditor
    li: str  # audited's quality manager, the auditee representative
    priya: str  # observer's viewer


@pytest.fixture
async def network(api: Api, make_tenant: TenantFactory) -> AsyncIterator[JointAuditNetwork]:
    lead = await make_tenant(label="lead")
    audited = await make_tenant(SECOND_STORE, label="audited")
    observer = await make_tenant(label="obs")
    for grantee, level in ((lead, "full"), (observer, "summary")):
        await grant(
            api.runtime, audited.slug, grantee.slug, level, record_types=["audit", "finding"]
        )
    process = new_process()
    name = await api.import_matrix(
        joint_audit_matrix(process, lead.slug, audited.slug, observer.slug)
    )
    yield JointAuditNetwork(
        lead,
        audited,
        observer,
        process,
        maria=await api.sign_in(lead, "maria", "quality_manager"),
        jonas=await api.sign_in(lead, "jonas", "auditor"),
        li=await api.sign_in(audited, "li", "quality_manager"),
        priya=await api.sign_in(observer, "priya", "viewer"),
    )
    async with api.runtime.control_session() as session:
        await policy_service.delete_matrix(session=session, name=name)


def plan_input(net: JointAuditNetwork, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "auditedTenant": net.audited.slug,
        "leadAuditor": "maria",
        "programme": "Supplier quality 2027",
        "title": "Joint audit of the Dayton plant",
        "scope": "Purchasing and operational control",
        "clauseKeys": ["iso9001:2015/8.4", "iso14001:2015/8.1"],
        "windowStart": str(today() - timedelta(days=1)),
        "windowEnd": str(today() + timedelta(days=5)),
        "status": "IN_PROGRESS",
        "protocol": {
            "process": net.process,
            "responseDays": 10,
            "requiredEvidenceTypes": ["application/pdf"],
        },
    }
    values.update(overrides)
    return values


def finding_input(reference: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "reference": reference,
        "title": "Supplier monitoring records missing",
        "grade": "OBSERVATION",
        "severity": "LOW",
        "clauseKeys": ["iso9001:2015/8.4"],
        "condition": "Scorecards exist but are not sent to suppliers.",
        "raisedAt": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
    }
    values.update(overrides)
    return values


async def refusals(api: Api, slug: str, record: uuid.UUID) -> list[tuple[str, str, str]]:
    """(action, actor, reason) of refused attempts logged against ``record``."""
    async with tenant_session(api.runtime, slug) as session:
        rows = await session.scalars(
            select(EventLogEntry)
            .where(EventLogEntry.record_id == str(record), EventLogEntry.action.like("%.refused"))
            .order_by(EventLogEntry.seq)
        )
        assert (await verify_chain(session)).ok
        return [(e.action, e.actor, e.change["reason"]) for e in rows]


async def plan(api: Api, net: JointAuditNetwork, **overrides: Any) -> dict[str, Any]:
    planned = payload(
        await api.post(PLAN, {"input": plan_input(net, **overrides)}, token=net.maria),
        "planJointAudit",
    )
    assert planned["errors"] == []
    audit: dict[str, Any] = planned["audit"]
    return audit


async def add(api: Api, token: str, audit_id: str, **member: Any) -> dict[str, Any]:
    variables = {"auditId": audit_id, "input": member}
    return payload(await api.post(ADD_MEMBER, variables, token=token), "addAuditTeamMember")


async def test_a_joint_audit_closes_by_the_agreed_protocol(
    api: Api, network: JointAuditNetwork
) -> None:
    net = network
    lead, audited, observer = net.lead.slug, net.audited.slug, net.observer.slug

    # -- planning: by the lead, in the audited tenant's store, with the agreed protocol
    for overrides, reason in (({"leadTenant": lead}, "NOT_A_PARTY"), ({}, "ACTION_DENIED")):
        variables = {"input": plan_input(net, **overrides)}
        stranger = payload(await api.post(PLAN, variables, token=net.priya), "planJointAudit")
        assert codes(stranger) == [("FORBIDDEN", reason)]
    audit = await plan(api, net)
    assert (audit["tenant"], audit["leadTenant"], audit["status"]) == (audited, lead, "IN_PROGRESS")
    assert audit["protocol"] == {
        "responseDays": 10,
        "capaPlanDays": 30,
        "verifierTenant": lead,
        "requiredEvidenceTypes": ["application/pdf"],
        "process": net.process,
    }
    assert [(m["tenant"], m["subject"], m["role"]) for m in audit["team"]] == [
        (lead, "maria", "LEAD_AUDITOR")
    ]
    aid, audit_record = audit["id"], record_id(audit["id"])

    # -- the team: members of three tenants; memberships end with the window
    yesterday = str(today() - timedelta(days=1))
    for member in (
        {"tenant": lead, "subject": "jonas", "role": "AUDITOR", "validUntil": yesterday},
        {"tenant": observer, "subject": "priya", "role": "OBSERVER"},
        {"tenant": audited, "subject": "li", "role": "AUDITEE_REPRESENTATIVE"},
    ):
        added = await add(api, net.maria, aid, **member)
        assert added["errors"] == [], added
    assert added["member"]["activeUntil"] == str(today() + timedelta(days=5))
    assert len(added["audit"]["team"]) == 4
    wrong_rep = await add(
        api, net.maria, aid, tenant=lead, subject="x", role="AUDITEE_REPRESENTATIVE"
    )
    assert codes(wrong_rep) == [("BAD_USER_INPUT", "REPRESENTATIVE_NOT_AUDITEE")]
    not_planner = await add(api, net.priya, aid, tenant=observer, subject="y", role="OBSERVER")
    assert codes(not_planner) == [("FORBIDDEN", "ACTION_DENIED")]

    # -- raising: the in-window audit team of another tenant, into the audited store
    for token, reason in (
        (net.priya, ("FORBIDDEN", "ACTION_DENIED")),  # an observer raises nothing
        (net.li, ("FORBIDDEN", "ACTION_DENIED")),  # nor does the auditee
        (net.jonas, ("FORBIDDEN", "MEMBERSHIP_EXPIRED")),  # his membership ended yesterday
    ):
        variables = {"auditId": aid, "input": finding_input("GLX-X")}
        refused = payload(await api.post(RAISE, variables, token=token), "raiseAuditFinding")
        assert codes(refused) == [reason]
    variables = {"auditId": aid, "input": finding_input("GLX-01")}
    raised = payload(await api.post(RAISE, variables, token=net.maria), "raiseAuditFinding")
    assert raised["errors"] == []
    observation = raised["finding"]
    assert (observation["tenant"], observation["state"], observation["raisedBy"]) == (
        audited,
        "OPEN",
        f"user:{lead}/maria",
    )
    assert observation["responseDueAt"] == str(
        (datetime.now(UTC) - timedelta(hours=2)).date() + timedelta(days=10)
    )
    fid = observation["id"]
    linked = await api.post(
        "query($id: ID!) { finding(id: $id) { audit { id } } }", {"id": fid}, token=net.li
    )
    assert linked["data"]["finding"]["audit"] == {"id": aid}, linked
    assert await refusals(api, audited, audit_record) == [
        ("audit.refused", f"user:{lead}/maria", "REPRESENTATIVE_NOT_AUDITEE"),
        ("audit.refused", f"user:{observer}/priya", "ACTION_DENIED"),
        ("audit.refused", f"user:{observer}/priya", "ACTION_DENIED"),
        ("audit.refused", f"user:{audited}/li", "ACTION_DENIED"),
        ("audit.refused", f"user:{lead}/jonas", "MEMBERSHIP_EXPIRED"),
    ]

    # -- the auditee responds (Responsible); it cannot close, with or without the process
    responded = payload(
        await api.post(
            RESPOND, {"id": fid, "response": "Noted.", "process": net.process}, token=net.li
        ),
        "respondToFinding",
    )
    assert responded["errors"] == [] and responded["finding"]["state"] == "RESPONDED"
    # Under the joint audit's process the action gate refuses; without it the auditee's
    # baseline rights pass that gate, and the protocol refuses in the service.
    ops = await api.sign_in(net.audited, "ops", "quality_manager")
    for token, process, reason in (
        (net.li, net.process, "ACTION_DENIED"),
        (net.li, None, "OWN_RESPONSE"),
        (ops, None, "AUDITEE_CANNOT_VERIFY"),
    ):
        variables = {"id": fid, "target": "CLOSED", "process": process}
        closing = payload(await api.post(TRANSITION, variables, token=token), "transitionFinding")
        assert codes(closing) == [("FORBIDDEN", reason)]
    still = await api.post(STATE, {"id": fid}, token=net.li)
    assert still["data"]["finding"] == {"state": "RESPONDED", "closedBy": None}

    # -- the lead verifier closes, with evidence captured after the finding was raised
    async with tenant_session(api.runtime, audited) as session:
        finding = await finding_service.get_finding(session=session, finding_id=record_id(fid))
        stale = evidence_input(
            finding_id=finding.id, captured_at=finding.raised_at - timedelta(minutes=5)
        )
        await evidence_service.add_evidence(session=session, data=stale, actor=f"user:{audited}/li")
    close = {"id": fid, "target": "CLOSED", "process": net.process}
    early = payload(await api.post(TRANSITION, close, token=net.maria), "transitionFinding")
    assert [(e["field"], e["code"], e["reason"]) for e in early["errors"]] == [
        ("evidence", "CONFLICT", "EVIDENCE_REQUIRED")
    ]
    async with tenant_session(api.runtime, audited) as session:
        fresh = evidence_input(finding_id=finding.id)
        await evidence_service.add_evidence(session=session, data=fresh, actor=f"user:{audited}/li")
    closed = payload(await api.post(TRANSITION, close, token=net.maria), "transitionFinding")
    assert closed["errors"] == []
    assert closed["finding"] == {"state": "CLOSED", "closedBy": f"user:{lead}/maria"}

    history = (await api.post(HISTORY, {"id": fid}, token=net.li))["data"]["history"]
    # Every refused closing is in the owner's log too (nothing changed, the attempt kept).
    assert [h["action"] for h in history] == [
        "finding.raised",
        "finding.transition",
        *["finding.refused"] * 4,
        "finding.transition",
    ]
    assert [h["actor"] for h in history[2:6]] == [
        f"user:{audited}/li",
        f"user:{audited}/li",
        f"user:{audited}/ops",
        f"user:{lead}/maria",
    ]
    assert history[-1]["actor"] == f"user:{lead}/maria"


async def test_verifying_by_the_responsible_party_is_refused_and_logged(
    api: Api, network: JointAuditNetwork
) -> None:
    net = network
    lead, audited = net.lead.slug, net.audited.slug
    audit = await plan(api, net)
    variables = {
        "auditId": audit["id"],
        "input": finding_input(
            "GLX-02",
            grade="MAJOR_NONCONFORMITY",
            severity="HIGH",
            criteria="ISO 9001:2015 8.4.1",
        ),
    }
    raised = payload(await api.post(RAISE, variables, token=net.maria), "raiseAuditFinding")
    fid = raised["finding"]["id"]
    li = f"user:{audited}/li"
    respond = {"id": fid, "response": "Cause found.", "process": net.process}
    assert (
        payload(await api.post(RESPOND, respond, token=net.li), "respondToFinding")["errors"] == []
    )
    async with tenant_session(api.runtime, audited) as session:
        finding = await finding_service.get_finding(session=session, finding_id=record_id(fid))
        capa = await capa_service.create_capa(
            session=session, data=capa_input(finding.id), actor=li
        )
    for target in ("CAPA_PLANNED", "CAPA_IMPLEMENTED"):
        if target == "CAPA_IMPLEMENTED":
            async with tenant_session(api.runtime, audited) as session:
                for action in await capa_service.list_actions(session=session, capa=capa):
                    await capa_service.complete_action(session=session, action=action, actor=li)
        moved = payload(
            await api.post(
                TRANSITION, {"id": fid, "target": target, "process": net.process}, token=net.li
            ),
            "transitionFinding",
        )
        assert moved["errors"] == [], moved

    # The auditee starts the verification itself (baseline rights, no process): the
    # protocol refuses — it responded.
    own = payload(
        await api.post(TRANSITION, {"id": fid, "target": "VERIFICATION"}, token=net.li),
        "transitionFinding",
    )
    assert codes(own) == [("FORBIDDEN", "OWN_RESPONSE")]
    started = payload(
        await api.post(
            TRANSITION,
            {"id": fid, "target": "VERIFICATION", "process": net.process},
            token=net.maria,
        ),
        "transitionFinding",
    )
    assert started["finding"]["state"] == "VERIFICATION"

    refused = payload(
        await api.post(VERIFY, {"id": fid, "result": "PASSED"}, token=net.li), "verifyAuditFinding"
    )
    assert codes(refused) == [("FORBIDDEN", "ACTION_DENIED")]
    assert await refusals(api, audited, record_id(fid)) == [
        ("finding.refused", li, "OWN_RESPONSE"),  # the transition above, logged too
        ("finding.refused", li, "ACTION_DENIED"),
    ]
    verified = payload(
        await api.post(VERIFY, {"id": fid, "result": "PASSED"}, token=net.jonas),
        "verifyAuditFinding",
    )
    assert verified["errors"] == []
    assert verified["finding"] == {
        "state": "VERIFICATION",
        "verificationResult": "PASSED",
        "verifiedBy": f"user:{lead}/jonas",
    }


async def test_an_expired_team_raises_nothing_and_overdue_findings_are_flagged(
    api: Api, network: JointAuditNetwork
) -> None:
    net = network
    lead, audited = net.lead.slug, net.audited.slug
    past = await plan(
        api,
        net,
        windowStart=str(today() - timedelta(days=20)),
        windowEnd=str(today() - timedelta(days=15)),
    )
    variables = {"auditId": past["id"], "input": finding_input("GLX-OLD")}
    refused = payload(await api.post(RAISE, variables, token=net.maria), "raiseAuditFinding")
    assert [(e["code"], e["reason"]) for e in refused["errors"]] == [
        ("FORBIDDEN", "MEMBERSHIP_EXPIRED")
    ]
    assert await refusals(api, audited, record_id(past["id"])) == [
        ("audit.refused", f"user:{lead}/maria", "MEMBERSHIP_EXPIRED")
    ]
    async with tenant_session(api.runtime, audited) as session:
        assert (await session.scalars(select(FindingDeadline))).all() == []

    current = await plan(api, net)
    variables = {
        "auditId": current["id"],
        "input": finding_input("GLX-03", grade="MINOR_NONCONFORMITY", criteria="ISO 9001 8.4"),
    }
    raised = payload(await api.post(RAISE, variables, token=net.maria), "raiseAuditFinding")
    fid = record_id(raised["finding"]["id"])
    later = today() + timedelta(days=40)  # past the response (10 days) and CAPA plan (30 days)
    async with tenant_session(api.runtime, audited) as session:
        flags = await protocol_deadlines.flag_overdue(session=session, today=later)
    assert {(f.kind.value, f.recipient) for f in flags} == {
        ("response_overdue", f"user:{lead}/maria"),
        ("capa_plan_overdue", f"user:{lead}/maria"),
    }
    async with tenant_session(api.runtime, audited) as session:
        assert await protocol_deadlines.flag_overdue(session=session, today=later) == []
        sent = (
            await session.scalars(
                select(AuditNotification).where(AuditNotification.finding_id == fid)
            )
        ).all()
    assert sorted((n.kind, n.recipient_tenant) for n in sent) == [
        ("capa_plan_overdue", lead),
        ("response_overdue", lead),
    ]
    history = (await api.post(HISTORY, {"id": raised["finding"]["id"]}, token=net.li))["data"][
        "history"
    ]
    assert [h["action"] for h in history].count("finding.overdue") == 2
