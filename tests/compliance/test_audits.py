"""Audits and teams; the t0002 migration against the models; the demo's joint audit story."""

from __future__ import annotations

import itertools
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, Connection, MetaData, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.audits import service as audit_service
from accord.compliance.audits.models import AuditStatus
from accord.compliance.capa import analysis
from accord.compliance.capa import service as capa_service
from accord.compliance.capa.states import CapaState
from accord.compliance.crosswalk import MappingEdge
from accord.compliance.findings.models import Finding, FindingGrade
from accord.compliance.findings.states import FindingState
from accord.compliance.vocab import Coverage, MappingMethod, Relationship
from accord.compliance.workflow import service as finding_workflow
from accord.platform.clock import today
from accord.platform.errors import BadInput, Conflict
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.models import Tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory
from tests.factories.records import (
    ACTOR,
    AUDITOR,
    RECORD_TABLES,
    action_input,
    assert_refused,
    audit_input,
    events,
    finding_input,
)

pytestmark = pytest.mark.usefixtures("synced_catalog")


async def new_audit(runtime: Runtime, slug: str, **overrides: Any) -> uuid.UUID:
    async with tenant_session(runtime, slug) as session:
        audit = await audit_service.create_audit(
            session=session, data=audit_input(**overrides), actor=ACTOR
        )
        return audit.id


# --------------------------------------------------------------------------- audits


async def test_an_audit_is_planned_and_logged(runtime: Runtime, tenant: Tenant) -> None:
    audit_id = await new_audit(runtime, tenant.slug)
    async with tenant_session(runtime, tenant.slug) as session:
        audit = await audit_service.get_audit(session=session, audit_id=audit_id)
        log = await events(session, audit_id)
    assert audit.status is AuditStatus.PLANNED and audit.type == "joint"
    assert audit.clause_keys == ["iso9001:2015/8.4", "iso14001:2015/8.1"]
    assert [e.action for e in log] == ["audit.created"]
    assert log[0].change["lead_tenant"] == "northwind"


def bad(override: dict[str, Any], reason: str, field: str, name: str) -> Any:
    return pytest.param(override, reason, field, id=name)


@pytest.mark.parametrize(
    ("override", "reason", "field"),
    [
        bad({"window_end": today() - timedelta(days=9)}, "WINDOW_INVERTED", "window_end", "window"),
        bad({"clause_keys": []}, "CLAUSES_REQUIRED", "clause_keys", "no-clauses"),
        bad({"clause_keys": ["iso9001:2015/8.44"]}, "UNKNOWN_CLAUSE", "clause_keys", "clause"),
        bad({"lead_tenant": "North Wind"}, "BAD_TENANT", "lead_tenant", "bad-slug"),
        bad({"type": "surprise"}, "INVALID_CHOICE", "type", "bad-type"),
        bad({"programme": ""}, "EMPTY", "programme", "no-programme"),
    ],
)
async def test_bad_audit_input_is_refused(
    runtime: Runtime, tenant: Tenant, override: dict[str, Any], reason: str, field: str
) -> None:
    async def attempt(session: AsyncSession) -> object:
        data = audit_input(**override)
        return await audit_service.create_audit(session=session, data=data, actor=ACTOR)

    await assert_refused(runtime, tenant.slug, attempt, error=BadInput, reason=reason, field=field)


async def test_team_members_of_several_tenants_and_one_lead(
    runtime: Runtime, tenant: Tenant
) -> None:
    audit_id = await new_audit(runtime, tenant.slug)
    lead = {"tenant": "northwind", "subject": "user:maria.schulz", "role": "lead_auditor"}
    async with tenant_session(runtime, tenant.slug) as session:
        audit = await audit_service.get_audit(session=session, audit_id=audit_id)
        for member in (
            lead,
            {"tenant": "northwind", "subject": "user:jonas.weber", "role": "auditor"},
            {"tenant": "meridian", "subject": "user:priya.nair", "role": "observer"},
            {"tenant": "globex", "subject": "user:li.wei", "role": "auditee_representative"},
        ):
            await audit_service.add_team_member(
                session=session, audit=audit, data=member, actor=ACTOR
            )
        team = await audit_service.list_team(session=session, audit=audit)
        log = await events(session, audit_id)
    assert {(m.tenant, m.role) for m in team} == {
        ("northwind", "lead_auditor"),
        ("northwind", "auditor"),
        ("meridian", "observer"),
        ("globex", "auditee_representative"),
    }
    assert Counter(e.action for e in log)["audit.team_member_added"] == 4

    yesterday = today() - timedelta(days=1)
    cases = [
        ({**lead, "subject": "user:other"}, Conflict, "LEAD_AUDITOR_EXISTS", "role"),
        ({**lead, "role": "auditor", "subject": "user:jonas.weber"},
         Conflict, "TEAM_MEMBER_EXISTS", "subject"),
        ({**lead, "role": "observer", "valid_from": today(), "valid_until": yesterday},
         BadInput, "VALIDITY_INVERTED", "valid_until"),
        ({**lead, "role": "observer", "tenant": "Meridian"}, BadInput, "BAD_TENANT", "tenant"),
    ]  # fmt: skip
    for member, error, reason, field in cases:

        async def attempt(session: AsyncSession, member: dict[str, Any] = member) -> object:
            audit = await audit_service.get_audit(session=session, audit_id=audit_id)
            return await audit_service.add_team_member(
                session=session, audit=audit, data=member, actor=ACTOR
            )

        await assert_refused(runtime, tenant.slug, attempt, error=error, reason=reason, field=field)


@pytest.mark.parametrize(
    ("source", "target"), list(itertools.product(AuditStatus, AuditStatus)), ids=str
)
async def test_audit_status_transitions(
    runtime: Runtime, tenant: Tenant, source: AuditStatus, target: AuditStatus
) -> None:
    path = {
        AuditStatus.PLANNED: [],
        AuditStatus.IN_PROGRESS: [AuditStatus.IN_PROGRESS],
        AuditStatus.COMPLETED: [AuditStatus.IN_PROGRESS, AuditStatus.COMPLETED],
        AuditStatus.CANCELLED: [AuditStatus.CANCELLED],
    }[source]
    audit_id = await new_audit(runtime, tenant.slug)
    async with tenant_session(runtime, tenant.slug) as session:
        audit = await audit_service.get_audit(session=session, audit_id=audit_id)
        for step in path:
            await audit_service.set_audit_status(
                session=session, audit=audit, target=step, actor=ACTOR
            )

    async def attempt(session: AsyncSession) -> object:
        audit = await audit_service.get_audit(session=session, audit_id=audit_id)
        return await audit_service.set_audit_status(
            session=session, audit=audit, target=target, actor=ACTOR
        )

    if target in audit_service.AUDIT_TRANSITIONS[source]:
        async with tenant_session(runtime, tenant.slug) as session:
            audit = await attempt(session)
            log = await events(session, audit_id)
        assert log[-1].action == "audit.transition"
        assert log[-1].change == {"from": source.value, "to": target.value}
    else:
        await assert_refused(
            runtime, tenant.slug, attempt, error=Conflict, reason="INVALID_TRANSITION"
        )


@pytest.mark.parametrize(
    ("path", "reason"),
    [([], "AUDIT_NOT_STARTED"), ([AuditStatus.CANCELLED], "AUDIT_CANCELLED")],
)
async def test_findings_need_an_audit_under_way_or_done(
    runtime: Runtime, tenant: Tenant, path: list[AuditStatus], reason: str
) -> None:
    audit_id = await new_audit(runtime, tenant.slug)
    async with tenant_session(runtime, tenant.slug) as session:
        audit = await audit_service.get_audit(session=session, audit_id=audit_id)
        for step in path:
            await audit_service.set_audit_status(
                session=session, audit=audit, target=step, actor=ACTOR
            )

    async def attempt(session: AsyncSession) -> object:
        data = finding_input(audit_id=audit_id)
        return await finding_workflow.raise_finding(session=session, data=data, actor=AUDITOR)

    await assert_refused(
        runtime, tenant.slug, attempt, error=Conflict, reason=reason, field="audit_id"
    )


# --------------------------------------------------------------------------- migration


def _compare(sync: Connection, schema: str) -> tuple[list[Any], dict[str, set[str]]]:
    models = MetaData(schema=schema)
    for table in RECORD_TABLES:
        if table.name != "event_log":
            table.to_metadata(models, schema=schema)
    names = {t.name for t in models.tables.values()}

    def include_name(name: str | None, type_: str, parents: Any) -> bool:
        if type_ == "schema":
            return name == schema
        return type_ != "table" or name in names

    context = MigrationContext.configure(
        sync, opts={"include_schemas": True, "include_name": include_name, "compare_type": True}
    )
    diff = compare_metadata(context, models)
    inspector = inspect(sync)
    checks = {
        table.name: {
            _check_signature(c["name"], c["sqltext"])
            for c in inspector.get_check_constraints(table.name, schema=schema)
        }
        for table in models.tables.values()
    }
    return diff, checks


_QUOTED = re.compile(r"'([a-z_]+)'")


def _check_signature(name: str | None, sql: str) -> str:
    """A CHECK's name and the literals it mentions: enum values, 'closed', 'done'."""
    return f"{name}:{sorted(_QUOTED.findall(sql))}"


def _model_checks() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for table in RECORD_TABLES:
        if table.name == "event_log":
            continue
        out[table.name] = {
            _check_signature(str(c.name), str(c.sqltext))
            for c in table.constraints
            if isinstance(c, CheckConstraint)
        }
    return out


async def test_the_migration_creates_exactly_what_the_models_declare(
    runtime: Runtime, tenant: Tenant
) -> None:
    async with runtime.stores.migrator_engine(tenant.store).connect() as conn:
        diff, checks = await conn.run_sync(_compare, f"t_{tenant.slug}")
    assert diff == []
    assert checks == _model_checks()


# --------------------------------------------------------------------------- the demo story


async def test_joint_audit_at_globex_story(runtime: Runtime, make_tenant: TenantFactory) -> None:
    """shared/DEMO.md: northwind leads a joint audit at globex against ISO 9001 8.4 and
    ISO 14001 8.1; one major NC with a 5-whys CAPA and two actions (one overdue), two minors,
    one OFI. The records are globex's; northwind appears as lead tenant, auditor, verifier."""
    globex = await make_tenant(label="globex", legal_name="Globex Components Inc.")
    northwind = f"tst_northwind_{globex.slug[-8:]}"
    maria, li = "user:maria.schulz", "user:li.wei"
    opened = datetime.now(UTC) - timedelta(days=20)
    async with tenant_session(runtime, globex.slug) as session:
        audit = await audit_service.create_audit(
            session=session,
            data=audit_input(
                lead_tenant=northwind,
                audited_tenant=globex.slug,
                window_start=opened.date(),
                window_end=opened.date() + timedelta(days=2),
            ),
            actor=maria,
        )
        for member in (
            {"tenant": northwind, "subject": maria, "role": "lead_auditor"},
            {"tenant": northwind, "subject": "user:jonas.weber", "role": "auditor"},
            {"tenant": globex.slug, "subject": li, "role": "auditee_representative"},
        ):
            await audit_service.add_team_member(
                session=session, audit=audit, data=member, actor=maria
            )
        await audit_service.set_audit_status(
            session=session, audit=audit, target=AuditStatus.IN_PROGRESS, actor=maria
        )

        def raised(reference: str, grade: str, clauses: list[str], **more: Any) -> dict[str, Any]:
            return finding_input(
                audit_id=audit.id,
                reference=reference,
                grade=grade,
                clause_keys=clauses,
                raised_at=opened + timedelta(days=1),
                response_due_at=opened.date() + timedelta(days=15),
                owner=li,
                **more,
            )

        findings = {
            data["reference"]: await finding_workflow.raise_finding(
                session=session, data=data, actor=maria
            )
            for data in (
                raised(
                    "GLX-27-01", "major_nonconformity", ["iso9001:2015/8.4", "iso14001:2015/8.1"]
                ),
                raised(
                    "GLX-27-02",
                    "minor_nonconformity",
                    ["iso9001:2015/7.1.5"],
                    title="Calibration of torque wrenches overdue",
                    severity="medium",
                    criteria="ISO 9001:2015 7.1.5.2",
                    condition="4 of 30 wrenches past their calibration date.",
                ),
                raised(
                    "GLX-27-03",
                    "minor_nonconformity",
                    ["iso14001:2015/8.1"],
                    title="Waste manifests incomplete",
                    severity="medium",
                    criteria="ISO 14001:2015 8.1 and the site waste procedure",
                    condition="Two hazardous-waste manifests lack the carrier signature.",
                ),
                raised(
                    "GLX-27-04",
                    "opportunity_for_improvement",
                    ["iso9001:2015/8.4.2"],
                    title="Share supplier scorecards with suppliers",
                    severity="low",
                    criteria=None,
                    condition="Scorecards exist but are not sent to suppliers.",
                ),
            )
        }
        await audit_service.set_audit_status(
            session=session, audit=audit, target=AuditStatus.COMPLETED, actor=maria
        )
        for finding in findings.values():
            await finding_workflow.respond(
                session=session, finding=finding, actor=li, response="Accepted; see plan."
            )
        await finding_workflow.transition(
            session=session, finding=findings["GLX-27-04"], target=FindingState.CLOSED, actor=maria
        )

        major = findings["GLX-27-01"]
        capa = await capa_service.create_capa(
            session=session,
            data={
                "reference": "CAPA-GLX-27-01",
                "title": "Restore monitoring of external providers",
                "finding_ids": [major.id],
                "clause_keys": ["iso9001:2015/8.4"],
                "containment": "Incoming inspection at 100 % for the three suppliers.",
                "root_cause": {
                    "method": "five_whys",
                    "whys": [
                        {"why": "Why are records missing?", "answer": "Reviews not done."},
                        {"why": "Why not done?", "answer": "Nobody was reminded."},
                        {"why": "Why no reminder?", "answer": "No review date in the ERP."},
                    ],
                    "root_cause": "Supplier reviews are not scheduled in the vendor master.",
                },
                "actions": [
                    action_input(
                        title="Re-evaluate the three suppliers",
                        owner=li,
                        owner_tenant=globex.slug,
                        due_at=today() - timedelta(days=4),
                    ),
                    action_input(
                        title="Add a review date to the vendor master",
                        owner="user:tom.harris",
                        owner_tenant=globex.slug,
                        due_at=today() + timedelta(days=30),
                    ),
                ],
                "effectiveness": {
                    "due_at": today() + timedelta(days=120),
                    "verifier": {"subject": maria, "tenant": northwind},
                },
            },
            actor=li,
        )
        for target in (CapaState.APPROVED, CapaState.IN_PROGRESS):
            await capa_service.transition_capa(
                session=session, capa=capa, target=target, actor=maria
            )
        await finding_workflow.transition(
            session=session, finding=major, target=FindingState.CAPA_PLANNED, actor=li
        )

    async with tenant_session(runtime, globex.slug) as session:
        (overdue,) = await analysis.find_overdue(session=session, today=today())
        hs_edge = MappingEdge(
            "iso9001:2015/8.4",
            "iso14001:2015/8.1",
            Relationship.INTERSECTS,
            5,
            "global",
            MappingMethod.HUMAN,
            None,
            "approved",
        )
        coverage = await analysis.finding_coverage(session=session, capa=capa, edges=[hs_edge])
        by_audit = (
            await session.scalars(select(Finding).where(Finding.audit_id == audit.id))
        ).all()
        actions = Counter(await session.scalars(select(EventLogEntry.action)))
        assert (await verify_chain(session)).ok

    assert overdue.capa_id == capa.id and list(overdue.overdue_actions.values()) == [4]
    assert not overdue.effectiveness_overdue
    # the CAPA addresses ISO 9001 8.4 fully, the ISO 14001 8.1 side of the finding only partly
    assert coverage == {"GLX-27-01": Coverage.PARTIAL}
    assert Counter(f.grade for f in by_audit) == {
        FindingGrade.MAJOR_NONCONFORMITY: 1,
        FindingGrade.MINOR_NONCONFORMITY: 2,
        FindingGrade.OPPORTUNITY_FOR_IMPROVEMENT: 1,
    }
    assert {f.reference: f.state for f in by_audit} == {
        "GLX-27-01": FindingState.CAPA_PLANNED,
        "GLX-27-02": FindingState.RESPONDED,
        "GLX-27-03": FindingState.RESPONDED,
        "GLX-27-04": FindingState.CLOSED,
    }
    assert actions["finding.raised"] == 4 and actions["finding.transition"] == 6
    assert actions["capa.created"] == 1 and actions["capa.transition"] == 2
    assert actions["audit.team_member_added"] == 3 and actions["audit.transition"] == 2
