"""``reportIncident``: one's own organisation reports an incident, and the partner
notifications its agreements require start their clocks.

The incident is recorded in the reporter's own store; every partner whose agreement's
notification policy covers the incident's severity is owed a notification by the
agreement's deadline (the earlier one when two agreements bind the pair), all in one
transaction (``report_incident_with_agreements``, as the demo and the connectors use).
Delivery is ``accord incidents deliver``'s work; a late or missing notification is flagged
on both sides.

Gates: one's own organisation only; the action gate must allow ``respond`` on its
incidents (reporting is the Responsible party's work: quality managers do, viewers do not).
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from accord.compliance.incidents.models import IncidentNotification, IncidentReport
from accord.compliance.incidents.webhooks.flows import report_incident_with_agreements
from accord.compliance.sharing.reads import SharedRecord
from accord.graphql.context import Context
from accord.graphql.errors import IncidentError
from accord.graphql.records.common import require_own_gate
from accord.graphql.records.incidents import RECORD_TYPE, IncidentReportNode
from accord.platform.errors import AccordError
from accord.policies.vocab import user_subject
from accord.tenants.agreements.models import SharingLevel

REPORT_ACTION = "respond"


@strawberry.input(description="An incident of your organisation.")
class ReportIncidentInput:
    reference: str
    title: str
    severity: int = strawberry.field(description="1 (most severe) to 4.")
    occurred_at: datetime
    detected_at: datetime
    reported_at: datetime | None = strawberry.field(default=None, description="Default: now.")
    description: str


@strawberry.type(
    name="RequiredIncidentNotification",
    description="A partner the incident must be notified to, and by when.",
)
class RequiredNotificationType:
    partner: str
    required_by: datetime
    deadline_hours: float


@strawberry.type
class ReportIncidentPayload:
    incident: IncidentReportNode | None
    notifications: list[RequiredNotificationType] = strawberry.field(
        description="The notifications your agreements require, with their deadlines."
    )
    errors: list[IncidentError]


def _node(owner: str, incident: IncidentReport) -> IncidentReportNode:
    fields = {c.key: getattr(incident, c.key) for c in IncidentReport.__table__.c}
    record = SharedRecord(
        owner=owner, level=SharingLevel.FULL.value, record_type=RECORD_TYPE, fields=fields
    )
    return IncidentReportNode.from_shared(record)


def _notification(n: IncidentNotification) -> RequiredNotificationType:
    return RequiredNotificationType(
        partner=n.partner, required_by=n.required_by, deadline_hours=n.deadline_hours
    )


async def report_incident(
    info: strawberry.Info[Context, None], input: ReportIncidentInput
) -> ReportIncidentPayload:
    context = info.context
    try:
        principal, own, _ = require_own_gate(
            context, REPORT_ACTION, [RECORD_TYPE], what="report your organisation's incidents"
        )
        incident, notifications = await report_incident_with_agreements(
            runtime=context.runtime,
            owner=own,
            actor=user_subject(own, principal.subject),
            data={
                "reference": input.reference,
                "title": input.title,
                "severity": input.severity,
                "occurred_at": input.occurred_at,
                "detected_at": input.detected_at,
                "reported_at": input.reported_at,
                "description": input.description,
            },
        )
    except AccordError as exc:
        return ReportIncidentPayload(
            incident=None, notifications=[], errors=[IncidentError.of(exc)]
        )
    return ReportIncidentPayload(
        incident=_node(own, incident),
        notifications=[_notification(n) for n in notifications],
        errors=[],
    )


@strawberry.type
class IncidentReportMutations:
    report_incident: ReportIncidentPayload = strawberry.mutation(
        resolver=report_incident,
        description="Report an incident of your organisation; the partner notifications its "
        "agreements require start with their deadlines.",
    )
