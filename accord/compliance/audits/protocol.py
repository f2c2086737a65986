"""The agreed closing protocol of a joint audit, and the guards the finding workflow obeys.

A protocol is agreed when a joint audit is planned and stored with the audit in the
audited tenant's schema: the programme's default (``define_programme_protocol``), with
the plan's own choices on top.

===========================  =================================================================
``response_days``            the auditee responds within this many days of the raising
``capa_plan_days``           a nonconformity has its CAPA planned within this many days
``verifier_tenant``          whose Accountable party verifies and closes (default: the lead)
``required_evidence_types``  media types (``application/pdf``, ``image/*``) closing needs
``recheck_after_days``       closing schedules an effectiveness re-check this much later
``process``                  the shared process (RACI matrix) acting on the audit's records
===========================  =================================================================

``findings.service`` asks these guards about every finding of an audit that has a
protocol (other findings behave as before):

* raising: an in-window lead auditor or auditor of another tenant than the audited one;
* responding, planning and implementing CAPA: the audited tenant (its Responsible party,
  its auditee representative);
* verifying, closing, reopening: the verifier tenant — never the audited one, never the
  person who responded; closing also needs evidence of every required type captured
  after the finding was raised. Reopening needs a reason (the state machine's guard).

Team membership runs from ``valid_from`` (default: the window's start) to ``valid_until``
(default: its end) and never outside the window, so it expires by itself.

Refusals raise with a reason and change nothing: the caller's transaction rolls back, so
the caller writes the attempt with ``records.refusals.record_refusal`` in a transaction of
its own.
``flag_overdue`` marks findings past a deadline and notifies the Accountable party.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar

from pydantic import Field, ValidationInfo, field_validator
from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from accord.compliance.audits.models import Audit, AuditStatus, AuditTeamMember, TeamRole
from accord.compliance.capa.models import capa_findings
from accord.compliance.evidence.models import Evidence
from accord.compliance.findings.models import Finding
from accord.compliance.findings.states import FindingState
from accord.compliance.records.actors import actor_tenant
from accord.compliance.records.day import current_day
from accord.compliance.records.history import log_change
from accord.compliance.records.inputs import (
    InputModel,
    NonEmpty,
    custom_error,
    parse_input,
    tenant_slug,
)
from accord.compliance.records.models import RecordMixin, enum_check
from accord.platform.db import TenantBase
from accord.platform.errors import BadInput, Conflict, Forbidden
from accord.platform.eventlog import EventLogEntry
from accord.policies.vocab import is_slug, role_subject, user_subject

#: Who flags overdue findings in the event log.
OVERDUE_ACTOR = "system:audit-protocol"
_EVIDENCE_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/(\*|[a-z0-9][a-z0-9!#$&^_.+-]*)$")

# --------------------------------------------------------------------------- tables


class AuditProtocol(RecordMixin, TenantBase):
    """A programme's default protocol (``audit_id`` null) or the one agreed for an audit."""

    __tablename__ = "audit_protocols"
    __table_args__ = (
        UniqueConstraint("source_system", "external_id"),
        UniqueConstraint("audit_id"),
        Index(
            "uq_audit_protocols_programme_default",
            "programme",
            unique=True,
            postgresql_where=text("audit_id IS NULL"),
        ),
        CheckConstraint("response_days BETWEEN 1 AND 365", name="response_days_range"),
        CheckConstraint(
            "capa_plan_days BETWEEN response_days AND 730", name="capa_plan_days_range"
        ),
        CheckConstraint(
            "recheck_after_days IS NULL OR recheck_after_days BETWEEN 1 AND 1095",
            name="recheck_after_days_range",
        ),
    )
    __mapper_args__ = MappingProxyType({"eager_defaults": True})
    record_type: ClassVar[str] = "audit_protocol"

    audit_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("audits.id", ondelete="CASCADE")
    )
    programme: Mapped[str] = mapped_column(Text)
    response_days: Mapped[int] = mapped_column(Integer)
    capa_plan_days: Mapped[int] = mapped_column(Integer)
    #: null only on a programme default (then: the lead tenant of each audit)
    verifier_tenant: Mapped[str | None] = mapped_column(Text)
    required_evidence_types: Mapped[list[str]] = mapped_column(ARRAY(Text))
    recheck_after_days: Mapped[int | None] = mapped_column(Integer)
    process: Mapped[str | None] = mapped_column(Text)


class OverdueKind(StrEnum):
    RESPONSE = "response_overdue"
    CAPA_PLAN = "capa_plan_overdue"


class FindingDeadline(TenantBase):
    """The protocol's clock on one finding: deadlines, overdue flag, effectiveness re-check."""

    __tablename__ = "audit_finding_deadlines"
    __table_args__ = (Index("ix_audit_finding_deadlines_audit_id", "audit_id"),)

    finding_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("findings.id", ondelete="CASCADE"), primary_key=True
    )
    audit_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("audits.id", ondelete="CASCADE")
    )
    capa_plan_due_at: Mapped[date | None] = mapped_column(Date)
    recheck_due_at: Mapped[date | None] = mapped_column(Date)
    overdue_since: Mapped[date | None] = mapped_column(Date)
    overdue_kinds: Mapped[list[str]] = mapped_column(
        ARRAY(Text), default=list, server_default=text("'{}'")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class AuditNotification(TenantBase):
    """A notice to the Accountable party (a party key such as ``user:northwind/maria``)."""

    __tablename__ = "audit_notifications"
    __table_args__ = (
        UniqueConstraint("finding_id", "kind", "due_on"),
        enum_check("kind", OverdueKind),
        Index("ix_audit_notifications_recipient_tenant", "recipient_tenant"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    audit_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("audits.id", ondelete="CASCADE")
    )
    finding_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("findings.id", ondelete="CASCADE")
    )
    recipient_tenant: Mapped[str] = mapped_column(Text)
    recipient: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    due_on: Mapped[date] = mapped_column(Date)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# --------------------------------------------------------------------------- input


class ProtocolIn(InputModel):
    """The protocol's terms; fields left out come from the programme's default."""

    response_days: int = Field(default=14, ge=1, le=365)
    capa_plan_days: int = Field(default=30, ge=1, le=730)
    verifier_tenant: str | None = None
    required_evidence_types: list[str] = Field(default_factory=list)
    recheck_after_days: int | None = Field(default=None, ge=1, le=1095)
    process: str | None = None

    @field_validator("capa_plan_days")
    @classmethod
    def _plan_after_response(cls, value: int, info: ValidationInfo) -> int:
        response = info.data.get("response_days")
        if response is not None and value < response:
            raise custom_error(
                "CAPA_BEFORE_RESPONSE", "the CAPA plan cannot be due before the response"
            )
        return value

    @field_validator("verifier_tenant")
    @classmethod
    def _verifier(cls, value: str | None) -> str | None:
        return None if value is None else tenant_slug(value)

    @field_validator("required_evidence_types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip().lower() for v in value]
        for item in cleaned:
            if not _EVIDENCE_TYPE_RE.match(item):
                raise custom_error(
                    "BAD_EVIDENCE_TYPE", f"{item!r} is not a media type such as image/* or text/csv"
                )
        return list(dict.fromkeys(cleaned))

    @field_validator("process")
    @classmethod
    def _process(cls, value: str | None) -> str | None:
        if value is not None and not is_slug(value):
            raise custom_error("BAD_PROCESS", f"{value!r} is not a process slug")
        return value


class ProgrammeProtocolIn(ProtocolIn):
    programme: NonEmpty


_TERMS = tuple(ProtocolIn.model_fields)


def _terms(row: AuditProtocol) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _TERMS}


# --------------------------------------------------------------------------- agreeing


async def programme_default(*, session: AsyncSession, programme: str) -> AuditProtocol | None:
    return await session.scalar(
        select(AuditProtocol).where(
            AuditProtocol.programme == programme, AuditProtocol.audit_id.is_(None)
        )
    )


async def define_programme_protocol(
    *, session: AsyncSession, data: ProgrammeProtocolIn | Mapping[str, Any], actor: str
) -> AuditProtocol:
    """Set the default protocol of a programme (audits agreed later start from it)."""
    data = parse_input(ProgrammeProtocolIn, data)
    terms = data.model_dump(exclude={"programme"})
    row = await programme_default(session=session, programme=data.programme)
    if row is None:
        row = AuditProtocol(id=uuid.uuid4(), programme=data.programme, created_by=actor, **terms)
        session.add(row)
    else:
        for name, value in terms.items():
            setattr(row, name, value)
    row.updated_by = actor
    await log_change(
        session,
        actor=actor,
        action="audit_protocol.defined",
        record=row,
        change={"programme": data.programme, **terms},
    )
    return row


async def protocol_for(*, session: AsyncSession, audit_id: uuid.UUID) -> AuditProtocol | None:
    return await session.scalar(select(AuditProtocol).where(AuditProtocol.audit_id == audit_id))


async def agree_protocol(
    *,
    session: AsyncSession,
    audit: Audit,
    data: ProtocolIn | Mapping[str, Any] | None = None,
    actor: str,
) -> AuditProtocol:
    """Fix the protocol of ``audit``: the programme's default with ``data``'s given fields."""
    data = parse_input(ProtocolIn, data or {})
    if await protocol_for(session=session, audit_id=audit.id) is not None:
        raise Conflict(
            "The audit has its agreed protocol already.", reason="PROTOCOL_EXISTS", field="audit_id"
        )
    default = await programme_default(session=session, programme=audit.programme)
    terms = data.model_dump()
    if default is not None:
        terms.update({k: v for k, v in _terms(default).items() if k not in data.model_fields_set})
    terms["verifier_tenant"] = terms["verifier_tenant"] or audit.lead_tenant
    if terms["verifier_tenant"] == audit.audited_tenant:
        raise BadInput(
            "The audited tenant cannot verify its own findings; name another verifier.",
            reason="VERIFIER_IS_AUDITEE",
            field="verifier_tenant",
        )
    if terms["capa_plan_days"] < terms["response_days"]:
        raise BadInput(
            "The CAPA plan cannot be due before the response.",
            reason="CAPA_BEFORE_RESPONSE",
            field="capa_plan_days",
        )
    row = AuditProtocol(
        id=uuid.uuid4(),
        audit_id=audit.id,
        programme=audit.programme,
        created_by=actor,
        updated_by=actor,
        **terms,
    )
    session.add(row)
    await log_change(
        session,
        actor=actor,
        action="audit.protocol_agreed",
        record=audit,
        change={"protocol_id": row.id, "from_programme": default is not None, **terms},
    )
    return row


# --------------------------------------------------------------------------- who acts


@dataclass(frozen=True, slots=True)
class Governed:
    """A finding's audit and the protocol agreed for it."""

    audit: Audit
    protocol: AuditProtocol

    @property
    def verifier(self) -> str:
        return self.protocol.verifier_tenant or self.audit.lead_tenant


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


@dataclass(frozen=True, slots=True)
class OverdueFlag:
    finding_id: uuid.UUID
    reference: str
    kind: OverdueKind
    due_on: date
    recipient: str


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
