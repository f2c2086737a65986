"""What KPI services accept, and the rules a value must pass before anything is written.

Validators raise ``custom_error("REASON", ...)``; ``parse_input`` turns the first problem
into a ``BadInput`` naming the field, e.g. ``THRESHOLDS_INCONSISTENT`` on
``breach_threshold``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from accord.compliance.kpis.models import Direction, GovernanceItem, Kpi, KpiMeasurement, Rating
from accord.compliance.records.inputs import InputModel, NonEmpty, clause_keys, custom_error
from accord.compliance.records.provenance import ProvenanceIn
from accord.compliance.vocab import is_standard_id

KPI_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def standard_ids(values: list[str]) -> list[str]:
    """Well-formed, de-duplicated standard ids (the catalog decides whether they exist)."""
    for value in values:
        if not is_standard_id(value):
            raise custom_error(
                "BAD_STANDARD_ID", f"{value!r} is not a standard id (e.g. 'iso9001:2015')"
            )
    return list(dict.fromkeys(values))


def period_end_after_start(value: date, info: ValidationInfo) -> date:
    start = info.data.get("period_start")
    if start is not None and value < start:
        raise custom_error(
            "PERIOD_END_BEFORE_START", f"the period ends ({value}) before it starts ({start})"
        )
    return value


StandardIds = Annotated[list[str], AfterValidator(standard_ids)]
ClauseKeys = Annotated[list[str], AfterValidator(clause_keys)]
PeriodEnd = Annotated[date, AfterValidator(period_end_after_start)]


def _sign(direction: Direction) -> int:
    return 1 if direction == Direction.HIGHER_IS_BETTER else -1


class ThresholdsIn(InputModel):
    """Target, warning and breach in the order the direction implies."""

    model_config = ConfigDict(allow_inf_nan=False)

    direction: Direction
    target: float
    warning_threshold: float
    breach_threshold: float

    @field_validator("warning_threshold")
    @classmethod
    def _warning_beyond_target(cls, value: float, info: ValidationInfo) -> float:
        return _beyond(info, value, "warning threshold", "target", "target")

    @field_validator("breach_threshold")
    @classmethod
    def _breach_beyond_warning(cls, value: float, info: ValidationInfo) -> float:
        return _beyond(info, value, "breach threshold", "warning_threshold", "warning threshold")


def _beyond(info: ValidationInfo, value: float, what: str, field: str, than: str) -> float:
    """``value`` must be worse than ``info.data[field]`` in the direction of the KPI."""
    direction, other = info.data.get("direction"), info.data.get(field)
    if direction is None or other is None or _sign(direction) * other > _sign(direction) * value:
        return value
    side = "below" if direction == Direction.HIGHER_IS_BETTER else "above"
    raise custom_error(
        "THRESHOLDS_INCONSISTENT",
        f"for a {direction} KPI the {what} must lie {side} the {than}: "
        f"{value:g} is not {side} {other:g}",
    )


class KpiIn(ThresholdsIn, ProvenanceIn):
    key: str
    name: NonEmpty
    definition: NonEmpty
    unit: NonEmpty
    owner: NonEmpty
    standards: StandardIds = Field(default_factory=list)
    clause_keys: ClauseKeys = Field(default_factory=list)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not KPI_KEY_RE.match(value):
            raise custom_error(
                "BAD_KPI_KEY",
                "a KPI key is 1-64 characters of a-z, 0-9, '.', '_', '-', e.g. 'on-time-delivery'",
            )
        return value


class MeasurementIn(ProvenanceIn):
    model_config = ConfigDict(allow_inf_nan=False)

    period_start: date
    period_end: PeriodEnd
    value: float
    measured_at: AwareDatetime | None = None


@dataclass(frozen=True, slots=True)
class MeasurementOutcome:
    measurement: KpiMeasurement
    #: The governance item this measurement opened (a breach with none open yet), else None.
    opened: GovernanceItem | None


def rate(
    *, direction: Direction, target: float, warning: float, breach: float, value: float
) -> Rating:
    """Where ``value`` falls; a value *worse than* a threshold has crossed it."""
    sign = _sign(direction)
    if sign * value >= sign * target:
        return Rating.ON_TARGET
    if sign * value >= sign * warning:
        return Rating.OFF_TARGET
    if sign * value >= sign * breach:
        return Rating.WARNING
    return Rating.BREACH


def performance_entry(
    kpi: Kpi, measurements: list[KpiMeasurement], items: list[GovernanceItem]
) -> dict[str, Any]:
    """One KPI's results in a review period, as JSON values."""
    return {
        "key": kpi.key,
        "name": kpi.name,
        "unit": kpi.unit,
        "direction": kpi.direction.value,
        "target": kpi.target,
        "warning_threshold": kpi.warning_threshold,
        "breach_threshold": kpi.breach_threshold,
        "owner": kpi.owner,
        "measurements": [
            {
                "period_start": m.period_start.isoformat(),
                "period_end": m.period_end.isoformat(),
                "value": m.value,
                "rating": m.rating.value,
            }
            for m in measurements
        ],
        "latest_rating": measurements[-1].rating.value if measurements else None,
        "governance_items": [
            {
                "id": str(i.id),
                "title": i.title,
                "status": i.status.value,
                "opened_at": i.opened_at.astimezone(UTC).isoformat(),
            }
            for i in items
        ],
    }
