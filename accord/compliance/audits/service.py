"""Audits: plan one, staff its team, move it through its status. Callers own the transaction.

Every function validates everything before it writes, so a failure leaves the session as it
found it (no row, no event) even if the caller catches the error and commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.audits.models import Audit, AuditStatus, AuditTeamMember, TeamRole
from accord.compliance.audits.protocol import service as protocol_service
from accord.compliance.audits.protocol import team as protocol_team
from accord.compliance.audits.schemas import AuditIn, TeamMemberIn
from accord.compliance.catalog.service import check_clauses
from accord.compliance.records.history import log_change
from accord.compliance.records.inputs import choice, parse_input
from accord.compliance.records.provenance import provenance_of, reject_duplicate
from accord.platform.errors import Conflict, NotFound

#: status -> statuses it may move to; completed and cancelled are final.
AUDIT_TRANSITIONS: Mapping[AuditStatus, frozenset[AuditStatus]] = {
    AuditStatus.PLANNED: frozenset({AuditStatus.IN_PROGRESS, AuditStatus.CANCELLED}),
    AuditStatus.IN_PROGRESS: frozenset({AuditStatus.COMPLETED, AuditStatus.CANCELLED}),
    AuditStatus.COMPLETED: frozenset(),
    AuditStatus.CANCELLED: frozenset(),
}


async def create_audit(
    *, session: AsyncSession, data: AuditIn | Mapping[str, Any], actor: str
) -> Audit:
    """Plan an audit of ``audited_tenant`` against clauses of one or more standards."""
    data = parse_input(AuditIn, data)
    await check_clauses(session, data.clause_keys)
    await reject_duplicate(session, Audit, data)
    audit = Audit(
        id=uuid.uuid4(),
        programme=data.programme,
        type=data.type,
        title=data.title,
        scope=data.scope,
        clause_keys=data.clause_keys,
        lead_tenant=data.lead_tenant,
        audited_tenant=data.audited_tenant,
        window_start=data.window_start,
        window_end=data.window_end,
        status=data.status,
        created_by=actor,
        updated_by=actor,
        **provenance_of(data),
    )
    session.add(audit)
    await log_change(
        session,
        actor=actor,
        action="audit.created",
        record=audit,
        change=data.model_dump(mode="json", exclude_none=True),
    )
    return audit


async def get_audit(*, session: AsyncSession, audit_id: uuid.UUID) -> Audit:
    audit = await session.get(Audit, audit_id)
    if audit is None:
        raise NotFound(f"No audit {audit_id}.", reason="AUDIT_NOT_FOUND", field="audit_id")
    return audit


async def list_team(*, session: AsyncSession, audit: Audit) -> Sequence[AuditTeamMember]:
    return (
        await session.scalars(
            select(AuditTeamMember)
            .where(AuditTeamMember.audit_id == audit.id)
            .order_by(AuditTeamMember.role, AuditTeamMember.tenant, AuditTeamMember.subject)
        )
    ).all()


async def add_team_member(
    *,
    session: AsyncSession,
    audit: Audit,
    data: TeamMemberIn | Mapping[str, Any],
    actor: str,
) -> AuditTeamMember:
    """Add a member (of any partner tenant); an audit has at most one lead auditor.

    Under an agreed closing protocol the team must also fit it
    (``protocol.team.check_team_member``).
    """
    data = parse_input(TeamMemberIn, data)
    if await protocol_service.protocol_for(session=session, audit_id=audit.id) is not None:
        protocol_team.check_team_member(
            audit, tenant=data.tenant, role=data.role, window=(data.valid_from, data.valid_until)
        )
    team = await list_team(session=session, audit=audit)
    if any((m.tenant, m.subject, m.role) == (data.tenant, data.subject, data.role) for m in team):
        raise Conflict(
            f"{data.tenant}/{data.subject} is already {data.role} on this audit.",
            reason="TEAM_MEMBER_EXISTS",
            field="subject",
        )
    if data.role is TeamRole.LEAD_AUDITOR and any(m.role is TeamRole.LEAD_AUDITOR for m in team):
        raise Conflict(
            "The audit already has a lead auditor.", reason="LEAD_AUDITOR_EXISTS", field="role"
        )
    await reject_duplicate(session, AuditTeamMember, data)
    member = AuditTeamMember(
        id=uuid.uuid4(),
        audit_id=audit.id,
        tenant=data.tenant,
        subject=data.subject,
        role=data.role,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
        created_by=actor,
        updated_by=actor,
        **provenance_of(data),
    )
    session.add(member)
    await log_change(
        session,
        actor=actor,
        action="audit.team_member_added",
        record=audit,
        change={"member_id": member.id, **data.model_dump(mode="json", exclude_none=True)},
    )
    return member


async def set_audit_status(
    *, session: AsyncSession, audit: Audit, target: AuditStatus | str, actor: str
) -> Audit:
    """planned → in_progress → completed; planned or in_progress → cancelled."""
    target = choice(AuditStatus, target, field="status")
    await session.refresh(audit, with_for_update=True)
    source = audit.status
    if target not in AUDIT_TRANSITIONS[source]:
        raise Conflict(
            f"An audit cannot go from {source} to {target}.",
            reason="INVALID_TRANSITION",
            field="status",
        )
    audit.status = target
    audit.updated_by = actor
    await log_change(
        session,
        actor=actor,
        action="audit.transition",
        record=audit,
        change={"from": source, "to": audit.status},
    )
    return audit
