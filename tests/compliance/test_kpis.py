"""KPIs: thresholds that make sense, measurements rated, a breach opens a governance item."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from accord.compliance.kpis import service as kpi_service
from accord.compliance.kpis.models import (
    Direction,
    GovernanceItem,
    GovernanceStatus,
    Kpi,
    KpiMeasurement,
    Rating,
)
from accord.compliance.kpis.schemas import rate
from accord.platform import clock
from accord.platform.errors import AccordError, BadInput, Conflict
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.models import Tenant
from accord.tenants.provisioning import create_tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory, unique_slug

pytestmark = pytest.mark.usefixtures("synced_catalog")

ACTOR = "user:hanna.vogt"
ON_TIME_DELIVERY: dict[str, Any] = {
    "key": "on-time-delivery",
    "name": "On-time delivery",
    "definition": "Shipments delivered within the agreed window / all shipments, per month.",
    "unit": "%",
    "direction": "higher_is_better",
    "target": 98.0,
    "warning_threshold": 95.0,
    "breach_threshold": 90.0,
    "owner": "user:hanna.vogt",
    "standards": ["iso9001:2015"],
    "clause_keys": ["iso9001:2015/9.1.1", "iso9001:2015/8.5.1"],
}
LTIFR: dict[str, Any] = {
    "key": "ltifr",
    "name": "Lost-time injury frequency rate",
    "definition": "Lost-time injuries per million hours worked, rolling quarter.",
    "unit": "per 1e6 h",
    "direction": "lower_is_better",
    "target": 1.0,
    "warning_threshold": 2.0,
    "breach_threshold": 3.5,
    "owner": "user:olaf.brandt",
    "standards": ["iso45001:2018"],
    "clause_keys": ["iso45001:2018/9.1.1"],
}


@pytest.fixture(scope="module")
async def shared(runtime: Runtime, synced_catalog: None) -> Tenant:
    """One tenant for the refusals (they write nothing) and what they need to exist."""
    tenant = await create_tenant(
        runtime,
        slug=unique_slug("kpis"),
        legal_name="Northwind Logistics GmbH",
        jurisdiction="DE",
        store="home",
    )
    kpi = await _kpi(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        await kpi_service.record_measurement(
            session=session, actor=ACTOR, kpi=kpi, data=_month(1, 97.0)
        )
    return tenant


async def _counts(runtime: Runtime, tenant: Tenant) -> dict[str, int]:
    async with tenant_session(runtime, tenant.slug) as session:
        return {
            model.__tablename__: await session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Kpi, KpiMeasurement, GovernanceItem, EventLogEntry)
        }


async def _actions(runtime: Runtime, tenant: Tenant) -> list[str]:
    async with tenant_session(runtime, tenant.slug) as session:
        assert (await verify_chain(session)).ok
        return list(await session.scalars(select(EventLogEntry.action).order_by(EventLogEntry.seq)))


async def _kpi(runtime: Runtime, tenant: Tenant, data: dict[str, Any] = ON_TIME_DELIVERY) -> Kpi:
    async with tenant_session(runtime, tenant.slug) as session:
        return await kpi_service.create_kpi(session=session, actor=ACTOR, data=data)


def _month(month: int, value: float) -> dict[str, Any]:
    last_day = calendar.monthrange(2026, month)[1]
    return {
        "period_start": date(2026, month, 1),
        "period_end": date(2026, month, last_day),
        "value": value,
    }


async def test_create_kpi_stores_the_definition_and_logs_it(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="kpi")
    kpi = await _kpi(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        stored = await kpi_service.get_kpi_by_key(session=session, key="on-time-delivery")
        assert stored.id == kpi.id
        assert stored.direction is Direction.HIGHER_IS_BETTER
        assert stored.clause_keys == ["iso9001:2015/9.1.1", "iso9001:2015/8.5.1"]
        event = await session.scalar(select(EventLogEntry).order_by(EventLogEntry.seq.desc()))
    assert event is not None and event.action == "kpi.created"
    assert event.record_id == str(kpi.id) and event.change["target"] == 98.0
    assert await _actions(runtime, tenant) == ["tenant.provisioned", "kpi.created"]


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"warning_threshold": 99.0}, "warning_threshold", "THRESHOLDS_INCONSISTENT"),
        ({"breach_threshold": 96.0}, "breach_threshold", "THRESHOLDS_INCONSISTENT"),
        ({"breach_threshold": 95.0}, "breach_threshold", "THRESHOLDS_INCONSISTENT"),
        ({"direction": "lower_is_better"}, "warning_threshold", "THRESHOLDS_INCONSISTENT"),
        ({"direction": "sideways"}, "direction", "INVALID_CHOICE"),
        ({"target": float("nan")}, "target", "INVALID_VALUE"),
        ({"key": "On Time"}, "key", "BAD_KPI_KEY"),
        ({"name": "  "}, "name", "EMPTY"),
        ({"standards": ["iso9001"]}, "standards", "BAD_STANDARD_ID"),
        ({"standards": ["iso9999:2015"]}, "standards", "UNKNOWN_STANDARD"),
        ({"clause_keys": ["iso9001:2015/99.9"]}, "clause_keys", "UNKNOWN_CLAUSE"),
        ({"clause_keys": ["iso9999:2015/9.1"]}, "clause_keys", "UNKNOWN_STANDARD"),
        ({"clause_keys": ["9.1.1"]}, "clause_keys", "BAD_CLAUSE_KEY"),
    ],
)
async def test_bad_kpi_is_refused_naming_the_field_and_nothing_is_written(
    runtime: Runtime,
    shared: Tenant,
    change: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    tenant = shared
    before = await _counts(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        with pytest.raises(BadInput) as refused:
            await kpi_service.create_kpi(
                session=session, actor=ACTOR, data={**ON_TIME_DELIVERY, **change}
            )
    assert (refused.value.field, refused.value.reason) == (field, reason)
    assert await _counts(runtime, tenant) == before


async def test_duplicate_kpi_key_is_a_conflict(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="kpidup")
    await _kpi(runtime, tenant)
    before = await _counts(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        with pytest.raises(Conflict) as refused:
            await kpi_service.create_kpi(
                session=session, actor=ACTOR, data={**ON_TIME_DELIVERY, "name": "Again"}
            )
    assert (refused.value.field, refused.value.reason) == ("key", "DUPLICATE_KPI_KEY")
    assert await _counts(runtime, tenant) == before


@pytest.mark.parametrize(
    ("direction", "value", "rating"),
    [
        (Direction.HIGHER_IS_BETTER, 99.0, Rating.ON_TARGET),
        (Direction.HIGHER_IS_BETTER, 98.0, Rating.ON_TARGET),
        (Direction.HIGHER_IS_BETTER, 96.0, Rating.OFF_TARGET),
        (Direction.HIGHER_IS_BETTER, 95.0, Rating.OFF_TARGET),
        (Direction.HIGHER_IS_BETTER, 92.0, Rating.WARNING),
        (Direction.HIGHER_IS_BETTER, 90.0, Rating.WARNING),
        (Direction.HIGHER_IS_BETTER, 89.9, Rating.BREACH),
        (Direction.LOWER_IS_BETTER, 2.0, Rating.ON_TARGET),
        (Direction.LOWER_IS_BETTER, 5.0, Rating.OFF_TARGET),
        (Direction.LOWER_IS_BETTER, 9.0, Rating.WARNING),
        (Direction.LOWER_IS_BETTER, 10.5, Rating.BREACH),
    ],
)
def test_a_value_worse_than_a_threshold_crosses_it(
    direction: Direction, value: float, rating: Rating
) -> None:
    if direction is Direction.HIGHER_IS_BETTER:
        limits = {"target": 98.0, "warning": 95.0, "breach": 90.0}
    else:
        limits = {"target": 2.0, "warning": 5.0, "breach": 10.0}
    assert rate(direction=direction, value=value, **limits) is rating


async def test_measurement_on_target_opens_nothing(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="kpim")
    kpi = await _kpi(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        outcome = await kpi_service.record_measurement(
            session=session, actor=ACTOR, kpi=kpi, data=_month(1, 98.7)
        )
    assert outcome.opened is None
    assert outcome.measurement.rating is Rating.ON_TARGET
    assert (await _counts(runtime, tenant))["governance_items"] == 0
    assert (await _actions(runtime, tenant))[-1] == "kpi.measured"


async def test_breach_opens_a_governance_item_that_recovery_does_not_close(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="kpib")
    kpi = await _kpi(runtime, tenant, LTIFR)
    async with tenant_session(runtime, tenant.slug) as session:
        breach = await kpi_service.record_measurement(
            session=session, actor=ACTOR, kpi=kpi, data=_month(3, 4.2)
        )
    item = breach.opened
    assert item is not None and item.status is GovernanceStatus.OPEN
    assert item.kpi_id == kpi.id and item.measurement_id == breach.measurement.id
    assert "Lost-time injury frequency rate" in item.title
    assert (await _actions(runtime, tenant))[-2:] == ["kpi.measured", "governance.opened"]

    async with tenant_session(runtime, tenant.slug) as session:
        recovered = await kpi_service.record_measurement(
            session=session, actor=ACTOR, kpi=kpi, data=_month(4, 0.8)
        )
        again = await kpi_service.record_measurement(
            session=session, actor=ACTOR, kpi=kpi, data=_month(5, 3.9)
        )
        items = await kpi_service.list_governance_items(session=session)
    assert recovered.opened is None and again.opened is None
    assert [(i.id, i.status) for i in items] == [(item.id, GovernanceStatus.OPEN)]

    async with tenant_session(runtime, tenant.slug) as session:
        open_item = await session.get(GovernanceItem, item.id)
        assert open_item is not None
        await kpi_service.close_governance_item(
            session=session,
            actor="user:olaf.brandt",
            item=open_item,
            resolution="Safety walk-rounds doubled; toolbox talks on manual handling.",
        )
        with pytest.raises(Conflict, match="closed already"):
            await kpi_service.close_governance_item(
                session=session, actor=ACTOR, item=open_item, resolution="again"
            )
        later = await kpi_service.record_measurement(
            session=session, actor=ACTOR, kpi=kpi, data=_month(6, 5.0)
        )
    assert later.opened is not None and later.opened.id != item.id
    actions = await _actions(runtime, tenant)
    assert actions.count("governance.opened") == 2
    assert "governance.closed" in actions


@pytest.mark.parametrize(
    ("data", "error", "field", "reason"),
    [
        (
            {"period_start": date(2026, 2, 1), "period_end": date(2026, 1, 31), "value": 97.0},
            BadInput,
            "period_end",
            "PERIOD_END_BEFORE_START",
        ),
        ({**_month(1, float("inf"))}, BadInput, "value", "INVALID_VALUE"),
        (
            {**_month(1, 97.0), "measured_at": datetime(2026, 2, 1, 9, 0)},
            BadInput,
            "measured_at",
            "INVALID_VALUE",
        ),
        ({**_month(1, 50.0), "period_start": date(2026, 1, 15)}, Conflict, "period_end", None),
    ],
)
async def test_bad_measurement_is_refused_and_nothing_is_written(
    runtime: Runtime,
    shared: Tenant,
    data: dict[str, Any],
    error: type[AccordError],
    field: str,
    reason: str | None,
) -> None:
    tenant = shared
    async with tenant_session(runtime, tenant.slug) as session:
        kpi = await kpi_service.get_kpi_by_key(session=session, key="on-time-delivery")
    before = await _counts(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        with pytest.raises(error) as refused:
            await kpi_service.record_measurement(session=session, actor=ACTOR, kpi=kpi, data=data)
    assert refused.value.field == field
    assert refused.value.reason == (reason or "DUPLICATE_MEASUREMENT")
    assert await _counts(runtime, tenant) == before


async def test_retargeting_checks_the_thresholds_against_the_direction(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="kpit")
    kpi = await _kpi(runtime, tenant)
    before = await _counts(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        with pytest.raises(BadInput) as refused:
            await kpi_service.set_targets(
                session=session,
                actor=ACTOR,
                kpi=kpi,
                target=90.0,
                warning_threshold=95.0,
                breach_threshold=98.0,
            )
    assert refused.value.reason == "THRESHOLDS_INCONSISTENT"
    assert await _counts(runtime, tenant) == before
    async with tenant_session(runtime, tenant.slug) as session:
        stored = await kpi_service.get_kpi(session=session, kpi_id=kpi.id)
        await kpi_service.set_targets(
            session=session,
            actor=ACTOR,
            kpi=stored,
            target=99.0,
            warning_threshold=96.0,
            breach_threshold=92.0,
        )
    async with tenant_session(runtime, tenant.slug) as session:
        stored = await kpi_service.get_kpi(session=session, kpi_id=kpi.id)
        event = await session.scalar(select(EventLogEntry).order_by(EventLogEntry.seq.desc()))
    assert (stored.target, stored.warning_threshold, stored.breach_threshold) == (99, 96, 92)
    assert event is not None and event.action == "kpi.retargeted"
    assert event.change["from"]["target"] == 98.0 and event.change["to"]["target"] == 99.0


DURING_THE_WINDOW = datetime(2026, 11, 20, 8, tzinfo=UTC)
LONG_AFTER_IT = datetime(2027, 3, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    "fixed_clock", [DURING_THE_WINDOW, LONG_AFTER_IT], ids=["during", "after"], indirect=True
)
async def test_performance_reports_the_measurements_of_the_window(
    runtime: Runtime, make_tenant: TenantFactory, fixed_clock: clock.FixedClock
) -> None:
    # Recorded now, whatever day that is: the window is decided by the records alone.
    tenant = await make_tenant(label="kpip")
    otd = await _kpi(runtime, tenant)
    ltifr = await _kpi(runtime, tenant, LTIFR)
    async with tenant_session(runtime, tenant.slug) as session:
        for month, value in [(9, 97.1), (10, 98.4), (11, 89.0), (12, 96.0)]:
            await kpi_service.record_measurement(
                session=session, actor=ACTOR, kpi=otd, data=_month(month, value)
            )
        await kpi_service.record_measurement(
            session=session,
            actor=ACTOR,
            kpi=ltifr,
            data={**_month(11, 1.5), "measured_at": datetime(2026, 12, 2, tzinfo=UTC)},
        )
        results = await kpi_service.performance(
            session=session, period_start=date(2026, 10, 1), period_end=date(2026, 11, 30)
        )
    by_key = {r["key"]: r for r in results}
    assert [m["value"] for m in by_key["on-time-delivery"]["measurements"]] == [98.4, 89.0]
    assert by_key["on-time-delivery"]["latest_rating"] == "breach"
    assert len(by_key["on-time-delivery"]["governance_items"]) == 1
    assert by_key["ltifr"]["measurements"] == [
        {
            "period_start": "2026-11-01",
            "period_end": "2026-11-30",
            "value": 1.5,
            "rating": "off_target",
        }
    ]


async def test_a_breach_of_an_earlier_period_is_carried_over_while_it_is_open(
    runtime: Runtime, make_tenant: TenantFactory, fixed_clock: clock.FixedClock
) -> None:
    tenant = await make_tenant(label="kpic")
    otd = await _kpi(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        await kpi_service.record_measurement(
            session=session, actor=ACTOR, kpi=otd, data=_month(9, 85.0)
        )
        [september] = await kpi_service.list_governance_items(session=session)

    async def breaches(start: date, end: date) -> list[str]:
        async with tenant_session(runtime, tenant.slug) as session:
            results = await kpi_service.performance(
                session=session, period_start=start, period_end=end
            )
        [entry] = results
        return [item["id"] for item in entry["governance_items"]]

    q3, q4 = (date(2026, 7, 1), date(2026, 9, 30)), (date(2026, 10, 1), date(2026, 12, 31))
    assert await breaches(*q3) == [str(september.id)], "its own period"
    assert await breaches(*q4) == [str(september.id)], "still open: carried over"
    assert await breaches(date(2026, 6, 1), date(2026, 6, 30)) == [], "before it happened"

    # Closed in January: Q4's review still had it open at the end of its period.
    fixed_clock.set(datetime(2027, 1, 12, 10, tzinfo=UTC))
    async with tenant_session(runtime, tenant.slug) as session:
        [item] = await kpi_service.list_governance_items(session=session)
        await kpi_service.close_governance_item(
            session=session, actor=ACTOR, item=item, resolution="Carrier replaced"
        )
    assert await breaches(*q4) == [str(september.id)]
    q1, q2 = (date(2027, 1, 1), date(2027, 3, 31)), (date(2027, 4, 1), date(2027, 6, 30))
    assert await breaches(*q1) == [str(september.id)], "decided in the window"
    assert await breaches(*q2) == [], "decided before the window"
    assert await breaches(*q3) == [str(september.id)], "its own period keeps it"
