"""Incident reports: partner-notification deadlines by severity, and late ones flagged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from accord.compliance.incidents import service as incident_service
from accord.compliance.incidents.models import (
    IncidentNotification,
    IncidentReport,
    IncidentStatus,
)
from accord.compliance.incidents.schemas import NotificationPolicy
from accord.platform.errors import AccordError, BadInput, Conflict, NotFound
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.models import Tenant
from accord.tenants.provisioning import create_tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory, unique_slug

pytestmark = pytest.mark.usefixtures("synced_catalog")

ACTOR = "user:ciaran.walsh"
# Relative to now, so "not in the future" holds whenever the tests run.
OCCURRED = (datetime.now(UTC) - timedelta(days=10)).replace(microsecond=0)
DETECTED = OCCURRED + timedelta(hours=2)
POLICY = {"deadline_hours": {1: 24, 2: 72}}
RANSOMWARE: dict[str, Any] = {
    "reference": "INC-2026-0042",
    "title": "Ransomware on the SOC ticketing platform",
    "severity": 1,
    "occurred_at": OCCURRED,
    "detected_at": DETECTED,
    "reported_at": DETECTED + timedelta(minutes=40),
    "description": "LockBit-style encryption of the ticketing VMs; hospital tickets affected.",
}


@pytest.fixture(scope="module")
async def shared(runtime: Runtime, synced_catalog: None) -> Tenant:
    """One tenant for the refusals (they write nothing): RANSOMWARE reported, northwind
    notified, meridian not yet."""
    tenant = await create_tenant(
        runtime,
        slug=unique_slug("incidents"),
        legal_name="Initech Managed Services Ltd",
        jurisdiction="IE",
        store="home",
    )
    incident = await _report(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        await incident_service.mark_notified(
            session=session,
            actor=ACTOR,
            incident=incident,
            partner="northwind",
            notified_at=DETECTED + timedelta(hours=1),
        )
    return tenant


async def _counts(runtime: Runtime, tenant: Tenant) -> tuple[int, ...]:
    async with tenant_session(runtime, tenant.slug) as session:
        return tuple(
            [
                await session.scalar(select(func.count()).select_from(model)) or 0
                for model in (IncidentReport, IncidentNotification, EventLogEntry)
            ]
        )


async def _report(
    runtime: Runtime, tenant: Tenant, notify: tuple[str, ...] = ("meridian", "northwind")
) -> IncidentReport:
    async with tenant_session(runtime, tenant.slug) as session:
        return await incident_service.report_incident(
            session=session, actor=ACTOR, data=RANSOMWARE, notify=notify, policy=POLICY
        )


async def test_reporting_sets_each_partners_deadline_from_the_policy(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="inc")
    incident = await _report(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        notifications = await incident_service.list_notifications(
            session=session, incident=incident
        )
        actions = list(
            await session.scalars(select(EventLogEntry.action).order_by(EventLogEntry.seq))
        )
        assert (await verify_chain(session)).ok
    assert incident.status is IncidentStatus.OPEN
    assert [(n.partner, n.deadline_hours, n.required_by) for n in notifications] == [
        ("meridian", 24, DETECTED + timedelta(hours=24)),
        ("northwind", 24, DETECTED + timedelta(hours=24)),
    ]
    assert all(n.notified_at is None for n in notifications)
    assert actions[1:] == [
        "incident.reported",
        "incident.notification_required",
        "incident.notification_required",
    ]


async def test_initech_notifies_meridian_after_30_hours_and_is_flagged_late(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="initech")
    incident = await _report(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        # Before any deadline has passed nothing is late; just after it, both unmade ones are.
        assert (
            await incident_service.late_notifications(
                session=session, at=DETECTED + timedelta(hours=23)
            )
            == []
        )
        overdue = await incident_service.late_notifications(
            session=session, at=DETECTED + timedelta(hours=25)
        )
        assert [n.partner for n in overdue] == ["meridian", "northwind"]
        on_time = await incident_service.mark_notified(
            session=session,
            actor=ACTOR,
            incident=incident,
            partner="northwind",
            notified_at=DETECTED + timedelta(hours=20),
        )
        late = await incident_service.mark_notified(
            session=session,
            actor=ACTOR,
            incident=incident,
            partner="meridian",
            notified_at=DETECTED + timedelta(hours=30),
        )
    now = datetime.now(UTC)
    assert not on_time.is_late(now) and late.is_late(now)
    async with tenant_session(runtime, tenant.slug) as session:
        flagged = await incident_service.late_notifications(session=session)
        event = await session.scalar(select(EventLogEntry).order_by(EventLogEntry.seq.desc()))
        assert (await verify_chain(session)).ok
    assert [(n.partner, n.incident.reference) for n in flagged] == [("meridian", "INC-2026-0042")]
    assert flagged[0].notified_at == DETECTED + timedelta(hours=30)
    assert event is not None and event.action == "incident.notified"
    assert event.change["partner"] == "meridian" and event.change["late"] is True


@pytest.mark.parametrize(
    ("change", "notify", "policy", "field", "reason"),
    [
        ({"severity": 0}, (), None, "severity", "OUT_OF_RANGE"),
        ({"severity": 5}, (), None, "severity", "OUT_OF_RANGE"),
        (
            {"detected_at": OCCURRED - timedelta(minutes=1)},
            (),
            None,
            "detected_at",
            "DETECTED_BEFORE_OCCURRED",
        ),
        (
            {"reported_at": DETECTED - timedelta(minutes=1)},
            (),
            None,
            "reported_at",
            "REPORTED_BEFORE_DETECTED",
        ),
        ({"occurred_at": OCCURRED.replace(tzinfo=None)}, (), None, "occurred_at", "INVALID_VALUE"),
        ({"title": " "}, (), None, "title", "EMPTY"),
        ({}, ("Meridian Trust",), POLICY, "partners.0", "BAD_TENANT"),
        ({}, ("meridian",), None, "policy", "POLICY_REQUIRED"),
        ({"severity": 4}, ("meridian",), POLICY, "severity", "NO_DEADLINE_FOR_SEVERITY"),
        ({}, ("meridian",), {"deadline_hours": {1: -5}}, "deadline_hours.1", "OUT_OF_RANGE"),
        ({}, ("meridian",), {"deadline_hours": {7: 24}}, "deadline_hours.7.[key]", "OUT_OF_RANGE"),
    ],
)
async def test_bad_report_is_refused_and_nothing_is_written(
    runtime: Runtime,
    shared: Tenant,
    change: dict[str, Any],
    notify: tuple[str, ...],
    policy: dict[str, Any] | None,
    field: str,
    reason: str,
) -> None:
    tenant = shared
    change = {"reference": "INC-2026-0099", **change}
    before = await _counts(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        with pytest.raises(BadInput) as refused:
            await incident_service.report_incident(
                session=session,
                actor=ACTOR,
                data={**RANSOMWARE, **change},
                notify=notify,
                policy=policy,
            )
    assert (refused.value.field, refused.value.reason) == (field, reason)
    assert await _counts(runtime, tenant) == before


async def test_duplicate_reference_is_a_conflict(runtime: Runtime, shared: Tenant) -> None:
    tenant = shared
    before = await _counts(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        with pytest.raises(Conflict) as refused:
            await incident_service.report_incident(session=session, actor=ACTOR, data=RANSOMWARE)
    assert refused.value.reason == "DUPLICATE_INCIDENT_REFERENCE"
    assert await _counts(runtime, tenant) == before


@pytest.mark.parametrize(
    ("partner", "notified_at", "error", "field", "reason"),
    [
        (
            "meridian",
            OCCURRED - timedelta(hours=1),
            BadInput,
            "notified_at",
            "NOTIFIED_BEFORE_OCCURRENCE",
        ),
        (
            "meridian",
            datetime.now(UTC) + timedelta(days=1),
            BadInput,
            "notified_at",
            "NOTIFIED_IN_FUTURE",
        ),
        ("meridian", DETECTED.replace(tzinfo=None), BadInput, "notified_at", "NAIVE_DATETIME"),
        ("globex", DETECTED, NotFound, "partner", "UNKNOWN_NOTIFICATION"),
        ("northwind", DETECTED, Conflict, "notified_at", "ALREADY_NOTIFIED"),
    ],
)
async def test_bad_notification_is_refused_and_nothing_is_written(
    runtime: Runtime,
    shared: Tenant,
    partner: str,
    notified_at: datetime,
    error: type[AccordError],
    field: str,
    reason: str,
) -> None:
    tenant = shared
    before = await _counts(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        stored = await incident_service.get_incident_by_reference(
            session=session, reference="INC-2026-0042"
        )
        with pytest.raises(error) as refused:
            await incident_service.mark_notified(
                session=session,
                actor=ACTOR,
                incident=stored,
                partner=partner,
                notified_at=notified_at,
            )
    assert (refused.value.field, refused.value.reason) == (field, reason)
    assert await _counts(runtime, tenant) == before
    async with tenant_session(runtime, tenant.slug) as session:
        row = await session.scalar(
            select(IncidentNotification).where(IncidentNotification.partner == "meridian")
        )
    assert row is not None and row.notified_at is None


async def test_another_partner_under_its_own_policy(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="increq")
    incident = await _report(runtime, tenant, notify=("meridian",))
    from_occurrence = NotificationPolicy(deadline_hours={1: 12.0}, clock_starts="occurred_at")
    async with tenant_session(runtime, tenant.slug) as session:
        stored = await incident_service.get_incident_by_reference(
            session=session, reference="INC-2026-0042"
        )
        extra = await incident_service.require_notification(
            session=session, actor=ACTOR, incident=stored, partner="globex", policy=from_occurrence
        )
        with pytest.raises(Conflict) as refused:
            await incident_service.require_notification(
                session=session, actor=ACTOR, incident=stored, partner="globex", policy=POLICY
            )
    assert extra.required_by == OCCURRED + timedelta(hours=12)
    assert refused.value.reason == "NOTIFICATION_EXISTS"
    assert incident.id == stored.id


async def test_status_moves_forward_only(runtime: Runtime, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant(label="incst")
    incident = await _report(runtime, tenant, notify=())
    async with tenant_session(runtime, tenant.slug) as session:
        stored = await incident_service.get_incident(session=session, incident_id=incident.id)
        await incident_service.set_incident_status(
            session=session, actor=ACTOR, incident=stored, status="contained"
        )
        await incident_service.set_incident_status(
            session=session, actor=ACTOR, incident=stored, status=IncidentStatus.CLOSED
        )
    before = await _counts(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        stored = await incident_service.get_incident(session=session, incident_id=incident.id)
        with pytest.raises(Conflict) as refused:
            await incident_service.set_incident_status(
                session=session, actor=ACTOR, incident=stored, status="resolved"
            )
    assert refused.value.reason == "BAD_TRANSITION"
    assert await _counts(runtime, tenant) == before
    assert stored.status is IncidentStatus.CLOSED
