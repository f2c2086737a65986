"""The joint audit closing protocol: agreeing it, every guard allowed and refused with a
code (nothing changed, the refused attempt logged), the deadlines and overdue flagging,
and the t0012 migration against the models.

The audited tenant is a real tenant; the lead (northwind) and the observer (meridian) are
only named, as the services see them: actors ``user:<tenant>/<subject>``.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from accord.cli import app as cli_app
from accord.commands.audits import flag_overdue_everywhere
from accord.compliance.audits import service as audit_service
from accord.compliance.audits.models import Audit, AuditTeamMember
from accord.compliance.audits.protocol import schemas as protocol_schemas
from accord.compliance.audits.protocol import service as protocol_service
from accord.compliance.audits.protocol import team as protocol_team
from accord.compliance.audits.protocol.models import (
    AuditNotification,
    AuditProtocol,
    FindingDeadline,
    OverdueKind,
)
from accord.compliance.capa import service as capa_service
from accord.compliance.evidence import service as evidence_service
from accord.compliance.findings import service as finding_service
from accord.compliance.findings.models import Finding, VerificationResult
from accord.compliance.findings.states import FindingState
from accord.compliance.records import refusals
from accord.compliance.records.actors import actor_tenant
from accord.compliance.workflow import deadlines as protocol_deadlines
from accord.compliance.workflow import service as finding_workflow
from accord.platform.clock import today
from accord.platform.errors import AccordError, BadInput, Conflict, Forbidden
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.models import Tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory
from tests.factories.records import (
    RECORD_TABLES,
    audit_input,
    capa_input,
    events,
    evidence_input,
    finding_input,
    ref,
)

pytestmark = pytest.mark.usefixtures("synced_catalog")

LEAD_TENANT, OBSERVER_TENANT = "northwind", "meridian"
LEAD = "user:northwind/maria.schulz"
CO_AUDITOR = "user:northwind/jonas.weber"
OBSERVER = "user:meridian/priya.nair"
OUTSIDER = "user:initech/ivan"
PROTOCOL_TABLES = tuple(m.__table__ for m in (AuditProtocol, FindingDeadline, AuditNotification))
WATCHED = (*(t for t in RECORD_TABLES if t.name != "event_log"), *PROTOCOL_TABLES)

Call = Callable[[AsyncSession], Awaitable[object]]


def auditee(tenant: Tenant, who: str = "li.wei") -> str:
    return f"user:{tenant.slug}/{who}"


def team_of(tenant: Tenant) -> list[dict[str, Any]]:
    return [
        {"tenant": LEAD_TENANT, "subject": "maria.schulz", "role": "lead_auditor"},
        {"tenant": LEAD_TENANT, "subject": "user:jonas.weber", "role": "auditor"},
        {"tenant": OBSERVER_TENANT, "subject": "priya.nair", "role": "observer"},
        {"tenant": tenant.slug, "subject": "li.wei", "role": "auditee_representative"},
    ]


async def joint_audit(
    runtime: Runtime,
    tenant: Tenant,
    *,
    terms: dict[str, Any] | None = None,
    team: list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> uuid.UUID:
    """An in-progress joint audit led by northwind at ``tenant``, its protocol and team."""
    values = {
        "programme": f"Supplier quality {ref('P')}",
        "lead_tenant": LEAD_TENANT,
        "audited_tenant": tenant.slug,
        "status": "in_progress",
        **overrides,
    }
    async with tenant_session(runtime, tenant.slug) as session:
        audit = await audit_service.create_audit(
            session=session, data=audit_input(**values), actor=LEAD
        )
        if terms is not None:
            await protocol_service.agree_protocol(
                session=session, audit=audit, data=terms, actor=LEAD
            )
        for member in team_of(tenant) if team is None else team:
            await audit_service.add_team_member(
                session=session, audit=audit, data=member, actor=LEAD
            )
        return audit.id


async def raise_in(
    runtime: Runtime, tenant: Tenant, audit_id: uuid.UUID, actor: str = LEAD, **overrides: Any
) -> uuid.UUID:
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await finding_workflow.raise_finding(
            session=session, data=finding_input(audit_id=audit_id, **overrides), actor=actor
        )
        return finding.id


async def step(
    runtime: Runtime,
    tenant: Tenant,
    finding_id: uuid.UUID,
    target: FindingState,
    actor: str,
    **kwargs: str,
) -> Finding:
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await finding_service.get_finding(session=session, finding_id=finding_id)
        return await finding_workflow.transition(
            session=session, finding=finding, target=target, actor=actor, **kwargs
        )


async def watched(session: AsyncSession) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in WATCHED:
        rows = await session.execute(select(table).order_by(*table.primary_key.columns))
        out[table.name] = [tuple(row) for row in rows]
    return out


async def last_seq(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(EventLogEntry.seq), 0))) or 0)


async def assert_refused_and_logged(
    runtime: Runtime,
    tenant: Tenant,
    call: Call,
    *,
    error: type[AccordError],
    reason: str,
    actor: str,
    record: tuple[str, uuid.UUID],
    attempt: str,
    field: str | None = None,
) -> AccordError:
    """``call`` is refused with ``reason``; although the caller commits, no record changed
    and nothing was appended; the caller then logs the attempt in a transaction of its own."""
    async with tenant_session(runtime, tenant.slug) as session:
        before, seq = await watched(session), await last_seq(session)
        with pytest.raises(error) as caught:
            await call(session)
    refusal = caught.value
    assert refusal.reason == reason, refusal
    if field is not None:
        assert refusal.field == field, refusal
    async with tenant_session(runtime, tenant.slug) as session:
        assert await watched(session) == before
        assert await last_seq(session) == seq
        record_type, record_id = record
        await refusals.record_refusal(
            session=session,
            actor=actor,
            record_type=record_type,
            record_id=record_id,
            attempt=attempt,
            error=refusal,
        )
    async with tenant_session(runtime, tenant.slug) as session:
        logged = list(await session.scalars(select(EventLogEntry).where(EventLogEntry.seq > seq)))
        assert (await verify_chain(session)).ok
    assert [(e.action, e.actor, e.record_id) for e in logged] == [
        (f"{record_type}.refused", actor, str(record_id))
    ]
    assert logged[0].change["reason"] == reason
    assert logged[0].change["code"] == refusal.code.value
    assert logged[0].change["attempt"] == attempt
    return refusal


def transition_call(finding_id: uuid.UUID, target: FindingState, actor: str, **kwargs: str) -> Call:
    async def call(session: AsyncSession) -> object:
        finding = await finding_service.get_finding(session=session, finding_id=finding_id)
        return await finding_workflow.transition(
            session=session, finding=finding, target=target, actor=actor, **kwargs
        )

    return call


def verify_call(finding_id: uuid.UUID, actor: str) -> Call:
    async def call(session: AsyncSession) -> object:
        finding = await finding_service.get_finding(session=session, finding_id=finding_id)
        return await finding_workflow.record_verification(
            session=session, finding=finding, result=VerificationResult.PASSED, actor=actor
        )

    return call


# --------------------------------------------------------------------------- agreeing


async def test_the_agreed_protocol_starts_from_the_programme_default(
    runtime: Runtime, tenant: Tenant
) -> None:
    programme = f"Supplier quality {ref('P')}"
    async with tenant_session(runtime, tenant.slug) as session:
        await protocol_service.define_programme_protocol(
            session=session,
            data={
                "programme": programme,
                "response_days": 10,
                "capa_plan_days": 20,
                "required_evidence_types": ["Application/PDF"],
            },
            actor=LEAD,
        )
    audit_id = await joint_audit(
        runtime, tenant, terms={"recheck_after_days": 90}, team=[], programme=programme
    )
    async with tenant_session(runtime, tenant.slug) as session:
        agreed = await protocol_service.protocol_for(session=session, audit_id=audit_id)
        log = await events(session, audit_id)
    assert agreed is not None
    assert (agreed.response_days, agreed.capa_plan_days, agreed.recheck_after_days) == (10, 20, 90)
    assert agreed.required_evidence_types == ["application/pdf"]
    assert agreed.verifier_tenant == LEAD_TENANT  # the lead by default
    assert [e.action for e in log] == ["audit.created", "audit.protocol_agreed"]
    assert log[1].change["from_programme"] is True and log[1].change["response_days"] == 10

    plain = await joint_audit(runtime, tenant, terms={}, team=[])
    async with tenant_session(runtime, tenant.slug) as session:
        defaults = await protocol_service.protocol_for(session=session, audit_id=plain)
    assert defaults is not None
    assert (defaults.response_days, defaults.capa_plan_days) == (14, 30)
    assert defaults.required_evidence_types == [] and defaults.recheck_after_days is None


def bad(terms: dict[str, Any], reason: str, field: str, name: str) -> Any:
    return pytest.param(terms, reason, field, id=name)


@pytest.mark.parametrize(
    ("terms", "reason", "field"),
    [
        bad({"verifier_tenant": "AUDITED"}, "VERIFIER_IS_AUDITEE", "verifier_tenant", "self"),
        bad({"response_days": 20, "capa_plan_days": 10}, "CAPA_BEFORE_RESPONSE",
            "capa_plan_days", "plan-first"),
        bad({"response_days": 0}, "OUT_OF_RANGE", "response_days", "zero-days"),
        bad({"required_evidence_types": ["pdf"]}, "BAD_EVIDENCE_TYPE",
            "required_evidence_types", "bad-type"),
        bad({"process": "Not A Slug"}, "BAD_PROCESS", "process", "bad-process"),
        bad({"surprise": 1}, "UNKNOWN_FIELD", "surprise", "unknown"),
    ],
)  # fmt: skip
async def test_bad_protocol_terms_are_refused(
    runtime: Runtime, tenant: Tenant, terms: dict[str, Any], reason: str, field: str
) -> None:
    audit_id = await joint_audit(runtime, tenant, team=[])
    if terms.get("verifier_tenant") == "AUDITED":
        terms = {"verifier_tenant": tenant.slug}

    async def agree(session: AsyncSession) -> object:
        audit = await audit_service.get_audit(session=session, audit_id=audit_id)
        return await protocol_service.agree_protocol(
            session=session, audit=audit, data=terms, actor=LEAD
        )

    await assert_refused_and_logged(
        runtime,
        tenant,
        agree,
        error=BadInput,
        reason=reason,
        field=field,
        actor=LEAD,
        record=("audit", audit_id),
        attempt="agree_protocol",
    )


async def test_a_protocol_is_agreed_once(runtime: Runtime, tenant: Tenant) -> None:
    audit_id = await joint_audit(runtime, tenant, terms={}, team=[])

    async def again(session: AsyncSession) -> object:
        audit = await audit_service.get_audit(session=session, audit_id=audit_id)
        return await protocol_service.agree_protocol(session=session, audit=audit, actor=LEAD)

    await assert_refused_and_logged(
        runtime,
        tenant,
        again,
        error=Conflict,
        reason="PROTOCOL_EXISTS",
        actor=LEAD,
        record=("audit", audit_id),
        attempt="agree_protocol",
    )


# --------------------------------------------------------------------------- the team


@pytest.mark.parametrize(
    ("member", "reason", "field"),
    [
        ({"tenant": OBSERVER_TENANT, "role": "lead_auditor"}, "LEAD_AUDITOR_NOT_LEAD_TENANT",
         "tenant"),
        ({"tenant": LEAD_TENANT, "role": "auditee_representative"}, "REPRESENTATIVE_NOT_AUDITEE",
         "tenant"),
        ({"tenant": "AUDITED", "role": "auditor"}, "AUDITOR_IS_AUDITEE", "tenant"),
        ({"tenant": OBSERVER_TENANT, "role": "observer",
          "valid_until": today() + timedelta(days=9)}, "MEMBERSHIP_OUTSIDE_WINDOW", "valid_until"),
        ({"tenant": OBSERVER_TENANT, "role": "observer",
          "valid_from": today() - timedelta(days=9)}, "MEMBERSHIP_OUTSIDE_WINDOW", "valid_from"),
    ],
    ids=["lead-elsewhere", "rep-elsewhere", "self-auditing", "after-window", "before-window"],
)  # fmt: skip
async def test_the_team_must_fit_the_protocol(
    runtime: Runtime, tenant: Tenant, member: dict[str, Any], reason: str, field: str
) -> None:
    audit_id = await joint_audit(runtime, tenant, terms={}, team=[])
    member = {"subject": "someone", **member}
    if member["tenant"] == "AUDITED":
        member["tenant"] = tenant.slug

    async def add(session: AsyncSession) -> object:
        audit = await audit_service.get_audit(session=session, audit_id=audit_id)
        return await audit_service.add_team_member(
            session=session, audit=audit, data=member, actor=LEAD
        )

    await assert_refused_and_logged(
        runtime,
        tenant,
        add,
        error=BadInput,
        reason=reason,
        field=field,
        actor=LEAD,
        record=("audit", audit_id),
        attempt="add_team_member",
    )


async def test_without_a_protocol_the_team_is_as_before(runtime: Runtime, tenant: Tenant) -> None:
    audit_id = await joint_audit(runtime, tenant, team=[])
    async with tenant_session(runtime, tenant.slug) as session:
        audit = await audit_service.get_audit(session=session, audit_id=audit_id)
        member = await audit_service.add_team_member(
            session=session,
            audit=audit,
            data={"tenant": tenant.slug, "subject": "qa", "role": "auditor"},
            actor=LEAD,
        )
    assert member.role == "auditor"


def test_membership_runs_inside_the_window_only() -> None:
    audit = Audit(window_start=date(2027, 3, 1), window_end=date(2027, 3, 5))
    member = AuditTeamMember(tenant="northwind", subject="user:maria", valid_from=None)
    member.valid_until = None
    assert protocol_team.membership_window(member, audit) == (date(2027, 3, 1), date(2027, 3, 5))
    member.valid_from, member.valid_until = date(2027, 2, 1), date(2027, 3, 3)
    assert protocol_team.membership_window(member, audit) == (date(2027, 3, 1), date(2027, 3, 3))
    assert protocol_team.member_key(member) == "user:northwind/maria"
    assert actor_tenant("user:globex/li.wei") == "globex"
    assert actor_tenant("globex/li.wei") == "globex"
    assert actor_tenant("user:li.wei") is None


# --------------------------------------------------------------------------- raising


@pytest.mark.parametrize(
    ("actor", "extra", "reason"),
    [
        (OBSERVER, None, "TEAM_ROLE_NOT_ALLOWED"),
        ("REP", None, "RAISER_IS_AUDITEE"),
        (OUTSIDER, None, "NOT_ON_TEAM"),
        ("user:anna.keller", None, "ACTOR_WITHOUT_TENANT"),
        ("user:northwind/old.hand", {"valid_until": today() - timedelta(days=1)},
         "MEMBERSHIP_EXPIRED"),
        ("user:northwind/late.comer", {"valid_from": today() + timedelta(days=1)},
         "MEMBERSHIP_NOT_STARTED"),
    ],
    ids=["observer", "auditee", "outsider", "no-tenant", "expired", "not-started"],
)  # fmt: skip
async def test_only_the_in_window_audit_team_of_another_tenant_raises(
    runtime: Runtime, tenant: Tenant, actor: str, extra: dict[str, Any] | None, reason: str
) -> None:
    team = team_of(tenant)
    if extra is not None:
        team.append(
            {"tenant": LEAD_TENANT, "subject": actor.split("/")[1], "role": "auditor", **extra}
        )
    audit_id = await joint_audit(runtime, tenant, terms={}, team=team)
    actor = auditee(tenant) if actor == "REP" else actor

    async def raise_it(session: AsyncSession) -> object:
        data = finding_input(audit_id=audit_id)
        return await finding_workflow.raise_finding(session=session, data=data, actor=actor)

    await assert_refused_and_logged(
        runtime,
        tenant,
        raise_it,
        error=Forbidden,
        reason=reason,
        actor=actor,
        record=("audit", audit_id),
        attempt="raise_finding",
    )


async def test_a_team_whose_window_has_passed_raises_nothing(
    runtime: Runtime, tenant: Tenant
) -> None:
    audit_id = await joint_audit(
        runtime,
        tenant,
        terms={},
        window_start=today() - timedelta(days=30),
        window_end=today() - timedelta(days=28),
    )

    async def raise_it(session: AsyncSession) -> object:
        data = finding_input(audit_id=audit_id)
        return await finding_workflow.raise_finding(session=session, data=data, actor=LEAD)

    refusal = await assert_refused_and_logged(
        runtime,
        tenant,
        raise_it,
        error=Forbidden,
        reason="MEMBERSHIP_EXPIRED",
        actor=LEAD,
        record=("audit", audit_id),
        attempt="raise_finding",
    )
    assert str(today() - timedelta(days=28)) in refusal.message


async def test_raising_starts_the_protocol_clock(runtime: Runtime, tenant: Tenant) -> None:
    audit_id = await joint_audit(runtime, tenant, terms={"response_days": 7, "capa_plan_days": 21})
    raised = datetime.now(UTC) - timedelta(days=2)
    major = await raise_in(runtime, tenant, audit_id, LEAD, raised_at=raised)
    minor_ofi = await raise_in(
        runtime, tenant, audit_id, CO_AUDITOR, grade="observation", raised_at=raised
    )
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await finding_service.get_finding(session=session, finding_id=major)
        clock = await session.get(FindingDeadline, major)
        observation_clock = await session.get(FindingDeadline, minor_ofi)
        log = await events(session, major)
    assert finding.response_due_at == raised.date() + timedelta(days=7)
    assert clock is not None and clock.capa_plan_due_at == raised.date() + timedelta(days=21)
    assert observation_clock is not None and observation_clock.capa_plan_due_at is None
    assert log[0].change["response_due_at"] == finding.response_due_at.isoformat()

    async def too_late(session: AsyncSession) -> object:
        data = finding_input(
            audit_id=audit_id, raised_at=raised, response_due_at=raised.date() + timedelta(days=8)
        )
        return await finding_workflow.raise_finding(session=session, data=data, actor=LEAD)

    await assert_refused_and_logged(
        runtime,
        tenant,
        too_late,
        error=BadInput,
        reason="DUE_AFTER_PROTOCOL",
        field="response_due_at",
        actor=LEAD,
        record=("audit", audit_id),
        attempt="raise_finding",
    )
    earlier = raised.date() + timedelta(days=3)
    sooner = await raise_in(runtime, tenant, audit_id, raised_at=raised, response_due_at=earlier)
    async with tenant_session(runtime, tenant.slug) as session:
        kept = await finding_service.get_finding(session=session, finding_id=sooner)
    assert kept.response_due_at == earlier


# --------------------------------------------------------------------------- the workflow


async def test_the_closing_protocol_from_raising_to_reopening(
    runtime: Runtime, tenant: Tenant
) -> None:
    """A major nonconformity through the whole protocol; at each step the wrong party is
    refused first (logged, nothing changed), then the right one succeeds."""
    audit_id = await joint_audit(
        runtime,
        tenant,
        terms={"required_evidence_types": ["application/pdf"], "recheck_after_days": 90},
    )
    rep, qm = auditee(tenant), auditee(tenant, "quality.manager")
    fid = await raise_in(runtime, tenant, audit_id, LEAD)
    on_finding = ("finding", fid)

    async def refused(
        call: Call, error: type[AccordError], reason: str, actor: str, attempt: str
    ) -> None:
        await assert_refused_and_logged(
            runtime,
            tenant,
            call,
            error=error,
            reason=reason,
            actor=actor,
            record=on_finding,
            attempt=attempt,
        )

    response = {"response": "Records recreated; cause analysis follows."}
    r = FindingState.RESPONDED
    await refused(
        transition_call(fid, r, LEAD, **response), Forbidden, "NOT_AUDITEE", LEAD, "respond"
    )
    await refused(
        transition_call(fid, r, OBSERVER, **response), Forbidden, "NOT_AUDITEE", OBSERVER, "respond"
    )
    await step(runtime, tenant, fid, r, rep, **response)

    async with tenant_session(runtime, tenant.slug) as session:
        capa = await capa_service.create_capa(session=session, data=capa_input(fid), actor=qm)
    plan = FindingState.CAPA_PLANNED
    await refused(transition_call(fid, plan, LEAD), Forbidden, "NOT_AUDITEE", LEAD, "propose_capa")
    await step(runtime, tenant, fid, plan, qm)
    async with tenant_session(runtime, tenant.slug) as session:
        for action in await capa_service.list_actions(session=session, capa=capa):
            await capa_service.complete_action(session=session, action=action, actor=qm)
    done = FindingState.CAPA_IMPLEMENTED
    await refused(
        transition_call(fid, done, CO_AUDITOR),
        Forbidden,
        "NOT_AUDITEE",
        CO_AUDITOR,
        "complete_action",
    )
    await step(runtime, tenant, fid, done, qm)

    check = FindingState.VERIFICATION
    await refused(transition_call(fid, check, rep), Forbidden, "OWN_RESPONSE", rep, "verify")
    await refused(transition_call(fid, check, qm), Forbidden, "AUDITEE_CANNOT_VERIFY", qm, "verify")
    await refused(
        transition_call(fid, check, OBSERVER), Forbidden, "NOT_THE_VERIFIER", OBSERVER, "verify"
    )
    await step(runtime, tenant, fid, check, LEAD)
    await refused(verify_call(fid, rep), Forbidden, "OWN_RESPONSE", rep, "verify")
    await refused(verify_call(fid, qm), Forbidden, "AUDITEE_CANNOT_VERIFY", qm, "verify")
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await finding_service.get_finding(session=session, finding_id=fid)
        await finding_workflow.record_verification(
            session=session, finding=finding, result="passed", actor=CO_AUDITOR
        )

    close = FindingState.CLOSED
    await refused(transition_call(fid, close, qm), Forbidden, "AUDITEE_CANNOT_VERIFY", qm, "close")
    await refused(transition_call(fid, close, rep), Forbidden, "OWN_RESPONSE", rep, "close")
    async with tenant_session(runtime, tenant.slug) as session:
        early = finding.raised_at - timedelta(hours=1)
        await evidence_service.add_evidence(
            session=session, data=evidence_input(finding_id=fid, captured_at=early), actor=qm
        )
    await refused(transition_call(fid, close, LEAD), Conflict, "EVIDENCE_REQUIRED", LEAD, "close")
    async with tenant_session(runtime, tenant.slug) as session:
        photo = evidence_input(capa_id=capa.id, media_type="image/jpeg")
        await evidence_service.add_evidence(session=session, data=photo, actor=qm)
    await refused(
        transition_call(fid, close, LEAD), Conflict, "EVIDENCE_TYPE_MISSING", LEAD, "close"
    )
    async with tenant_session(runtime, tenant.slug) as session:
        await evidence_service.add_evidence(
            session=session, data=evidence_input(finding_id=fid), actor=qm
        )
    closed = await step(runtime, tenant, fid, close, LEAD)
    assert closed.closed_by == LEAD
    async with tenant_session(runtime, tenant.slug) as session:
        clock = await session.get(FindingDeadline, fid)
        log = await events(session, fid)
    assert clock is not None and clock.recheck_due_at == today() + timedelta(days=90)
    assert log[-1].change["recheck_due_at"] == clock.recheck_due_at.isoformat()

    reopen = FindingState.REOPENED
    await refused(transition_call(fid, reopen, LEAD), BadInput, "REASON_REQUIRED", LEAD, "reopen")
    why = {"reason": "Recurrence at the follow-up visit."}
    await refused(
        transition_call(fid, reopen, qm, **why), Forbidden, "AUDITEE_CANNOT_VERIFY", qm, "reopen"
    )
    reopened = await step(runtime, tenant, fid, reopen, LEAD, **why)
    assert reopened.response_due_at == today() + timedelta(days=14)
    async with tenant_session(runtime, tenant.slug) as session:
        log = await events(session, fid)
        assert (await verify_chain(session)).ok
    refusals = [e.change["reason"] for e in log if e.action == "finding.refused"]
    assert len(refusals) == 15 and "OWN_RESPONSE" in refusals
    assert log[-1].change["response_due_at"] == reopened.response_due_at.isoformat()


async def test_an_observation_closes_by_the_verifier_with_fresh_evidence(
    runtime: Runtime, tenant: Tenant
) -> None:
    audit_id = await joint_audit(runtime, tenant, terms={"verifier_tenant": OBSERVER_TENANT})
    fid = await raise_in(runtime, tenant, audit_id, LEAD, grade="observation", criteria=None)
    await step(runtime, tenant, fid, FindingState.RESPONDED, auditee(tenant), response="Noted.")
    close = FindingState.CLOSED
    for actor, error, reason in (
        (LEAD, Forbidden, "NOT_THE_VERIFIER"),  # the protocol named meridian
        (auditee(tenant, "qm"), Forbidden, "AUDITEE_CANNOT_VERIFY"),
        (OBSERVER, Conflict, "EVIDENCE_REQUIRED"),
    ):
        await assert_refused_and_logged(
            runtime,
            tenant,
            transition_call(fid, close, actor),
            error=error,
            reason=reason,
            actor=actor,
            record=("finding", fid),
            attempt="close",
        )
    async with tenant_session(runtime, tenant.slug) as session:
        await evidence_service.add_evidence(
            session=session, data=evidence_input(finding_id=fid), actor=auditee(tenant)
        )
    assert (await step(runtime, tenant, fid, close, OBSERVER)).state is close


async def test_findings_outside_a_protocol_behave_as_before(
    runtime: Runtime, tenant: Tenant
) -> None:
    """A joint audit with no agreed protocol: the auditee may still close an observation
    itself, without evidence, as the plain state machine allows."""
    audit_id = await joint_audit(runtime, tenant)
    fid = await raise_in(runtime, tenant, audit_id, auditee(tenant), grade="observation")
    await step(runtime, tenant, fid, FindingState.RESPONDED, auditee(tenant), response="Noted.")
    closed = await step(runtime, tenant, fid, FindingState.CLOSED, auditee(tenant))
    assert closed.state is FindingState.CLOSED
    async with tenant_session(runtime, tenant.slug) as session:
        assert await session.get(FindingDeadline, fid) is None


# --------------------------------------------------------------------------- overdue


async def notices(session: AsyncSession, finding_id: uuid.UUID) -> list[AuditNotification]:
    rows = await session.scalars(
        select(AuditNotification)
        .where(AuditNotification.finding_id == finding_id)
        .order_by(AuditNotification.kind)
    )
    return list(rows)


async def test_overdue_findings_are_flagged_once_and_the_accountable_is_notified(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    own = await make_tenant(label="ovd")
    audit_id = await joint_audit(runtime, own, terms={"response_days": 5, "capa_plan_days": 10})
    long_ago = datetime.now(UTC) - timedelta(days=12)
    late = await raise_in(runtime, own, audit_id, LEAD, raised_at=long_ago)
    fresh = await raise_in(runtime, own, audit_id, LEAD, raised_at=datetime.now(UTC))
    unprotocolled = await joint_audit(runtime, own)
    untouched = await raise_in(
        runtime, own, unprotocolled, raised_at=long_ago, response_due_at=long_ago.date()
    )

    async with tenant_session(runtime, own.slug) as session:
        flags = await protocol_deadlines.flag_overdue(session=session, today=today())
    assert {(f.finding_id, f.kind, f.recipient) for f in flags} == {
        (late, OverdueKind.RESPONSE, LEAD),
        (late, OverdueKind.CAPA_PLAN, LEAD),
    }
    async with tenant_session(runtime, own.slug) as session:
        clock = await session.get(FindingDeadline, late)
        sent = await notices(session, late)
        log = await events(session, late)
        before = await watched(session), await last_seq(session)
        assert await notices(session, fresh) == [] and await notices(session, untouched) == []
    assert clock is not None and clock.overdue_since == today()
    assert sorted(clock.overdue_kinds) == ["capa_plan_overdue", "response_overdue"]
    assert [(n.kind, n.recipient_tenant, n.recipient) for n in sent] == [
        ("capa_plan_overdue", LEAD_TENANT, LEAD),
        ("response_overdue", LEAD_TENANT, LEAD),
    ]
    assert sent[1].due_on == long_ago.date() + timedelta(days=5)
    overdue = [e for e in log if e.action == "finding.overdue"]
    assert [(e.actor, e.change["kind"]) for e in overdue] == [
        (protocol_schemas.OVERDUE_ACTOR, "capa_plan_overdue"),
        (protocol_schemas.OVERDUE_ACTOR, "response_overdue"),
    ]

    # Idempotent: the same day again changes nothing at all.
    async with tenant_session(runtime, own.slug) as session:
        assert await protocol_deadlines.flag_overdue(session=session, today=today()) == []
    async with tenant_session(runtime, own.slug) as session:
        assert (await watched(session), await last_seq(session)) == before

    # The response comes in: only the CAPA plan stays overdue; the response flag clears.
    await step(runtime, own, late, FindingState.RESPONDED, auditee(own), response="Late.")
    async with tenant_session(runtime, own.slug) as session:
        assert await protocol_deadlines.flag_overdue(session=session, today=today()) == []
    async with tenant_session(runtime, own.slug) as session:
        clock = await session.get(FindingDeadline, late)
        log = await events(session, late)
        assert (await verify_chain(session)).ok
    assert clock is not None and clock.overdue_kinds == ["capa_plan_overdue"]
    assert clock.overdue_since == today()
    assert log[-1].action == "finding.overdue_cleared"
    assert log[-1].change["kinds"] == ["response_overdue"]

    # The scheduled command flags across tenants; named tenants only here.
    run = await flag_overdue_everywhere(
        runtime, today=today() + timedelta(days=30), tenants=[own.slug]
    )
    assert run.failed == {}
    assert {(f.finding_id, f.kind) for f in run.flagged[own.slug]} == {
        (fresh, OverdueKind.RESPONSE),
        (fresh, OverdueKind.CAPA_PLAN),
    }
    missing = await flag_overdue_everywhere(runtime, today=today(), tenants=["tst_no_such_tenant"])
    assert list(missing.failed) == ["tst_no_such_tenant"]


def test_the_command_is_registered() -> None:
    result = CliRunner().invoke(cli_app, ["audits", "flag-overdue", "--help"])
    assert result.exit_code == 0, result.output
    assert "Accountable" in result.output
    bad_day = CliRunner().invoke(cli_app, ["audits", "flag-overdue", "--today", "someday"])
    assert bad_day.exit_code == 2


# --------------------------------------------------------------------------- migration


def _compare(sync: Connection, schema: str) -> list[Any]:
    models = MetaData(schema=schema)
    for table in (*RECORD_TABLES, *PROTOCOL_TABLES):  # the others as foreign key targets
        table.to_metadata(models, schema=schema)
    mine = {t.name for t in PROTOCOL_TABLES}

    def include_name(name: str | None, type_: str, parents: Any) -> bool:
        if type_ == "schema":
            return name == schema
        return type_ != "table" or name in mine

    def include_object(obj: Any, name: str | None, type_: str, *_: Any) -> bool:
        return type_ != "table" or name in mine

    context = MigrationContext.configure(
        sync,
        opts={
            "include_schemas": True,
            "include_name": include_name,
            "include_object": include_object,
            "compare_type": True,
        },
    )
    return list(compare_metadata(context, models))


async def test_t0012_creates_exactly_what_the_protocol_models_declare(
    runtime: Runtime, tenant: Tenant
) -> None:
    async with runtime.stores.migrator_engine(tenant.store).connect() as conn:
        diff = await conn.run_sync(_compare, tenant.scope.schema)
    assert diff == []


async def test_the_database_keeps_protocol_terms_sane(runtime: Runtime, tenant: Tenant) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError, match="capa_plan_days_range"):
        async with tenant_session(runtime, tenant.slug) as session:
            session.add(
                AuditProtocol(
                    programme=f"P-{secrets.token_hex(3)}",
                    response_days=10,
                    capa_plan_days=5,
                    required_evidence_types=[],
                    created_by=LEAD,
                    updated_by=LEAD,
                )
            )
