"""The protocol's clock on a finding: deadlines, overdue flags, notifications."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.audits.models import Audit, AuditTeamMember, TeamRole
from accord.compliance.audits.protocol.models import (
    AuditNotification,
    AuditProtocol,
    FindingDeadline,
    OverdueKind,
)
from accord.compliance.audits.protocol.schemas import OVERDUE_ACTOR, Governed, OverdueFlag
from accord.compliance.audits.protocol.team import member_key
from accord.compliance.findings.models import Finding
from accord.compliance.findings.states import FindingState
from accord.compliance.records.day import current_day
from accord.compliance.records.history import log_change
from accord.policies.vocab import role_subject

# --------------------------------------------------------------------------- the clock


async def start_clock(
    *, session: AsyncSession, governed: Governed, finding: Finding
) -> FindingDeadline:
    """The new finding's CAPA-plan deadline (nonconformities); its response deadline is the
    finding's own ``response_due_at``."""
    raised = finding.raised_at.astimezone(UTC).date()
    plan = governed.protocol.capa_plan_days
    deadline = FindingDeadline(
        finding_id=finding.id,
        audit_id=governed.audit.id,
        capa_plan_due_at=raised + timedelta(days=plan) if finding.grade.is_nonconformity else None,
        overdue_kinds=[],
    )
    session.add(deadline)
    return deadline


def response_due(governed: Governed, raised_at: datetime) -> date:
    return raised_at.astimezone(UTC).date() + timedelta(days=governed.protocol.response_days)


async def _deadline(session: AsyncSession, finding: Finding) -> FindingDeadline | None:
    return await session.get(FindingDeadline, finding.id, with_for_update=True)


async def after_step(
    *, session: AsyncSession, governed: Governed, finding: Finding, target: FindingState
) -> dict[str, Any]:
    """Move the clock with the finding; returns what the step's event records of it.

    Reopening restarts the response and CAPA-plan deadlines from today; closing schedules
    the effectiveness re-check when the protocol asks for one.
    """
    deadline = await _deadline(session, finding)
    if deadline is None:  # raised before the protocol was agreed
        deadline = await start_clock(session=session, governed=governed, finding=finding)
    day = current_day()
    extra: dict[str, Any] = {}
    if target is FindingState.REOPENED:
        finding.response_due_at = day + timedelta(days=governed.protocol.response_days)
        if finding.grade.is_nonconformity:
            deadline.capa_plan_due_at = day + timedelta(days=governed.protocol.capa_plan_days)
        extra = {
            "response_due_at": finding.response_due_at,
            "capa_plan_due_at": deadline.capa_plan_due_at,
        }
    elif target is FindingState.CLOSED and governed.protocol.recheck_after_days:
        deadline.recheck_due_at = day + timedelta(days=governed.protocol.recheck_after_days)
        extra = {"recheck_due_at": deadline.recheck_due_at}
    return extra


_RESPONSE_PENDING = (FindingState.OPEN, FindingState.REOPENED)
_PLAN_PENDING = (FindingState.OPEN, FindingState.RESPONDED, FindingState.REOPENED)


def _overdue(finding: Finding, deadline: FindingDeadline, on: date) -> dict[OverdueKind, date]:
    due: dict[OverdueKind, date] = {}
    if (
        finding.state in _RESPONSE_PENDING
        and finding.response_due_at is not None
        and finding.response_due_at < on
    ):
        due[OverdueKind.RESPONSE] = finding.response_due_at
    if (
        finding.grade.is_nonconformity
        and finding.state in _PLAN_PENDING
        and deadline.capa_plan_due_at is not None
        and deadline.capa_plan_due_at < on
    ):
        due[OverdueKind.CAPA_PLAN] = deadline.capa_plan_due_at
    return due


async def accountable_party(*, session: AsyncSession, governed: Governed) -> str:
    """Who answers for the finding's closure: the verifier tenant's lead auditor when the
    verifier leads the audit, else that tenant's quality managers."""
    verifier = governed.verifier
    lead = await session.scalar(
        select(AuditTeamMember).where(
            AuditTeamMember.audit_id == governed.audit.id,
            AuditTeamMember.role == TeamRole.LEAD_AUDITOR,
            AuditTeamMember.tenant == verifier,
        )
    )
    return member_key(lead) if lead is not None else role_subject(verifier, "quality_manager")


_KIND_TEXT = {OverdueKind.RESPONSE: "response", OverdueKind.CAPA_PLAN: "CAPA plan"}


async def flag_overdue(*, session: AsyncSession, today: date) -> list[OverdueFlag]:
    """Flag findings of protocol audits past their response or CAPA-plan deadline.

    For each newly overdue (finding, deadline) an event ``finding.overdue`` and one
    notification for the Accountable party; a finding no longer overdue is unflagged
    (``finding.overdue_cleared``). Running it again the same day changes nothing.
    """
    rows = (
        await session.execute(
            select(Finding, FindingDeadline, AuditProtocol, Audit)
            .join(FindingDeadline, FindingDeadline.finding_id == Finding.id)
            .join(AuditProtocol, AuditProtocol.audit_id == FindingDeadline.audit_id)
            .join(Audit, Audit.id == FindingDeadline.audit_id)
            .where(Finding.deleted_at.is_(None))
            .order_by(Finding.reference)
            .with_for_update(of=FindingDeadline)
        )
    ).all()
    flagged: list[OverdueFlag] = []
    recipients: dict[uuid.UUID, str] = {}
    for finding, deadline, protocol, audit in rows:
        due = _overdue(finding, deadline, today)
        before = {OverdueKind(k) for k in deadline.overdue_kinds}
        if set(due) == before:
            continue
        governed = Governed(audit, protocol)
        if audit.id not in recipients:
            recipients[audit.id] = await accountable_party(session=session, governed=governed)
        recipient = recipients[audit.id]
        for kind in sorted(set(due) - before):
            message = (
                f"Finding {finding.reference} is past its {_KIND_TEXT[kind]} deadline "
                f"({due[kind].isoformat()})."
            )
            await session.execute(
                pg_insert(AuditNotification)
                .values(
                    id=uuid.uuid4(),
                    audit_id=audit.id,
                    finding_id=finding.id,
                    recipient_tenant=governed.verifier,
                    recipient=recipient,
                    kind=kind.value,
                    due_on=due[kind],
                    message=message,
                )
                .on_conflict_do_nothing(index_elements=["finding_id", "kind", "due_on"])
            )
            await log_change(
                session,
                actor=OVERDUE_ACTOR,
                action="finding.overdue",
                record=finding,
                change={"kind": kind, "due_on": due[kind], "notified": recipient},
            )
            flagged.append(OverdueFlag(finding.id, finding.reference, kind, due[kind], recipient))
        if before - set(due):
            await log_change(
                session,
                actor=OVERDUE_ACTOR,
                action="finding.overdue_cleared",
                record=finding,
                change={"kinds": sorted(before - set(due)), "state": finding.state},
            )
        deadline.overdue_kinds = sorted(k.value for k in due)
        deadline.overdue_since = (deadline.overdue_since or today) if due else None
    await session.flush()
    return flagged
