"""KPI measurements and the governance items a breach opens.

``recordKpiMeasurement`` stores one period's value of a KPI in its owner's store, rated
against the KPI's target and thresholds; a breach opens a governance item (unless one is
open for the KPI already) for management to review. ``governanceItems`` lists one's own
organisation's items for review, ``closeGovernanceItem`` closes one with what was decided
(a person does; a value back on target never does).

Gates: a partner's KPI may be measured only under an agreement sharing ``kpi`` records
with the caller's organisation (``full`` or ``summary``) and only by someone who may read
it (else it does not exist for them: NOT_FOUND); the action gate must allow ``respond``
(reporting the period's value is the Responsible party's work) under the process named.
Governance items are one's own organisation's: ``read`` on its KPIs to list them,
``approve`` to close one. A refused measurement by a caller with standing is kept in the
owner's event log.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from accord.compliance.kpis import service as kpi_service
from accord.compliance.kpis.models import GovernanceItem, GovernanceStatus, KpiMeasurement, Rating
from accord.compliance.records.refusals import record_refusal
from accord.graphql.audits.access import (
    Caller,
    require_action,
    require_visible,
    sovereign,
    worth_logging,
)
from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.graphql.errors import KpiError
from accord.graphql.listing import Process
from accord.graphql.records.common import require_own_gate
from accord.graphql.relay import GlobalId
from accord.platform.errors import AccordError, BadInput, NotFound
from accord.policies.schemas import Resource
from accord.tenants.sessions import tenant_session

RECORD_TYPE = "kpi"
MEASURE_ACTION = "respond"


@strawberry.enum(name="KpiRating", description="Where a value falls against target and thresholds.")
class KpiRatingEnum(Enum):
    ON_TARGET = strawberry.enum_value(Rating.ON_TARGET.value, description="Target met.")
    OFF_TARGET = strawberry.enum_value(
        Rating.OFF_TARGET.value, description="Target missed, within the warning threshold."
    )
    WARNING = strawberry.enum_value(
        Rating.WARNING.value, description="Past the warning threshold, not the breach one."
    )
    BREACH = strawberry.enum_value(
        Rating.BREACH.value, description="Past the breach threshold: a governance item opens."
    )


@strawberry.type(name="KpiMeasurement", description="One period's value of a KPI.")
class KpiMeasurementType:
    id: uuid.UUID
    kpi_id: uuid.UUID
    period_start: date
    period_end: date
    value: float
    rating: KpiRatingEnum
    measured_at: datetime

    @classmethod
    def from_model(cls, m: KpiMeasurement) -> KpiMeasurementType:
        return cls(
            id=m.id,
            kpi_id=m.kpi_id,
            period_start=m.period_start,
            period_end=m.period_end,
            value=m.value,
            rating=KpiRatingEnum(m.rating.value),
            measured_at=m.measured_at,
        )


@strawberry.type(
    name="GovernanceItem",
    description="Something management must review, e.g. a KPI breach; closed by a person.",
)
class GovernanceItemType:
    id: uuid.UUID
    kind: str = strawberry.field(description="e.g. kpi_breach.")
    kpi_id: uuid.UUID | None
    measurement_id: uuid.UUID | None
    title: str
    status: str = strawberry.field(description="open or closed.")
    opened_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    resolution: str | None

    @classmethod
    def from_model(cls, item: GovernanceItem) -> GovernanceItemType:
        return cls(
            id=item.id,
            kind=item.kind.value,
            kpi_id=item.kpi_id,
            measurement_id=item.measurement_id,
            title=item.title,
            status=item.status.value,
            opened_at=item.opened_at,
            closed_at=item.closed_at,
            closed_by=item.closed_by,
            resolution=item.resolution,
        )


@strawberry.input(description="One period's value of a KPI.")
class RecordKpiMeasurementInput:
    period_start: date
    period_end: date
    value: float
    measured_at: datetime | None = strawberry.field(default=None, description="Default: now.")


@strawberry.type
class RecordKpiMeasurementPayload:
    measurement: KpiMeasurementType | None
    governance_item: GovernanceItemType | None = strawberry.field(
        description="The governance item this measurement opened (a breach with none open "
        "for the KPI yet), else null."
    )
    errors: list[KpiError]


@strawberry.type
class CloseGovernanceItemPayload:
    governance_item: GovernanceItemType | None
    errors: list[KpiError]


def kpi_not_found() -> NotFound:
    return NotFound("No such KPI.", reason="KPI_NOT_FOUND", field="kpi_id")


async def record_kpi_measurement(
    info: strawberry.Info[Context, None],
    kpi_id: strawberry.ID,
    input: RecordKpiMeasurementInput,
    process: Process = None,
) -> RecordKpiMeasurementPayload:
    context = info.context
    caller: Caller | None = None
    gid: GlobalId | None = None
    try:
        gid = GlobalId.decode(kpi_id, expected="Kpi")
        caller = await sovereign(
            context, owner=gid.tenant, record_type=RECORD_TYPE, unshared=kpi_not_found
        )
        resource = Resource(gid.tenant, RECORD_TYPE, process)
        require_visible(context, caller, resource, kpi_not_found)
        require_action(context, caller, MEASURE_ACTION, resource)
        async with tenant_session(context.runtime, gid.tenant) as session:
            try:
                kpi = await kpi_service.get_kpi(session=session, kpi_id=gid.record_id)
            except NotFound:
                raise kpi_not_found() from None
            outcome = await kpi_service.record_measurement(
                session=session,
                actor=caller.actor,
                kpi=kpi,
                data={
                    "period_start": input.period_start,
                    "period_end": input.period_end,
                    "value": input.value,
                    "measured_at": input.measured_at,
                },
            )
            measurement = KpiMeasurementType.from_model(outcome.measurement)
            opened = (
                None if outcome.opened is None else GovernanceItemType.from_model(outcome.opened)
            )
    except AccordError as exc:
        logged = worth_logging(exc) and not isinstance(exc, BadInput)
        if logged and caller is not None and gid is not None:
            await _log_refused(context, gid, caller, exc)
        return RecordKpiMeasurementPayload(
            measurement=None, governance_item=None, errors=[KpiError.of(exc)]
        )
    return RecordKpiMeasurementPayload(measurement=measurement, governance_item=opened, errors=[])


async def _log_refused(context: Context, gid: GlobalId, caller: Caller, exc: AccordError) -> None:
    try:
        async with tenant_session(context.runtime, gid.tenant) as session:
            await kpi_service.get_kpi(session=session, kpi_id=gid.record_id)
            await record_refusal(
                session=session,
                actor=caller.actor,
                record_type=RECORD_TYPE,
                record_id=gid.record_id,
                attempt="record_measurement",
                error=exc,
            )
    except AccordError:
        return  # no such KPI: nothing to tell its owner


async def close_governance_item(
    info: strawberry.Info[Context, None], id: uuid.UUID, resolution: str
) -> CloseGovernanceItemPayload:
    context = info.context
    try:
        _, own, _ = require_own_gate(
            context, "approve", [RECORD_TYPE], what="close your organisation's governance items"
        )
        principal, _ = require_tenant(context)
        async with tenant_session(context.runtime, own) as session:
            item = await session.get(GovernanceItem, id)
            if item is None:
                raise NotFound(
                    "No such governance item.", reason="GOVERNANCE_ITEM_NOT_FOUND", field="id"
                )
            item = await kpi_service.close_governance_item(
                session=session,
                actor=f"user:{own}/{principal.subject}",
                item=item,
                resolution=resolution,
            )
            node = GovernanceItemType.from_model(item)
    except AccordError as exc:
        return CloseGovernanceItemPayload(governance_item=None, errors=[KpiError.of(exc)])
    return CloseGovernanceItemPayload(governance_item=node, errors=[])


@strawberry.type
class GovernanceQueries:
    @strawberry.field(
        description="Your organisation's governance items for review (KPI breaches), "
        "oldest first; open ones only unless `includeClosed`."
    )
    async def governance_items(
        self,
        info: strawberry.Info[Context, None],
        include_closed: Annotated[
            bool, strawberry.argument(description="Closed items too, with their resolution.")
        ] = False,
    ) -> list[GovernanceItemType]:
        context = info.context
        _, own, _ = require_own_gate(
            context, "read", [RECORD_TYPE], what="read your organisation's governance items"
        )
        async with tenant_session(context.runtime, own) as session:
            items = await kpi_service.list_governance_items(
                session=session, status=None if include_closed else GovernanceStatus.OPEN
            )
            return [GovernanceItemType.from_model(i) for i in items]


@strawberry.type
class KpiMutations:
    record_kpi_measurement: RecordKpiMeasurementPayload = strawberry.mutation(
        resolver=record_kpi_measurement,
        description="Record one period's value of a KPI, in its owner's store; a breach "
        "opens a governance item for review.",
    )
    close_governance_item: CloseGovernanceItemPayload = strawberry.mutation(
        resolver=close_governance_item,
        description="Close one of your organisation's governance items, saying what was decided.",
    )
