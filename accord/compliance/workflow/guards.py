"""Who may act on a finding of an audit with a protocol, and what closing needs."""

from __future__ import annotations

from sqlalchemy import (
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.audits.models import Audit, TeamRole
from accord.compliance.audits.protocol.schemas import Governed
from accord.compliance.audits.protocol.service import protocol_for
from accord.compliance.audits.protocol.team import member_tenant, require_member, same_actor
from accord.compliance.capa.models import capa_findings
from accord.compliance.evidence.models import Evidence
from accord.compliance.findings.models import Finding
from accord.compliance.findings.states import FindingState
from accord.platform.errors import Conflict, Forbidden
from accord.platform.eventlog import EventLogEntry


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


async def check_raiser(*, session: AsyncSession, governed: Governed, actor: str) -> None:
    """Findings are raised by the audit team: an in-window (lead) auditor of another tenant."""
    if member_tenant(actor) == governed.audit.audited_tenant:
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
    if member_tenant(actor) != governed.audit.audited_tenant:
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
    if responder is not None and same_actor(responder, actor):
        raise Forbidden(
            "Nobody verifies or closes a finding they responded to.", reason="OWN_RESPONSE"
        )
    tenant = member_tenant(actor)
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
