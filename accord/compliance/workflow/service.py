"""Findings: raise one, then move it through its life cycle (``findings/states.py``).

The caller owns the transaction. Each function checks the transition table and every guard
before it changes anything, so a refused step leaves no row changed and no event appended.
A finding of an audit with an agreed closing protocol also passes the protocol's guards
(``guards``: who raises, responds, verifies and closes, with which evidence) and runs on
its clock (``deadlines``); other findings are untouched by it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.audits.models import Audit, AuditStatus
from accord.compliance.audits.protocol import schemas as protocol_schemas
from accord.compliance.audits.protocol import service as protocol_service
from accord.compliance.capa.models import ActionStatus, CapaAction, capa_findings
from accord.compliance.catalog.service import check_clauses
from accord.compliance.evidence.models import Evidence
from accord.compliance.findings.models import Finding, VerificationResult
from accord.compliance.findings.schemas import FindingIn
from accord.compliance.findings.states import (
    GUARD_FAILURES,
    FindingState,
    Guard,
    transition_for,
)
from accord.compliance.records.day import now
from accord.compliance.records.history import log_change
from accord.compliance.records.inputs import choice, parse_input
from accord.compliance.records.provenance import provenance_of, reject_duplicate
from accord.compliance.workflow import deadlines as protocol_deadlines
from accord.compliance.workflow import guards as protocol_guards
from accord.platform.errors import BadInput, Conflict

_AUDITS_TAKING_FINDINGS = (AuditStatus.IN_PROGRESS, AuditStatus.COMPLETED)


async def raise_finding(
    *, session: AsyncSession, data: FindingIn | Mapping[str, Any], actor: str
) -> Finding:
    """Record a new finding in state ``open``."""
    data = parse_input(FindingIn, data)
    raised_at = data.raised_at or now()
    if data.response_due_at is not None and data.response_due_at < raised_at.astimezone(UTC).date():
        raise BadInput(
            "The response is due before the finding was raised.",
            reason="DUE_BEFORE_RAISED",
            field="response_due_at",
        )
    governed: protocol_schemas.Governed | None = None
    response_due_at = data.response_due_at
    if data.audit_id is not None:
        audit = await session.get(Audit, data.audit_id)
        if audit is None:
            raise BadInput(f"No audit {data.audit_id}.", reason="UNKNOWN_AUDIT", field="audit_id")
        if audit.status not in _AUDITS_TAKING_FINDINGS:
            raise Conflict(
                f"The audit is {audit.status}; findings are raised while it is in progress "
                "or after it completed.",
                reason="AUDIT_NOT_STARTED"
                if audit.status == AuditStatus.PLANNED
                else "AUDIT_CANCELLED",
                field="audit_id",
            )
        agreed = await protocol_service.protocol_for(session=session, audit_id=audit.id)
        if agreed is not None:
            governed = protocol_schemas.Governed(audit, agreed)
            await protocol_guards.check_raiser(session=session, governed=governed, actor=actor)
            latest = protocol_deadlines.response_due(governed, raised_at)
            if response_due_at is not None and response_due_at > latest:
                raise BadInput(
                    f"The agreed protocol has the response due by {latest}.",
                    reason="DUE_AFTER_PROTOCOL",
                    field="response_due_at",
                )
            response_due_at = response_due_at or latest
    await check_clauses(session, data.clause_keys)
    if await session.scalar(select(Finding.id).where(Finding.reference == data.reference)):
        raise Conflict(
            f"A finding {data.reference!r} exists already.",
            reason="DUPLICATE_REFERENCE",
            field="reference",
        )
    await reject_duplicate(session, Finding, data)
    finding = Finding(
        id=uuid.uuid4(),
        audit_id=data.audit_id,
        reference=data.reference,
        title=data.title,
        grade=data.grade,
        severity=data.severity,
        clause_keys=data.clause_keys,
        criteria=data.criteria,
        condition=data.condition,
        cause=data.cause,
        raised_at=raised_at,
        raised_by=data.raised_by or actor,
        owner=data.owner,
        response_due_at=response_due_at,
        state=FindingState.OPEN,
        created_by=actor,
        updated_by=actor,
        **provenance_of(data),
    )
    session.add(finding)
    change = data.model_dump(mode="json", exclude_none=True)
    change.update(raised_at=raised_at, raised_by=finding.raised_by, state=finding.state)
    if governed is not None:
        change["response_due_at"] = response_due_at
    await log_change(session, actor=actor, action="finding.raised", record=finding, change=change)
    if governed is not None:
        await protocol_deadlines.start_clock(session=session, governed=governed, finding=finding)
    return finding


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()


async def _guard_holds(
    session: AsyncSession,
    finding: Finding,
    guard: Guard,
    *,
    reason: str | None,
    response: str | None,
) -> bool:
    linked = select(capa_findings.c.capa_id).where(capa_findings.c.finding_id == finding.id)
    match guard:
        case Guard.RESPONSE_GIVEN:
            return not _blank(response)
        case Guard.REASON_GIVEN:
            return not _blank(reason)
        case Guard.NO_CAPA_REQUIRED:
            return not finding.grade.is_nonconformity
        case Guard.VERIFICATION_PASSED:
            return finding.verification_result is VerificationResult.PASSED
        case Guard.VERIFICATION_FAILED:
            return finding.verification_result is VerificationResult.FAILED
        case Guard.CAPA_LINKED:
            return bool(await session.scalar(select(exists(linked))))
        case Guard.CAPA_ACTIONS_DONE:
            counts = (
                await session.execute(
                    select(
                        func.count(),
                        func.count().filter(CapaAction.status != ActionStatus.DONE),
                    ).where(CapaAction.capa_id.in_(linked))
                )
            ).one()
            return counts[0] > 0 and counts[1] == 0
        case Guard.EVIDENCE_CAPTURED:
            evidence = select(Evidence.id).where(
                or_(Evidence.finding_id == finding.id, Evidence.capa_id.in_(linked)),
                Evidence.captured_at > finding.raised_at,
            )
            return bool(await session.scalar(select(exists(evidence))))
    raise AssertionError(f"unhandled guard {guard}")  # pragma: no cover


async def transition(
    *,
    session: AsyncSession,
    finding: Finding,
    target: FindingState | str,
    actor: str,
    reason: str | None = None,
    response: str | None = None,
) -> Finding:
    """Move ``finding`` to ``target`` if the table allows it and every guard holds.

    ``response`` is required (and recorded) on the way to ``responded``; ``reason`` is
    required to reopen and recorded in the event for any other step.
    """
    target = choice(FindingState, target, field="state")
    await session.refresh(finding, with_for_update=True)
    source = finding.state
    step = transition_for(source, target)
    if step is None:
        raise Conflict(
            f"A finding cannot go from {source} to {target}.",
            reason="INVALID_TRANSITION",
            field="state",
        )
    governed = await protocol_guards.governing(session=session, finding=finding)
    if governed is not None:
        await protocol_guards.check_step(
            session=session, governed=governed, finding=finding, target=target, actor=actor
        )
    for guard in step.guards:
        if not await _guard_holds(session, finding, guard, reason=reason, response=response):
            failure = GUARD_FAILURES[guard]
            error = BadInput if failure.bad_input else Conflict
            raise error(failure.message, reason=failure.reason, field=failure.field)

    at = now()
    change: dict[str, Any] = {"from": source, "to": target}
    if reason:
        change["reason"] = reason.strip()
    if target is FindingState.RESPONDED:
        finding.response = change["response"] = (response or "").strip()
    elif target is FindingState.VERIFICATION:
        finding.verification_result = finding.verified_by = finding.verified_at = None
    elif target is FindingState.CLOSED:
        finding.closed_at, finding.closed_by = at, actor
    elif target is FindingState.REOPENED:
        finding.reopened_reason = (reason or "").strip()
        finding.reopened_at, finding.reopened_by = at, actor
        finding.closed_at = finding.closed_by = None
    finding.state = target
    finding.updated_by = actor
    if governed is not None:
        change.update(
            await protocol_deadlines.after_step(
                session=session, governed=governed, finding=finding, target=target
            )
        )
    await log_change(
        session, actor=actor, action="finding.transition", record=finding, change=change
    )
    return finding


async def respond(*, session: AsyncSession, finding: Finding, actor: str, response: str) -> Finding:
    """The auditee's response (correction, cause, intended action): open/reopened → responded."""
    return await transition(
        session=session,
        finding=finding,
        target=FindingState.RESPONDED,
        actor=actor,
        response=response,
    )


async def reopen(*, session: AsyncSession, finding: Finding, actor: str, reason: str) -> Finding:
    return await transition(
        session=session, finding=finding, target=FindingState.REOPENED, actor=actor, reason=reason
    )


async def record_verification(
    *,
    session: AsyncSession,
    finding: Finding,
    result: VerificationResult | str,
    actor: str,
    at: datetime | None = None,
) -> Finding:
    """The verifier's result; then ``transition`` closes (passed) or returns to capa_planned."""
    result = choice(VerificationResult, result, field="result")
    await session.refresh(finding, with_for_update=True)
    if finding.state is not FindingState.VERIFICATION:
        raise Conflict(
            f"The finding is {finding.state}; a verification is recorded in 'verification'.",
            reason="NOT_IN_VERIFICATION",
            field="state",
        )
    governed = await protocol_guards.governing(session=session, finding=finding)
    if governed is not None:
        await protocol_guards.require_verifier(
            session=session, governed=governed, finding=finding, actor=actor
        )
    finding.verification_result = result
    finding.verified_by, finding.verified_at = actor, at or now()
    finding.updated_by = actor
    await log_change(
        session,
        actor=actor,
        action="finding.verified",
        record=finding,
        change={"result": finding.verification_result, "verified_at": finding.verified_at},
    )
    return finding
