"""Incident reports and their partner notifications. The caller owns the transaction.

Reporting an incident with partners to notify gives each partner a notification row whose
deadline comes from a notification policy (severity → hours, passed in as data). A
notification is late when made after its deadline, or still unmade once the deadline has
passed; ``late_notifications`` lists both kinds.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from accord.compliance.incidents.models import IncidentNotification, IncidentReport, IncidentStatus
from accord.compliance.incidents.schemas import IncidentIn, NotificationPolicy, NotifyIn
from accord.compliance.records.day import now
from accord.compliance.records.history import log_change
from accord.compliance.records.inputs import parse_input
from accord.compliance.records.provenance import provenance_of, reject_duplicate
from accord.platform.errors import BadInput, Conflict, NotFound

_STATUS_ORDER = list(IncidentStatus)


async def report_incident(
    *,
    session: AsyncSession,
    actor: str,
    data: IncidentIn | Mapping[str, Any],
    notify: Sequence[str] = (),
    policy: NotificationPolicy | Mapping[str, Any] | None = None,
) -> IncidentReport:
    """Record an incident and the notifications owed to ``notify`` under ``policy``."""
    incident_in = parse_input(IncidentIn, data)
    partners = parse_input(NotifyIn, {"partners": list(notify)}).partners
    rules = None if policy is None else parse_input(NotificationPolicy, policy)
    if partners and rules is None:
        raise BadInput(
            "Partners to notify need a notification policy for their deadlines.",
            reason="POLICY_REQUIRED",
            field="policy",
        )
    reported_at = incident_in.reported_at or now()
    if reported_at < incident_in.detected_at:
        raise BadInput(
            "The incident is detected after the time of reporting.",
            reason="DETECTED_IN_FUTURE",
            field="detected_at",
        )
    existing = await session.scalar(
        select(IncidentReport.id).where(IncidentReport.reference == incident_in.reference)
    )
    if existing is not None:
        raise Conflict(
            f"An incident with reference {incident_in.reference!r} exists already.",
            reason="DUPLICATE_INCIDENT_REFERENCE",
            field="reference",
        )
    await reject_duplicate(session, IncidentReport, incident_in)
    provenance = provenance_of(incident_in)
    values = {**incident_in.model_dump(exclude=set(provenance)), "reported_at": reported_at}
    incident = IncidentReport(
        **values,
        status=IncidentStatus.OPEN,
        **provenance,
        created_by=actor,
        updated_by=actor,
    )
    if rules is not None and partners:
        rules.deadline(incident)  # refuse an uncovered severity before writing anything
    session.add(incident)
    await session.flush()
    await log_change(
        session,
        actor=actor,
        action="incident.reported",
        record=incident,
        change={**values, "status": incident.status},
    )
    if rules is not None:
        for partner in dict.fromkeys(partners):
            await _require(
                session=session, actor=actor, incident=incident, partner=partner, rules=rules
            )
    return incident


async def _require(
    *,
    session: AsyncSession,
    actor: str,
    incident: IncidentReport,
    partner: str,
    rules: NotificationPolicy,
) -> IncidentNotification:
    hours, required_by = rules.deadline(incident)
    notification = IncidentNotification(
        incident=incident,
        partner=partner,
        deadline_hours=hours,
        required_by=required_by,
        created_by=actor,
        updated_by=actor,
    )
    session.add(notification)
    await session.flush()
    await log_change(
        session,
        actor=actor,
        action="incident.notification_required",
        record=notification,
        change={
            "incident": incident.reference,
            "partner": partner,
            "deadline_hours": hours,
            "clock_starts": rules.clock_starts,
            "required_by": required_by,
        },
    )
    return notification


async def require_notification(
    *,
    session: AsyncSession,
    actor: str,
    incident: IncidentReport,
    partner: str,
    policy: NotificationPolicy | Mapping[str, Any],
) -> IncidentNotification:
    """One more partner to notify, under that partner's policy (its agreement's terms)."""
    slug = parse_input(NotifyIn, {"partners": [partner]}).partners[0]
    rules = parse_input(NotificationPolicy, policy)
    rules.deadline(incident)
    if await _find(session=session, incident=incident, partner=slug) is not None:
        raise Conflict(
            f"Notifying {slug!r} of {incident.reference} is already required.",
            reason="NOTIFICATION_EXISTS",
            field="partner",
        )
    return await _require(
        session=session, actor=actor, incident=incident, partner=slug, rules=rules
    )


async def _find(
    *, session: AsyncSession, incident: IncidentReport, partner: str
) -> IncidentNotification | None:
    return await session.scalar(
        select(IncidentNotification)
        .options(joinedload(IncidentNotification.incident))
        .where(
            IncidentNotification.incident_id == incident.id,
            IncidentNotification.partner == partner,
        )
    )


async def mark_notified(
    *,
    session: AsyncSession,
    actor: str,
    incident: IncidentReport,
    partner: str,
    notified_at: datetime,
) -> IncidentNotification:
    """Record that ``partner`` was notified at ``notified_at``; logged with its lateness."""
    if notified_at.utcoffset() is None:
        raise BadInput(
            "notified_at needs a time zone.", reason="NAIVE_DATETIME", field="notified_at"
        )
    if notified_at < incident.occurred_at:
        raise BadInput(
            f"A notification ({notified_at}) cannot precede the incident ({incident.occurred_at}).",
            reason="NOTIFIED_BEFORE_OCCURRENCE",
            field="notified_at",
        )
    if notified_at > now():
        raise BadInput(
            "A notification cannot be recorded in the future.",
            reason="NOTIFIED_IN_FUTURE",
            field="notified_at",
        )
    notification = await _find(session=session, incident=incident, partner=partner)
    if notification is None:
        raise NotFound(
            f"No notification of {partner!r} is required for {incident.reference}.",
            reason="UNKNOWN_NOTIFICATION",
            field="partner",
        )
    if notification.notified_at is not None:
        raise Conflict(
            f"{partner!r} was notified already, at {notification.notified_at}.",
            reason="ALREADY_NOTIFIED",
            field="notified_at",
        )
    notification.notified_at, notification.notified_by = notified_at, actor
    notification.updated_by = actor
    await session.flush()
    await log_change(
        session,
        actor=actor,
        action="incident.notified",
        record=notification,
        change={
            "incident": incident.reference,
            "partner": partner,
            "notified_at": notified_at,
            "required_by": notification.required_by,
            "late": notification.is_late(notified_at),
        },
    )
    return notification


async def late_notifications(
    *, session: AsyncSession, at: datetime | None = None
) -> list[IncidentNotification]:
    """Notifications made after their deadline, or unmade with the deadline passed at ``at``
    (default now); the incident is loaded, most overdue deadline first."""
    moment = at or now()
    return list(
        await session.scalars(
            select(IncidentNotification)
            .options(joinedload(IncidentNotification.incident))
            .where(IncidentNotification.late_condition(moment))
            .order_by(IncidentNotification.required_by, IncidentNotification.partner)
        )
    )


async def list_notifications(
    *, session: AsyncSession, incident: IncidentReport
) -> list[IncidentNotification]:
    return list(
        await session.scalars(
            select(IncidentNotification)
            .options(joinedload(IncidentNotification.incident))
            .where(IncidentNotification.incident_id == incident.id)
            .order_by(IncidentNotification.partner)
        )
    )


async def get_incident(*, session: AsyncSession, incident_id: uuid.UUID) -> IncidentReport:
    incident = await session.get(IncidentReport, incident_id)
    if incident is None:
        raise NotFound(
            f"No incident {incident_id}.", reason="UNKNOWN_INCIDENT", field="incident_id"
        )
    return incident


async def get_incident_by_reference(*, session: AsyncSession, reference: str) -> IncidentReport:
    incident = await session.scalar(
        select(IncidentReport).where(IncidentReport.reference == reference)
    )
    if incident is None:
        raise NotFound(
            f"No incident with reference {reference!r}.",
            reason="UNKNOWN_INCIDENT",
            field="reference",
        )
    return incident


async def set_incident_status(
    *, session: AsyncSession, actor: str, incident: IncidentReport, status: IncidentStatus | str
) -> IncidentReport:
    """Move forward: open → contained → resolved → closed (steps may be skipped)."""
    try:
        target = IncidentStatus(status)
    except ValueError:
        raise BadInput(
            f"status is one of {', '.join(IncidentStatus)}.",
            reason="INVALID_CHOICE",
            field="status",
        ) from None
    if _STATUS_ORDER.index(target) <= _STATUS_ORDER.index(incident.status):
        raise Conflict(
            f"An incident moves forward only; it is {incident.status}, not before {target}.",
            reason="BAD_TRANSITION",
            field="status",
        )
    before, incident.status, incident.updated_by = incident.status, target, actor
    await session.flush()
    await log_change(
        session,
        actor=actor,
        action="incident.status_changed",
        record=incident,
        change={"from": before, "to": target},
    )
    return incident
