"""What incident services accept, and the notification policy that sets partner deadlines.

A policy is data (agreements will supply it): severity → hours, counted from detection by
default — the moment the organisation became aware, as NIS2 and GDPR count — or from
occurrence when an agreement says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, PositiveFloat, ValidationInfo, field_validator

from accord.compliance.incidents.models import SEVERITIES, IncidentReport
from accord.compliance.records.inputs import InputModel, NonEmpty, custom_error, tenant_slug
from accord.compliance.records.provenance import ProvenanceIn
from accord.platform.errors import BadInput


class ClockStart(StrEnum):
    DETECTED_AT = "detected_at"
    OCCURRED_AT = "occurred_at"


def severity_in_range(value: int) -> int:
    if value not in SEVERITIES:
        raise custom_error(
            "OUT_OF_RANGE", f"severity is 1 (most severe) to 4 (least severe); got {value}"
        )
    return value


Severity = Annotated[int, AfterValidator(severity_in_range)]
PartnerSlug = Annotated[str, AfterValidator(tenant_slug)]


def _not_before(value: datetime, info: ValidationInfo, field: str, reason: str) -> datetime:
    earlier = info.data.get(field)
    if earlier is not None and value < earlier:
        raise custom_error(reason, f"{info.field_name} ({value}) is before {field} ({earlier})")
    return value


class NotificationPolicy(InputModel):
    """Hours to notify a partner, by severity; severities not listed need no notification."""

    deadline_hours: dict[Severity, PositiveFloat]
    clock_starts: ClockStart = ClockStart.DETECTED_AT

    def deadline(self, incident: IncidentReport) -> tuple[float, datetime]:
        """Hours allowed and the moment they run out, or BadInput if none is set."""
        hours = self.deadline_hours.get(incident.severity)
        if hours is None:
            raise BadInput(
                f"The notification policy sets no deadline for severity {incident.severity}.",
                reason="NO_DEADLINE_FOR_SEVERITY",
                field="severity",
            )
        start: datetime = getattr(incident, self.clock_starts.value)
        return hours, start + timedelta(hours=hours)


class IncidentIn(ProvenanceIn):
    reference: NonEmpty
    title: NonEmpty
    severity: Severity
    occurred_at: AwareDatetime
    detected_at: AwareDatetime
    reported_at: AwareDatetime | None = None
    description: NonEmpty

    @field_validator("detected_at")
    @classmethod
    def _detected(cls, value: datetime, info: ValidationInfo) -> datetime:
        return _not_before(value, info, "occurred_at", "DETECTED_BEFORE_OCCURRED")

    @field_validator("reported_at")
    @classmethod
    def _reported(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None:
            return None
        return _not_before(value, info, "detected_at", "REPORTED_BEFORE_DETECTED")


class NotifyIn(InputModel):
    partners: list[PartnerSlug]
