"""Findings follow their CAPA: verified effective, the finding closes by itself; found not
effective, it goes back to CAPA planning; closing by hand waits for the CAPA's check."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.capa import flows as capa_flows
from accord.compliance.capa import service as capa_service
from accord.compliance.capa.states import CapaState
from accord.compliance.evidence import service as evidence_service
from accord.compliance.findings import service as finding_service
from accord.compliance.findings.models import Finding, VerificationResult
from accord.compliance.findings.states import FindingState
from accord.compliance.workflow import follow
from accord.compliance.workflow import service as finding_workflow
from accord.platform.clock import today
from accord.platform.errors import Conflict
from accord.platform.eventlog import verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.models import Tenant
from accord.tenants.sessions import tenant_session
from tests.factories.records import (
    AUDITOR,
    FIVE_WHYS,
    action_input,
    capa_input,
    events,
    evidence_input,
    finding_input,
)

pytestmark = pytest.mark.usefixtures("synced_catalog")

TOM = "user:initech/tom"  # the planned verifier, of another tenant
S = FindingState


def of(tenant: Tenant, subject: str) -> str:
    return f"user:{tenant.slug}/{subject}"


async def in_check(
    runtime: Runtime,
    tenant: Tenant,
    state: FindingState,
    *,
    evidence: bool = True,
    closed_first: bool = False,
) -> tuple[uuid.UUID, uuid.UUID]:
    """A major nonconformity brought to ``state`` and its CAPA, done and in its
    effectiveness check (due tomorrow, by initech's tom); with ``closed_first`` the
    finding was closed before the check was planned. (finding id, CAPA id)"""
    li = of(tenant, "li")
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await finding_workflow.raise_finding(
            session=session, data=finding_input(grade="major_nonconformity"), actor=AUDITOR
        )
        await finding_workflow.respond(
            session=session, finding=finding, actor=li, response="Records recreated."
        )
        data = capa_input(
            finding.id,
            root_cause=FIVE_WHYS,
            actions=[action_input(owner="li", owner_tenant=tenant.slug)],
        )
        capa = await capa_service.create_capa(session=session, data=data, actor=li)
        await finding_workflow.transition(
            session=session, finding=finding, target=S.CAPA_PLANNED, actor=li
        )
        await capa_flows.approve_plan(session=session, capa=capa, actor=of(tenant, "maria"))
        for action in await capa_service.list_actions(session=session, capa=capa):
            await capa_flows.complete_action_as(session=session, action=action, actor=li)
        if evidence:
            await evidence_service.add_evidence(
                session=session, data=evidence_input(finding_id=finding.id), actor=li
            )

        async def walk_to(end: FindingState) -> None:
            for target in (S.CAPA_IMPLEMENTED, S.VERIFICATION, S.CLOSED):
                if finding.state is end:
                    break
                if target is S.CLOSED:
                    await finding_workflow.record_verification(
                        session=session, finding=finding, result="passed", actor=AUDITOR
                    )
                await finding_workflow.transition(
                    session=session, finding=finding, target=target, actor=AUDITOR
                )

        if closed_first:
            await walk_to(S.CLOSED)
        check = {"after_days": 1, "verifier": {"tenant": "initech", "subject": "tom"}}
        await capa_flows.plan_effectiveness_check(
            session=session, capa=capa, owner=tenant.slug, check=check, actor=li
        )
        assert capa.state is CapaState.EFFECTIVENESS_CHECK
        await walk_to(state)
        assert finding.state is state
        return finding.id, capa.id


async def judge(runtime: Runtime, tenant: Tenant, capa_id: uuid.UUID, result: str) -> None:
    async with tenant_session(runtime, tenant.slug) as session:
        capa = await capa_service.get_capa(session=session, capa_id=capa_id)
        await follow.record_effectiveness(
            session=session,
            capa=capa,
            owner=tenant.slug,
            result=result,
            actor=TOM,
            today=today() + timedelta(days=1),
        )


async def load(session: AsyncSession, finding_id: uuid.UUID) -> Finding:
    return await finding_service.get_finding(session=session, finding_id=finding_id)


@pytest.mark.parametrize("start", [S.CAPA_PLANNED, S.CAPA_IMPLEMENTED, S.VERIFICATION])
async def test_a_capa_verified_effective_closes_its_finding_by_itself(
    runtime: Runtime, tenant: Tenant, start: FindingState
) -> None:
    finding_id, capa_id = await in_check(runtime, tenant, start)
    await judge(runtime, tenant, capa_id, "effective")
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await load(session, finding_id)
        capa = await capa_service.get_capa(session=session, capa_id=capa_id)
        log = await events(session, finding_id)
        assert (await verify_chain(session)).ok
    assert capa.state is CapaState.CLOSED
    assert (finding.state, finding.verification_result) == (S.CLOSED, VerificationResult.PASSED)
    assert (finding.verified_by, finding.closed_by) == (TOM, TOM)
    followed = [e for e in log if e.actor == TOM]
    path = [S.CAPA_PLANNED, S.CAPA_IMPLEMENTED, S.VERIFICATION]
    expected = [("finding.transition", t) for t in path[path.index(start) + 1 :]]
    expected += [("finding.verified", None), ("finding.transition", S.CLOSED)]
    assert [(e.action, e.change.get("to")) for e in followed] == expected
    assert {e.change.get("reason") for e in followed if "reason" in e.change} == {
        f"CAPA {capa.reference} verified effective."
    }


@pytest.mark.parametrize("start", [S.CAPA_IMPLEMENTED, S.VERIFICATION])
async def test_a_capa_found_not_effective_sends_its_finding_back(
    runtime: Runtime, tenant: Tenant, start: FindingState
) -> None:
    finding_id, capa_id = await in_check(runtime, tenant, start)
    await judge(runtime, tenant, capa_id, "not_effective")
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await load(session, finding_id)
        capa = await capa_service.get_capa(session=session, capa_id=capa_id)
        log = await events(session, finding_id)
    assert capa.state is CapaState.IN_PROGRESS
    assert (finding.state, finding.verification_result) == (
        S.CAPA_PLANNED,
        VerificationResult.FAILED,
    )
    assert [(e.action, e.change.get("to")) for e in log if e.actor == TOM][-2:] == [
        ("finding.verified", None),
        ("finding.transition", S.CAPA_PLANNED),
    ]


async def test_without_evidence_the_finding_stops_before_closing_and_the_judgement_stands(
    runtime: Runtime, tenant: Tenant
) -> None:
    finding_id, capa_id = await in_check(runtime, tenant, S.VERIFICATION, evidence=False)
    await judge(runtime, tenant, capa_id, "effective")
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await load(session, finding_id)
        capa = await capa_service.get_capa(session=session, capa_id=capa_id)
        assert capa.state is CapaState.CLOSED
        assert (finding.state, finding.verification_result) == (
            S.VERIFICATION,
            VerificationResult.PASSED,
        )
        # People take it on from there: with evidence filed, closing by hand goes through.
        await evidence_service.add_evidence(
            session=session, data=evidence_input(finding_id=finding.id), actor=AUDITOR
        )
        await finding_workflow.transition(
            session=session, finding=finding, target=S.CLOSED, actor=AUDITOR
        )
        assert finding.state is S.CLOSED


async def test_closing_by_hand_waits_for_the_capa_check(runtime: Runtime, tenant: Tenant) -> None:
    finding_id, capa_id = await in_check(runtime, tenant, S.VERIFICATION)
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await load(session, finding_id)
        await finding_workflow.record_verification(
            session=session, finding=finding, result=VerificationResult.PASSED, actor=AUDITOR
        )
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await load(session, finding_id)
        with pytest.raises(Conflict) as refused:
            await finding_workflow.transition(
                session=session, finding=finding, target=S.CLOSED, actor=AUDITOR
            )
    assert (refused.value.reason, refused.value.field) == ("CAPA_NOT_EFFECTIVE", "capa")
    await judge(runtime, tenant, capa_id, "effective")
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await load(session, finding_id)
    # The auditor's passed verification stands; the CAPA's judgement closes the finding.
    assert (finding.state, finding.verified_by, finding.closed_by) == (S.CLOSED, AUDITOR, TOM)


async def test_a_finding_closed_before_its_capa_failed_is_reopened(
    runtime: Runtime, tenant: Tenant
) -> None:
    finding_id, capa_id = await in_check(runtime, tenant, S.CLOSED, closed_first=True)
    await judge(runtime, tenant, capa_id, "not_effective")
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await load(session, finding_id)
        log = await events(session, finding_id)
    assert finding.state is S.REOPENED
    assert finding.reopened_reason is not None and "not effective" in finding.reopened_reason
    assert (log[-1].action, log[-1].actor, log[-1].change["to"]) == (
        "finding.transition",
        TOM,
        S.REOPENED,
    )
