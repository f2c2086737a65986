"""Who is on a joint audit's team, when, and in which role the protocol admits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import (
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.audits.models import Audit, AuditStatus, AuditTeamMember, TeamRole
from accord.compliance.records.actors import actor_tenant
from accord.compliance.records.day import current_day
from accord.platform.errors import BadInput, Conflict, Forbidden
from accord.policies.vocab import user_subject


def member_tenant(actor: str) -> str:
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


def same_actor(a: str, b: str) -> bool:
    def norm(value: str) -> str:
        value = value.strip()
        return value if value.startswith("user:") else f"user:{value}"

    return norm(a) == norm(b)


def membership_window(member: AuditTeamMember, audit: Audit) -> tuple[date, date]:
    """The days a member may act: its own validity, never outside the audit window."""
    start = max(member.valid_from or audit.window_start, audit.window_start)
    end = min(member.valid_until or audit.window_end, audit.window_end)
    return start, end


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
    mine = [m for m in team if same_actor(member_key(m), actor)]
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
