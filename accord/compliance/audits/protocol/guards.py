"""Who may act on a finding of an audit with a protocol, and what closing needs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import (
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.audits.models import Audit, AuditStatus, AuditTeamMember, TeamRole
from accord.compliance.audits.protocol.schemas import Governed
from accord.compliance.audits.protocol.service import protocol_for
from accord.compliance.capa.models import capa_findings
from accord.compliance.evidence.models import Evidence
from accord.compliance.findings.models import Finding
from accord.compliance.findings.states import FindingState
from accord.compliance.records.actors import actor_tenant
from accord.compliance.records.day import current_day
from accord.platform.errors import BadInput, Conflict, Forbidden
from accord.platform.eventlog import EventLogEntry
from accord.policies.vocab import user_subject


def _tenant_of(actor: str) -> str:
    tenant = actor_tenant(actor)
    if tenant is None:
        raise Forbidden(
            f"{actor!r} names no tenant; a joint audit's steps are taken as TENANT/SUBJECT.",
            reason="ACTOR_WITHOUT_TENANT",
        )
    return tenant


def member_key(member: AuditTeamMember) -> str:
    """The member as an actor: ``user:<tenant>/<subject>`` (``user:`` and tenant optional)."""
    bare = member.subject.removeprefix("user:").removeprefix(f"{member.tenant}/")
    return user_subject(member.tenant, bare)


def _same_actor(a: str, b: str) -> bool:
    def norm(value: str) -> str:
        value = value.strip()
        return value if value.startswith("user:") else f"user:{value}"

    return norm(a) == norm(b)


def membership_window(member: AuditTeamMember, audit: Audit) -> tuple[date, date]:
    """The days a member may act: its own validity, never outside the audit window."""
    start = max(member.valid_from or audit.window_start, audit.window_start)
    end = min(member.valid_until or audit.window_end, audit.window_end)
    return start, end


async def governing(*, session: AsyncSession, finding: Finding) -> Governed | None:
    """The audit and agreed protocol ``finding`` is under, or None (no protocol applies)."""
    if finding.audit_id is None:
        return None
    protocol = await protocol_for(session=session, audit_id=finding.audit_id)
    if protocol is None:
        return None
    audit = await session.get(Audit, finding.audit_id)
    assert audit is not None  # the foreign key
    return Governed(audit, protocol)


async def require_member(
    *,
    session: AsyncSession,
    audit: Audit,
    actor: str,
    roles: Iterable[TeamRole],
    on: date | None = None,
) -> AuditTeamMember:
    """The actor's team membership in one of ``roles``, valid ``on`` (default today)."""
    on = on or current_day()
    allowed = frozenset(roles)
    team = await session.scalars(
        select(AuditTeamMember).where(AuditTeamMember.audit_id == audit.id)
    )
    mine = [m for m in team if _same_actor(member_key(m), actor)]
    if not mine:
        raise Forbidden(f"{actor} is not on the audit team.", reason="NOT_ON_TEAM")
    fitting = [m for m in mine if m.role in allowed]
    if not fitting:
        held = ", ".join(sorted(m.role.value for m in mine))
        wanted = ", ".join(sorted(r.value for r in allowed))
        raise Forbidden(
            f"{actor} is {held} on this audit; this needs {wanted}.",
            reason="TEAM_ROLE_NOT_ALLOWED",
        )
    windows = [membership_window(m, audit) for m in fitting]
    for (start, end), member in zip(windows, fitting, strict=True):
        if start <= on <= end:
            return member
    if all(end < on for _, end in windows):
        last = max(end for _, end in windows)
        raise Forbidden(
            f"{actor}'s membership of the audit team ended on {last}.",
            reason="MEMBERSHIP_EXPIRED",
        )
    first = min(start for start, _ in windows)
    raise Forbidden(
        f"{actor}'s membership of the audit team starts on {first}.",
        reason="MEMBERSHIP_NOT_STARTED",
    )


def check_team_member(
    audit: Audit, *, tenant: str, role: TeamRole, window: tuple[date | None, date | None]
) -> None:
    """A team that fits the protocol: the lead from the lead tenant, the auditee's
    representative from the audited one, no auditor from the audited tenant, every
    membership inside the audit window."""
    if role is TeamRole.LEAD_AUDITOR and tenant != audit.lead_tenant:
        raise BadInput(
            f"The lead auditor comes from the lead tenant {audit.lead_tenant}.",
            reason="LEAD_AUDITOR_NOT_LEAD_TENANT",
            field="tenant",
        )
    if role is TeamRole.AUDITEE_REPRESENTATIVE and tenant != audit.audited_tenant:
        raise BadInput(
            f"The auditee representative comes from the audited tenant {audit.audited_tenant}.",
            reason="REPRESENTATIVE_NOT_AUDITEE",
            field="tenant",
        )
    if role is TeamRole.AUDITOR and tenant == audit.audited_tenant:
        raise BadInput(
            "Auditors do not audit their own organisation.",
            reason="AUDITOR_IS_AUDITEE",
            field="tenant",
        )
    start, end = window
    if (start is not None and start < audit.window_start) or (
        end is not None and end > audit.window_end
    ):
        raise BadInput(
            f"Team membership lies inside the audit window {audit.window_start} – "
            f"{audit.window_end}.",
            reason="MEMBERSHIP_OUTSIDE_WINDOW",
            field="valid_until" if end is not None and end > audit.window_end else "valid_from",
        )
    if audit.status is AuditStatus.CANCELLED:
        raise Conflict("The audit is cancelled.", reason="AUDIT_CANCELLED", field="audit_id")


async def check_raiser(*, session: AsyncSession, governed: Governed, actor: str) -> None:
    """Findings are raised by the audit team: an in-window (lead) auditor of another tenant."""
    if _tenant_of(actor) == governed.audit.audited_tenant:
        raise Forbidden(
            "The audited organisation does not raise findings in its own joint audit.",
            reason="RAISER_IS_AUDITEE",
        )
    await require_member(
        session=session,
        audit=governed.audit,
        actor=actor,
        roles=(TeamRole.LEAD_AUDITOR, TeamRole.AUDITOR),
    )


async def responder_of(*, session: AsyncSession, finding: Finding) -> str | None:
    """Who gave the finding's current response (the latest step into ``responded``)."""
    return await session.scalar(
        select(EventLogEntry.actor)
        .where(
            EventLogEntry.record_type == Finding.record_type,
            EventLogEntry.record_id == str(finding.id),
            EventLogEntry.action == "finding.transition",
            EventLogEntry.change["to"].astext == FindingState.RESPONDED.value,
        )
        .order_by(EventLogEntry.seq.desc())
        .limit(1)
    )


def require_auditee(governed: Governed, *, actor: str) -> None:
    """Responding and planning CAPA are the audited tenant's work (Responsible)."""
    if _tenant_of(actor) != governed.audit.audited_tenant:
        raise Forbidden(
            f"Only {governed.audit.audited_tenant} (the audited organisation) responds to and "
            "plans corrective action for this finding.",
            reason="NOT_AUDITEE",
        )


async def require_verifier(
    *, session: AsyncSession, governed: Governed, finding: Finding, actor: str
) -> None:
    """Verifying and closing are the Accountable verifier's: another tenant than the
    auditee, never the person who responded."""
    responder = await responder_of(session=session, finding=finding)
    if responder is not None and _same_actor(responder, actor):
        raise Forbidden(
            "Nobody verifies or closes a finding they responded to.", reason="OWN_RESPONSE"
        )
    tenant = _tenant_of(actor)
    if tenant == governed.audit.audited_tenant:
        raise Forbidden(
            "The audited organisation does not verify or close its own finding.",
            reason="AUDITEE_CANNOT_VERIFY",
        )
    if tenant != governed.verifier:
        raise Forbidden(
            f"Under the agreed protocol {governed.verifier} verifies and closes this finding.",
            reason="NOT_THE_VERIFIER",
        )


def _matches(media_type: str, wanted: str) -> bool:
    if wanted.endswith("/*"):
        return media_type.split("/", 1)[0] == wanted[:-2]
    return media_type == wanted


async def require_closing_evidence(
    *, session: AsyncSession, governed: Governed, finding: Finding
) -> None:
    """Evidence captured after the raising, of every type the protocol requires."""
    linked = select(capa_findings.c.capa_id).where(capa_findings.c.finding_id == finding.id)
    types = set(
        await session.scalars(
            select(Evidence.media_type).where(
                or_(Evidence.finding_id == finding.id, Evidence.capa_id.in_(linked)),
                Evidence.captured_at > finding.raised_at,
            )
        )
    )
    if not types:
        raise Conflict(
            "Closing needs evidence captured after the finding was raised.",
            reason="EVIDENCE_REQUIRED",
            field="evidence",
        )
    missing = [
        wanted
        for wanted in governed.protocol.required_evidence_types
        if not any(_matches(t, wanted) for t in types)
    ]
    if missing:
        raise Conflict(
            f"The protocol requires evidence of type {', '.join(missing)} captured after "
            "the finding was raised.",
            reason="EVIDENCE_TYPE_MISSING",
            field="evidence",
        )


_AUDITEE_STEPS = frozenset(
    {FindingState.RESPONDED, FindingState.CAPA_PLANNED, FindingState.CAPA_IMPLEMENTED}
)


async def check_step(
    *, session: AsyncSession, governed: Governed, finding: Finding, target: FindingState, actor: str
) -> None:
    """Whether ``actor`` may take ``finding`` to ``target`` under the protocol."""
    if target in _AUDITEE_STEPS:
        require_auditee(governed, actor=actor)
        return
    await require_verifier(session=session, governed=governed, finding=finding, actor=actor)
    if target is FindingState.CLOSED:
        await require_closing_evidence(session=session, governed=governed, finding=finding)
