"""The finding life cycle: every allowed and every forbidden transition, each guard, bad input.

Helpers here (``snapshot``, ``assert_refused``, the input builders and ``arrive``) are shared
with the audit, evidence and CAPA tests.
"""

from __future__ import annotations

import itertools
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.capa import service as capa_service
from accord.compliance.evidence import service as evidence_service
from accord.compliance.findings import service as finding_service
from accord.compliance.findings.models import Finding, VerificationResult
from accord.compliance.findings.schemas import FindingIn
from accord.compliance.findings.states import (
    ALLOWED,
    GUARD_FAILURES,
    TRANSITIONS,
    FindingState,
    Guard,
    Transition,
)
from accord.compliance.workflow import service as finding_workflow
from accord.platform.errors import BadInput, Conflict
from accord.platform.eventlog import verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.models import Tenant
from accord.tenants.sessions import tenant_session
from tests.factories.records import (
    ACTOR,
    AUDITOR,
    RAISED,
    action_input,
    assert_refused,
    capa_input,
    events,
    evidence_input,
    finding_input,
)

pytestmark = pytest.mark.usefixtures("synced_catalog")

# --------------------------------------------------------------------------- helpers


async def satisfy(session: AsyncSession, finding: Finding, guard: Guard) -> dict[str, str]:
    """Make ``guard`` hold for ``finding``; returns the arguments the transition needs."""
    linked = await capa_service.capas_for_finding(session=session, finding=finding)
    match guard:
        case Guard.RESPONSE_GIVEN:
            return {"response": "Correction: records recreated; cause and actions follow."}
        case Guard.REASON_GIVEN:
            return {"reason": "Recurrence found at the follow-up visit."}
        case Guard.NO_CAPA_REQUIRED:
            assert not finding.grade.is_nonconformity
        case Guard.CAPA_LINKED:
            if not linked:
                await capa_service.create_capa(
                    session=session, data=capa_input(finding.id), actor=ACTOR
                )
        case Guard.CAPA_ACTIONS_DONE:
            for capa in linked:
                for action in await capa_service.list_actions(session=session, capa=capa):
                    if action.status != "done":
                        await capa_service.complete_action(
                            session=session, action=action, actor=ACTOR
                        )
        case Guard.EVIDENCE_CAPTURED:
            await evidence_service.add_evidence(
                session=session, data=evidence_input(finding_id=finding.id), actor=ACTOR
            )
        case Guard.VERIFICATION_PASSED | Guard.VERIFICATION_FAILED:
            result = "passed" if guard is Guard.VERIFICATION_PASSED else "failed"
            await finding_workflow.record_verification(
                session=session, finding=finding, result=VerificationResult(result), actor=AUDITOR
            )
    return {}


#: the way from ``open`` to every state; the first allowed step towards each
MAIN_PATH = (
    FindingState.OPEN,
    FindingState.RESPONDED,
    FindingState.CAPA_PLANNED,
    FindingState.CAPA_IMPLEMENTED,
    FindingState.VERIFICATION,
    FindingState.CLOSED,
    FindingState.REOPENED,
)


async def arrive(
    runtime: Runtime, slug: str, state: FindingState, grade: str = "major_nonconformity"
) -> uuid.UUID:
    """A new finding brought to ``state`` through the service, every guard satisfied."""
    async with tenant_session(runtime, slug) as session:
        finding = await finding_workflow.raise_finding(
            session=session, data=finding_input(grade=grade), actor=AUDITOR
        )
        for source, target in itertools.pairwise(MAIN_PATH[: MAIN_PATH.index(state) + 1]):
            kwargs: dict[str, str] = {}
            for guard in ALLOWED[(source, target)].guards:
                kwargs.update(await satisfy(session, finding, guard))
            await finding_workflow.transition(
                session=session, finding=finding, target=target, actor=ACTOR, **kwargs
            )
        assert finding.state is state
        return finding.id


async def load(session: AsyncSession, finding_id: uuid.UUID) -> Finding:
    return await finding_service.get_finding(session=session, finding_id=finding_id)


# --------------------------------------------------------------------------- fixtures


# --------------------------------------------------------------------------- the table

ALL_PAIRS = list(itertools.product(FindingState, FindingState))
FORBIDDEN = [pair for pair in ALL_PAIRS if pair not in ALLOWED]


def test_the_table_names_every_state_and_guard() -> None:
    assert len(ALL_PAIRS) == 49 and len(ALLOWED) == len(TRANSITIONS) == 9
    assert {t.source for t in TRANSITIONS} | {t.target for t in TRANSITIONS} == set(FindingState)
    assert {g for t in TRANSITIONS for g in t.guards} == set(Guard)
    assert all(source != target for source, target in ALLOWED)


@pytest.mark.parametrize(("source", "target"), list(ALLOWED), ids=lambda s: str(s))
async def test_every_allowed_transition_succeeds_and_is_logged(
    runtime: Runtime, tenant: Tenant, source: FindingState, target: FindingState
) -> None:
    step = ALLOWED[(source, target)]
    grade = "observation" if Guard.NO_CAPA_REQUIRED in step.guards else "major_nonconformity"
    finding_id = await arrive(runtime, tenant.slug, source, grade)
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await load(session, finding_id)
        kwargs: dict[str, str] = {}
        for guard in step.guards:
            kwargs.update(await satisfy(session, finding, guard))
        before = len(await events(session, finding_id))
        await finding_workflow.transition(
            session=session, finding=finding, target=target, actor=ACTOR, **kwargs
        )
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await load(session, finding_id)
        log = await events(session, finding_id)
        assert (await verify_chain(session)).ok
    assert finding.state is target
    assert len(log) == before + 1
    assert log[-1].action == "finding.transition" and log[-1].actor == ACTOR
    assert log[-1].change["from"] == source and log[-1].change["to"] == target
    if target is FindingState.CLOSED:
        assert finding.closed_by == ACTOR and finding.closed_at is not None
    if target is FindingState.REOPENED:
        assert finding.reopened_reason and finding.closed_at is None
        assert log[-1].change["reason"] == finding.reopened_reason


@pytest.mark.parametrize(("source", "target"), FORBIDDEN, ids=lambda s: str(s))
async def test_every_forbidden_transition_is_refused_and_writes_nothing(
    runtime: Runtime, tenant: Tenant, source: FindingState, target: FindingState
) -> None:
    finding_id = await arrive(runtime, tenant.slug, source)

    async def attempt(session: AsyncSession) -> object:
        finding = await load(session, finding_id)
        return await finding_workflow.transition(
            session=session,
            finding=finding,
            target=target,
            actor=ACTOR,
            reason="because",
            response="a response",
        )

    await assert_refused(
        runtime, tenant.slug, attempt, error=Conflict, reason="INVALID_TRANSITION", field="state"
    )


GUARD_CASES = [
    pytest.param(step, guard, id=f"{step.source}->{step.target}:{guard}")
    for step in TRANSITIONS
    for guard in step.guards
]


@pytest.mark.parametrize(("step", "guard"), GUARD_CASES)
async def test_each_guard_refuses_when_it_does_not_hold(
    runtime: Runtime, tenant: Tenant, step: Transition, guard: Guard
) -> None:
    """Every other guard of the step holds; this one alone stops it (a major NC throughout)."""
    finding_id = await arrive(runtime, tenant.slug, step.source)
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await load(session, finding_id)
        kwargs: dict[str, str] = {}
        for other in step.guards:
            if other is not guard:
                kwargs.update(await satisfy(session, finding, other))

    async def attempt(session: AsyncSession) -> object:
        finding = await load(session, finding_id)
        return await finding_workflow.transition(
            session=session, finding=finding, target=step.target, actor=ACTOR, **kwargs
        )

    failure = GUARD_FAILURES[guard]
    await assert_refused(
        runtime,
        tenant.slug,
        attempt,
        error=BadInput if failure.bad_input else Conflict,
        reason=failure.reason,
        field=failure.field,
    )


# --------------------------------------------------------------------------- raising


async def test_raising_records_the_finding_and_logs_it(runtime: Runtime, tenant: Tenant) -> None:
    data = finding_input(clause_keys=["iso9001:2015/8.4", "iso14001:2015/8.1", "iso9001:2015/8.4"])
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await finding_workflow.raise_finding(session=session, data=data, actor=AUDITOR)
    async with tenant_session(runtime, tenant.slug) as session:
        stored = await finding_service.get_by_reference(
            session=session, reference=data["reference"]
        )
        log = await events(session, stored.id)
        assert (await verify_chain(session)).ok
    assert stored.id == finding.id and stored.state is FindingState.OPEN
    assert stored.clause_keys == ["iso9001:2015/8.4", "iso14001:2015/8.1"]
    assert stored.raised_by == AUDITOR and stored.raised_at == RAISED
    assert stored.created_by == stored.updated_by == AUDITOR and stored.source_system == "accord"
    assert [e.action for e in log] == ["finding.raised"]
    assert log[0].record_type == "finding" and log[0].change["state"] == "open"
    assert log[0].change["clause_keys"] == stored.clause_keys


def bad(override: dict[str, Any], reason: str, field: str, name: str) -> Any:
    return pytest.param(override, reason, field, id=name)


BAD_FINDINGS = [
    bad({"clause_keys": ["iso9001:2015/99.9"]}, "UNKNOWN_CLAUSE", "clause_keys", "unknown-clause"),
    bad({"clause_keys": ["iso99999:2015/4"]}, "UNKNOWN_STANDARD", "clause_keys", "unknown-std"),
    bad({"clause_keys": ["ISO 9001 8.4"]}, "BAD_CLAUSE_KEY", "clause_keys", "malformed-clause"),
    bad({"clause_keys": []}, "CLAUSES_REQUIRED", "clause_keys", "no-clause"),
    bad({"criteria": None}, "CRITERIA_REQUIRED", "criteria", "nc-without-criteria"),
    bad({"grade": "catastrophe"}, "INVALID_CHOICE", "grade", "bad-grade"),
    bad({"severity": None}, "INVALID_CHOICE", "severity", "no-severity"),
    bad({"title": "   "}, "EMPTY", "title", "blank-title"),
    bad({"condition": None}, "INVALID_VALUE", "condition", "no-condition"),
    bad({"colour": "red"}, "UNKNOWN_FIELD", "colour", "unknown-field"),
    bad({"raised_at": datetime(2026, 1, 5)}, "INVALID_VALUE", "raised_at", "naive-time"),
    bad(
        {"response_due_at": (RAISED - timedelta(days=1)).date()},
        "DUE_BEFORE_RAISED",
        "response_due_at",
        "due-before-raised",
    ),
    bad({"audit_id": uuid.uuid4()}, "UNKNOWN_AUDIT", "audit_id", "unknown-audit"),
    bad({"source_system": "sap"}, "EXTERNAL_ID_REQUIRED", "external_id", "import-without-id"),
    bad({"content_hash": "abc"}, "BAD_HASH", "content_hash", "bad-content-hash"),
]


@pytest.mark.parametrize(("override", "reason", "field"), BAD_FINDINGS)
async def test_bad_finding_input_is_refused_and_writes_nothing(
    runtime: Runtime, tenant: Tenant, override: dict[str, Any], reason: str, field: str
) -> None:
    async def attempt(session: AsyncSession) -> object:
        return await finding_workflow.raise_finding(
            session=session, data=finding_input(**override), actor=AUDITOR
        )

    await assert_refused(runtime, tenant.slug, attempt, error=BadInput, reason=reason, field=field)


async def test_typed_input_is_accepted_as_is(runtime: Runtime, tenant: Tenant) -> None:
    data = FindingIn.model_validate(finding_input(grade="observation", criteria=None))
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await finding_workflow.raise_finding(session=session, data=data, actor=AUDITOR)
    assert finding.reference == data.reference and finding.criteria is None


async def test_a_reference_is_unique(runtime: Runtime, tenant: Tenant) -> None:
    data = finding_input()
    async with tenant_session(runtime, tenant.slug) as session:
        await finding_workflow.raise_finding(session=session, data=data, actor=AUDITOR)

    async def again(session: AsyncSession) -> object:
        return await finding_workflow.raise_finding(session=session, data=data, actor=AUDITOR)

    await assert_refused(
        runtime, tenant.slug, again, error=Conflict, reason="DUPLICATE_REFERENCE", field="reference"
    )


async def test_provenance_is_unique_per_source_system(runtime: Runtime, tenant: Tenant) -> None:
    external = f"QM-{secrets.token_hex(3)}"
    sap = {"source_system": "sap-s4", "external_id": external, "fetched_at": datetime.now(UTC)}
    async with tenant_session(runtime, tenant.slug) as session:
        first = await finding_workflow.raise_finding(
            session=session, data=finding_input(**sap), actor="system:sync"
        )
        # the same number in another system is another record
        await finding_workflow.raise_finding(
            session=session,
            data=finding_input(source_system="dataverse", external_id=external),
            actor="system:sync",
        )

    async def duplicate(session: AsyncSession) -> object:
        return await finding_workflow.raise_finding(
            session=session, data=finding_input(**sap), actor="system:sync"
        )

    error = await assert_refused(
        runtime,
        tenant.slug,
        duplicate,
        error=Conflict,
        reason="DUPLICATE_RECORD",
        field="external_id",
    )
    assert str(first.id) in error.message


# --------------------------------------------------------------------------- the protocol


async def test_observations_and_ofis_close_from_responded_without_capa(
    runtime: Runtime, tenant: Tenant
) -> None:
    for grade in ("observation", "opportunity_for_improvement"):
        finding_id = await arrive(runtime, tenant.slug, FindingState.RESPONDED, grade)
        async with tenant_session(runtime, tenant.slug) as session:
            finding = await load(session, finding_id)
            await finding_workflow.transition(
                session=session, finding=finding, target=FindingState.CLOSED, actor=ACTOR
            )
            assert finding.state is FindingState.CLOSED
            assert not await capa_service.capas_for_finding(session=session, finding=finding)


async def test_a_failed_verification_returns_to_capa_planned_and_the_next_round_starts_clean(
    runtime: Runtime, tenant: Tenant
) -> None:
    finding_id = await arrive(runtime, tenant.slug, FindingState.VERIFICATION)
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await load(session, finding_id)
        await satisfy(session, finding, Guard.VERIFICATION_FAILED)
        await finding_workflow.transition(
            session=session, finding=finding, target=FindingState.CAPA_PLANNED, actor=ACTOR
        )
        (capa,) = await capa_service.capas_for_finding(session=session, finding=finding)
        await capa_service.add_action(session=session, capa=capa, data=action_input(), actor=ACTOR)
        await satisfy(session, finding, Guard.CAPA_ACTIONS_DONE)
        for target in (FindingState.CAPA_IMPLEMENTED, FindingState.VERIFICATION):
            await finding_workflow.transition(
                session=session, finding=finding, target=target, actor=ACTOR
            )
        assert finding.verification_result is None and finding.verified_by is None

    async def stale_failure(session: AsyncSession) -> object:
        finding = await load(session, finding_id)
        return await finding_workflow.transition(
            session=session, finding=finding, target=FindingState.CAPA_PLANNED, actor=ACTOR
        )

    await assert_refused(
        runtime, tenant.slug, stale_failure, error=Conflict, reason="VERIFICATION_NOT_FAILED"
    )


async def test_only_evidence_captured_after_raising_counts_and_capa_evidence_does(
    runtime: Runtime, tenant: Tenant
) -> None:
    finding_id = await arrive(runtime, tenant.slug, FindingState.VERIFICATION)
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await load(session, finding_id)
        await satisfy(session, finding, Guard.VERIFICATION_PASSED)
        # photographed before the audit: it cannot show the correction
        await evidence_service.add_evidence(
            session=session,
            data=evidence_input(finding_id=finding_id, captured_at=RAISED - timedelta(days=3)),
            actor=ACTOR,
        )

    async def close(session: AsyncSession) -> object:
        finding = await load(session, finding_id)
        return await finding_workflow.transition(
            session=session, finding=finding, target=FindingState.CLOSED, actor=ACTOR
        )

    await assert_refused(runtime, tenant.slug, close, error=Conflict, reason="EVIDENCE_REQUIRED")
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await load(session, finding_id)
        (capa,) = await capa_service.capas_for_finding(session=session, finding=finding)
        await evidence_service.add_evidence(
            session=session, data=evidence_input(capa_id=capa.id), actor=ACTOR
        )
        await close(session)
        assert finding.state is FindingState.CLOSED


async def test_reopened_findings_need_a_fresh_response(runtime: Runtime, tenant: Tenant) -> None:
    finding_id = await arrive(runtime, tenant.slug, FindingState.REOPENED)

    async def respond_blank(session: AsyncSession) -> object:
        finding = await load(session, finding_id)
        return await finding_workflow.respond(
            session=session, finding=finding, actor=ACTOR, response="  "
        )

    await assert_refused(
        runtime, tenant.slug, respond_blank, error=BadInput, reason="RESPONSE_REQUIRED"
    )
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await load(session, finding_id)
        await finding_workflow.respond(
            session=session, finding=finding, actor=ACTOR, response="New cause found: shift change."
        )
        log = await events(session, finding_id)
    assert finding.state is FindingState.RESPONDED
    assert finding.response == "New cause found: shift change."
    assert log[-1].change == {
        "from": "reopened",
        "to": "responded",
        "response": "New cause found: shift change.",
    }


@pytest.mark.parametrize("state", [s for s in FindingState if s is not FindingState.VERIFICATION])
async def test_a_verification_is_recorded_only_in_verification(
    runtime: Runtime, tenant: Tenant, state: FindingState
) -> None:
    finding_id = await arrive(runtime, tenant.slug, state)

    async def verify(session: AsyncSession) -> object:
        finding = await load(session, finding_id)
        return await finding_workflow.record_verification(
            session=session, finding=finding, result=VerificationResult.PASSED, actor=AUDITOR
        )

    await assert_refused(
        runtime, tenant.slug, verify, error=Conflict, reason="NOT_IN_VERIFICATION", field="state"
    )


async def test_unknown_targets_and_results_are_bad_input(runtime: Runtime, tenant: Tenant) -> None:
    finding_id = await arrive(runtime, tenant.slug, FindingState.VERIFICATION)

    async def bad_target(session: AsyncSession) -> object:
        finding = await load(session, finding_id)
        return await finding_workflow.transition(
            session=session,
            finding=finding,
            target="archived",
            actor=ACTOR,  # type: ignore[arg-type]
        )

    async def bad_result(session: AsyncSession) -> object:
        finding = await load(session, finding_id)
        return await finding_workflow.record_verification(
            session=session,
            finding=finding,
            result="maybe",
            actor=ACTOR,  # type: ignore[arg-type]
        )

    await assert_refused(
        runtime, tenant.slug, bad_target, error=BadInput, reason="INVALID_CHOICE", field="state"
    )
    await assert_refused(
        runtime, tenant.slug, bad_result, error=BadInput, reason="INVALID_CHOICE", field="result"
    )
