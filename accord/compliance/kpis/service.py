"""KPIs: definitions, measurements, and the governance items a breach opens.

The caller owns the transaction. Every input is validated (``schemas``) and checked against
the catalog and existing rows before anything is written, so a refused call leaves no row
and no event behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.catalog import service as catalog_service
from accord.compliance.catalog.service import check_clauses
from accord.compliance.kpis.models import (
    GovernanceItem,
    GovernanceKind,
    GovernanceStatus,
    Kpi,
    KpiMeasurement,
    Rating,
)
from accord.compliance.kpis.schemas import (
    KpiIn,
    MeasurementIn,
    MeasurementOutcome,
    ThresholdsIn,
    performance_entry,
    rate,
)
from accord.compliance.records.day import now
from accord.compliance.records.history import log_change
from accord.compliance.records.inputs import parse_input
from accord.compliance.records.provenance import provenance_of, reject_duplicate
from accord.platform.errors import BadInput, Conflict, NotFound


async def require_standards(*, session: AsyncSession, standards: Sequence[str]) -> None:
    """Every standard id must name a standard of the catalog (field ``standards``)."""
    for standard_id in standards:
        try:
            await catalog_service.get_standard(session=session, standard_id=standard_id)
        except NotFound:
            raise BadInput(
                f"{standard_id!r} is not a standard of the catalog.",
                reason="UNKNOWN_STANDARD",
                field="standards",
            ) from None


async def create_kpi(*, session: AsyncSession, actor: str, data: KpiIn | Mapping[str, Any]) -> Kpi:
    kpi_in = parse_input(KpiIn, data)
    await require_standards(session=session, standards=kpi_in.standards)
    await check_clauses(session, kpi_in.clause_keys)
    if await session.scalar(select(Kpi.id).where(Kpi.key == kpi_in.key)) is not None:
        raise Conflict(
            f"A KPI with key {kpi_in.key!r} exists already.",
            reason="DUPLICATE_KPI_KEY",
            field="key",
        )
    await reject_duplicate(session, Kpi, kpi_in)
    values = kpi_in.model_dump(exclude=set(provenance_of(kpi_in)))
    kpi = Kpi(**values, **provenance_of(kpi_in), created_by=actor, updated_by=actor)
    session.add(kpi)
    await session.flush()
    await log_change(session, actor=actor, action="kpi.created", record=kpi, change=values)
    return kpi


async def get_kpi(*, session: AsyncSession, kpi_id: uuid.UUID) -> Kpi:
    kpi = await session.get(Kpi, kpi_id)
    if kpi is None:
        raise NotFound(f"No KPI {kpi_id}.", reason="UNKNOWN_KPI", field="kpi_id")
    return kpi


async def get_kpi_by_key(*, session: AsyncSession, key: str) -> Kpi:
    kpi = await session.scalar(select(Kpi).where(Kpi.key == key))
    if kpi is None:
        raise NotFound(f"No KPI with key {key!r}.", reason="UNKNOWN_KPI", field="key")
    return kpi


async def list_kpis(*, session: AsyncSession) -> list[Kpi]:
    return list(await session.scalars(select(Kpi).order_by(Kpi.key)))


async def set_targets(
    *,
    session: AsyncSession,
    actor: str,
    kpi: Kpi,
    target: float,
    warning_threshold: float,
    breach_threshold: float,
) -> Kpi:
    """New target and thresholds; earlier measurements keep the rating they were given."""
    new = parse_input(
        ThresholdsIn,
        {
            "direction": kpi.direction,
            "target": target,
            "warning_threshold": warning_threshold,
            "breach_threshold": breach_threshold,
        },
    ).model_dump(exclude={"direction"})
    old = {field: getattr(kpi, field) for field in new}
    for field, value in new.items():
        setattr(kpi, field, value)
    kpi.updated_by = actor
    await session.flush()
    await log_change(
        session, actor=actor, action="kpi.retargeted", record=kpi, change={"from": old, "to": new}
    )
    return kpi


async def record_measurement(
    *, session: AsyncSession, actor: str, kpi: Kpi, data: MeasurementIn | Mapping[str, Any]
) -> MeasurementOutcome:
    """Store one period's value; a breach opens a governance item unless one is open.

    A later value back on target does not close the item: a person closes it, saying what
    management decided (``close_governance_item``).
    """
    m_in = parse_input(MeasurementIn, data)
    duplicate = await session.scalar(
        select(KpiMeasurement.id).where(
            KpiMeasurement.kpi_id == kpi.id, KpiMeasurement.period_end == m_in.period_end
        )
    )
    if duplicate is not None:
        raise Conflict(
            f"KPI {kpi.key!r} already has a measurement for the period ending {m_in.period_end}.",
            reason="DUPLICATE_MEASUREMENT",
            field="period_end",
        )
    await reject_duplicate(session, KpiMeasurement, m_in)
    rating = rate(
        direction=kpi.direction,
        target=kpi.target,
        warning=kpi.warning_threshold,
        breach=kpi.breach_threshold,
        value=m_in.value,
    )
    measurement = KpiMeasurement(
        kpi_id=kpi.id,
        period_start=m_in.period_start,
        period_end=m_in.period_end,
        value=m_in.value,
        rating=rating,
        measured_at=m_in.measured_at or now(),
        **provenance_of(m_in),
        created_by=actor,
        updated_by=actor,
    )
    session.add(measurement)
    await session.flush()
    already_open = None
    if rating == Rating.BREACH:
        already_open = await session.scalar(
            select(GovernanceItem.id).where(
                GovernanceItem.kind == GovernanceKind.KPI_BREACH,
                GovernanceItem.kpi_id == kpi.id,
                GovernanceItem.status == GovernanceStatus.OPEN,
            )
        )
    change = {
        "kpi": kpi.key,
        "kpi_id": kpi.id,
        "period_start": m_in.period_start,
        "period_end": m_in.period_end,
        "value": m_in.value,
        "rating": rating,
        "open_governance_item": already_open,
    }
    await log_change(session, actor=actor, action="kpi.measured", record=measurement, change=change)
    opened = None
    if rating == Rating.BREACH and already_open is None:
        opened = await _open_breach(session=session, actor=actor, kpi=kpi, measurement=measurement)
    return MeasurementOutcome(measurement=measurement, opened=opened)


async def _open_breach(
    *, session: AsyncSession, actor: str, kpi: Kpi, measurement: KpiMeasurement
) -> GovernanceItem:
    item = GovernanceItem(
        kind=GovernanceKind.KPI_BREACH,
        kpi_id=kpi.id,
        measurement_id=measurement.id,
        title=(
            f"KPI breach: {kpi.name} at {measurement.value:g} {kpi.unit} for the period ending "
            f"{measurement.period_end} (breach threshold {kpi.breach_threshold:g})"
        ),
        status=GovernanceStatus.OPEN,
        opened_at=now(),
        created_by=actor,
        updated_by=actor,
    )
    session.add(item)
    await session.flush()
    await log_change(
        session,
        actor=actor,
        action="governance.opened",
        record=item,
        change={
            "kind": item.kind,
            "kpi": kpi.key,
            "measurement_id": measurement.id,
            "title": item.title,
        },
    )
    return item


async def list_measurements(
    *,
    session: AsyncSession,
    kpi: Kpi,
    period_start: date | None = None,
    period_end: date | None = None,
) -> list[KpiMeasurement]:
    """The KPI's measurements whose period ends within the given bounds, oldest first."""
    stmt = select(KpiMeasurement).where(KpiMeasurement.kpi_id == kpi.id)
    if period_start is not None:
        stmt = stmt.where(KpiMeasurement.period_end >= period_start)
    if period_end is not None:
        stmt = stmt.where(KpiMeasurement.period_end <= period_end)
    return list(await session.scalars(stmt.order_by(KpiMeasurement.period_end)))


async def list_governance_items(
    *, session: AsyncSession, status: GovernanceStatus | None = None
) -> list[GovernanceItem]:
    stmt = select(GovernanceItem).order_by(GovernanceItem.opened_at, GovernanceItem.id)
    if status is not None:
        stmt = stmt.where(GovernanceItem.status == status)
    return list(await session.scalars(stmt))


async def close_governance_item(
    *, session: AsyncSession, actor: str, item: GovernanceItem, resolution: str
) -> GovernanceItem:
    """A person closes a governance item, saying what was decided; data never does."""
    if item.status != GovernanceStatus.OPEN:
        raise Conflict(
            "The governance item is closed already.", reason="ALREADY_CLOSED", field="status"
        )
    if not resolution.strip():
        raise BadInput(
            "Closing a governance item needs the resolution.",
            reason="RESOLUTION_REQUIRED",
            field="resolution",
        )
    item.status = GovernanceStatus.CLOSED
    item.closed_at, item.closed_by, item.resolution = now(), actor, resolution.strip()
    item.updated_by = actor
    await session.flush()
    await log_change(
        session,
        actor=actor,
        action="governance.closed",
        record=item,
        change={"status": item.status, "resolution": item.resolution},
    )
    return item


async def performance(
    *, session: AsyncSession, period_start: date, period_end: date
) -> list[dict[str, Any]]:
    """Every KPI with its measurements whose period ends in the window, as JSON values: a
    review's "KPI performance".

    Each KPI also carries the breach items a management review has to look at, decided by
    the records alone (never by the day the review is compiled):
    - the breaches of the window's own measurements, whenever they were recorded;
    - breaches of earlier periods that were open at any time in the window (still open, or
      decided during it): carried over until somebody decides on them, and reported once
      more in the period they were decided in.
    """
    measurements = await session.scalars(
        select(KpiMeasurement)
        .where(KpiMeasurement.period_end >= period_start, KpiMeasurement.period_end <= period_end)
        .order_by(KpiMeasurement.period_end)
    )
    by_kpi: dict[uuid.UUID | None, list[KpiMeasurement]] = {}
    for m in measurements:
        by_kpi.setdefault(m.kpi_id, []).append(m)
    window_start = datetime.combine(period_start, time.min, UTC)
    breached = KpiMeasurement.period_end
    items = await session.scalars(
        select(GovernanceItem)
        .join(KpiMeasurement, KpiMeasurement.id == GovernanceItem.measurement_id)
        .where(
            GovernanceItem.kind == GovernanceKind.KPI_BREACH,
            breached <= period_end,
            or_(
                breached >= period_start,
                GovernanceItem.closed_at.is_(None),
                GovernanceItem.closed_at >= window_start,
            ),
        )
        .order_by(breached, GovernanceItem.opened_at, GovernanceItem.id)
    )
    breaches: dict[uuid.UUID | None, list[GovernanceItem]] = {}
    for item in items:
        breaches.setdefault(item.kpi_id, []).append(item)
    return [
        performance_entry(kpi, by_kpi.get(kpi.id, []), breaches.get(kpi.id, []))
        for kpi in await list_kpis(session=session)
    ]
