"""Reporting an incident under the agreements and delivering what it owes to partners."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from accord.compliance.incidents import service as incident_service
from accord.compliance.incidents.models import IncidentNotification, IncidentReport
from accord.compliance.incidents.schemas import IncidentIn
from accord.compliance.incidents.webhooks.delivery import final_code, send_webhook
from accord.compliance.incidents.webhooks.models import (
    AttemptStatus,
    Channel,
    ReceivedIncidentNotification,
    WebhookDelivery,
)
from accord.compliance.incidents.webhooks.schemas import (
    RECEIVED_ACTION,
    RECEIVED_RECORD_TYPE,
    SYSTEM_ACTOR,
    DeliveryOutcome,
    DeliveryPolicy,
    OutcomeStatus,
    ResolvedEndpoint,
)
from accord.compliance.incidents.webhooks.service import (
    endpoint_for,
    owed_notifications,
    partner_terms,
    pending_notifications,
)
from accord.compliance.records.history import jsonable, log_change
from accord.platform import clock
from accord.platform.errors import AccordError
from accord.platform.eventlog import append_event
from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service
from accord.tenants.models import Tenant, TenantStatus
from accord.tenants.sessions import tenant_session

log = logging.getLogger(__name__)


async def report_incident_with_agreements(
    *,
    runtime: Runtime,
    owner: str,
    actor: str,
    data: IncidentIn | Mapping[str, Any],
) -> tuple[IncidentReport, list[IncidentNotification]]:
    """Report ``owner``'s incident and require a notification of every partner whose
    agreement's threshold it meets, with that agreement's deadline; all or nothing."""
    async with runtime.control_session() as control:
        terms = await partner_terms(session=control, owner=owner)
    async with tenant_session(runtime, owner) as session:
        incident = await incident_service.report_incident(session=session, actor=actor, data=data)
        notifications = [
            await incident_service.require_notification(
                session=session,
                actor=actor,
                incident=incident,
                partner=partner,
                policy=term.policy,
            )
            for partner, term in owed_notifications(terms, incident).items()
        ]
    return incident, notifications


async def _record_received(
    runtime: Runtime,
    *,
    owner: str,
    notification: IncidentNotification,
    received_at: datetime,
    channel: Channel,
    delivery_id: uuid.UUID | None,
) -> None:
    """The partner's view: the notification and an event in its own log (idempotent)."""
    incident = notification.incident
    values = {
        "notification_id": notification.id,
        "owner": owner,
        "incident_id": incident.id,
        "incident_reference": incident.reference,
        "severity": incident.severity,
        "occurred_at": incident.occurred_at,
        "reported_at": incident.reported_at,
        "required_by": notification.required_by,
        "received_at": received_at,
        "channel": channel.value,
        "delivery_id": delivery_id,
    }
    async with tenant_session(runtime, notification.partner) as session:
        inserted = await session.scalar(
            insert(ReceivedIncidentNotification)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["notification_id"])
            .returning(ReceivedIncidentNotification.notification_id)
        )
        if inserted is None:
            return  # recorded by an earlier delivery whose owner side did not commit
        await append_event(
            session,
            actor=SYSTEM_ACTOR,
            action=RECEIVED_ACTION,
            record_type=RECEIVED_RECORD_TYPE,
            record_id=str(notification.id),
            change=jsonable({**values, "late": received_at > notification.required_by}),
        )


async def _claim(session: AsyncSession, notification_id: uuid.UUID) -> IncidentNotification | None:
    """The pending notification, locked for this delivery; None if done or taken."""
    return await session.scalar(
        select(IncidentNotification)
        .options(joinedload(IncidentNotification.incident, innerjoin=True))
        .where(
            IncidentNotification.id == notification_id,
            IncidentNotification.notified_at.is_(None),
        )
        .with_for_update(of=IncidentNotification, skip_locked=True)
    )


async def _cooling_down(
    session: AsyncSession, notification_id: uuid.UUID, now: datetime, cooldown: timedelta
) -> bool:
    last = (
        await session.execute(
            select(WebhookDelivery.status, WebhookDelivery.attempted_at)
            .where(WebhookDelivery.notification_id == notification_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(1)
        )
    ).first()
    return last is not None and last[0] == AttemptStatus.FAILED and now < last[1] + cooldown


async def _partner_channel(
    runtime: Runtime, partner: str
) -> tuple[Channel | None, ResolvedEndpoint | None]:
    async with runtime.control_session() as control:
        endpoint = await endpoint_for(session=control, settings=runtime.settings, tenant=partner)
        if endpoint is not None:
            return Channel.WEBHOOK, endpoint
        try:
            await tenant_service.get_accessible(session=control, slug=partner)
        except AccordError:
            return None, None
    return Channel.EVENT, None


async def deliver_notification(
    runtime: Runtime,
    *,
    owner: str,
    notification_id: uuid.UUID,
    policy: DeliveryPolicy | None = None,
    client: httpx.AsyncClient | None = None,
    now: datetime | None = None,
) -> DeliveryOutcome:
    """Deliver one of ``owner``'s pending notifications (see the module docstring)."""
    rules = policy or DeliveryPolicy()
    moment = now or clock.now()
    own_client = client is None
    http = client or httpx.AsyncClient(timeout=rules.timeout_seconds)
    try:
        return await _deliver(runtime, owner, notification_id, rules, http, moment)
    finally:
        if own_client:
            await http.aclose()


async def _deliver(
    runtime: Runtime,
    owner: str,
    notification_id: uuid.UUID,
    rules: DeliveryPolicy,
    http: httpx.AsyncClient,
    moment: datetime,
) -> DeliveryOutcome:
    async with tenant_session(runtime, owner) as session:
        notification = await _claim(session, notification_id)
        if notification is None:
            return DeliveryOutcome(owner, OutcomeStatus.CLAIMED, notification_id)
        incident = notification.incident
        partner = notification.partner

        def outcome(status: OutcomeStatus, **values: Any) -> DeliveryOutcome:
            values.setdefault("late", notification.is_late(moment))
            return DeliveryOutcome(
                owner, status, notification_id, partner, incident.reference, **values
            )

        try:
            channel, endpoint = await _partner_channel(runtime, partner)
        except AccordError as exc:  # e.g. the secret cannot be decrypted
            return outcome(OutcomeStatus.FAILED, code=exc.reason, message=exc.message)
        if channel is None:
            return outcome(
                OutcomeStatus.SKIPPED,
                code="NO_CHANNEL",
                message=f"{partner!r} is not an Accord tenant and registered no webhook.",
            )
        delivery_id = uuid.uuid4()
        attempts = 0
        if endpoint is not None:
            if await _cooling_down(session, notification.id, moment, rules.cooldown):
                return outcome(OutcomeStatus.DEFERRED, channel=channel, code="COOLING_DOWN")
            attempts, last, delivered_at = await send_webhook(
                session=session,
                client=http,
                policy=rules,
                owner=owner,
                notification=notification,
                endpoint=endpoint,
                delivery_id=delivery_id,
            )
            if not last.delivered:
                code = final_code(last)
                overdue = notification.is_late(delivered_at)
                await log_change(
                    session,
                    actor=SYSTEM_ACTOR,
                    action="incident.notification_failed",
                    record=notification,
                    change={
                        "incident": incident.reference,
                        "partner": partner,
                        "channel": channel,
                        "delivery_id": delivery_id,
                        "target": endpoint.target,
                        "attempts": attempts,
                        "code": code,
                        "http_status": last.http_status,
                        "required_by": notification.required_by,
                        "overdue": overdue,
                    },
                )
                return outcome(
                    OutcomeStatus.FAILED,
                    channel=channel,
                    code=code,
                    message=last.error,
                    delivery_id=delivery_id,
                    attempts=attempts,
                    late=overdue,
                )
        else:
            delivered_at = clock.now()
        partner_view = True
        try:
            await _record_received(
                runtime,
                owner=owner,
                notification=notification,
                received_at=delivered_at,
                channel=channel,
                delivery_id=delivery_id if endpoint is not None else None,
            )
        except AccordError:
            if endpoint is None:
                raise  # the event channel *is* the partner's view: not delivered
            partner_view = False  # delivered by webhook; the partner's tenant is unreachable
        late = delivered_at > notification.required_by
        await log_change(
            session,
            actor=SYSTEM_ACTOR,
            action="incident.notification_delivered",
            record=notification,
            change={
                "incident": incident.reference,
                "partner": partner,
                "channel": channel,
                "delivery_id": delivery_id if endpoint is not None else None,
                "target": endpoint.target if endpoint is not None else None,
                "attempts": attempts,
                "delivered_at": delivered_at,
                "required_by": notification.required_by,
                "late": late,
                "partner_view": partner_view,
            },
        )
        await incident_service.mark_notified(
            session=session,
            actor=SYSTEM_ACTOR,
            incident=incident,
            partner=partner,
            notified_at=delivered_at,
        )
        return outcome(
            OutcomeStatus.DELIVERED,
            channel=channel,
            delivery_id=delivery_id if endpoint is not None else None,
            attempts=attempts,
            notified_at=delivered_at,
            late=late,
        )


async def deliver_pending(
    runtime: Runtime,
    now: datetime | None = None,
    *,
    owners: Sequence[str] | None = None,
    policy: DeliveryPolicy | None = None,
) -> list[DeliveryOutcome]:
    """Deliver every pending notification of ``owners`` (default: every active tenant).

    For a scheduler: safe to run often and side by side. ``now`` is the scheduler's tick:
    it decides whether a failing partner's cool-down has passed and whether an undelivered
    notification is reported overdue (delivery times are always the real clock's). An owner
    whose store cannot be reached, or a delivery that breaks, is reported (status failed,
    with a reason) and the others go on.
    """
    rules = policy or DeliveryPolicy()
    moment = now or clock.now()
    if owners is None:
        async with runtime.control_session() as control:
            tenants: Sequence[Tenant] = await tenant_service.list_tenants(
                session=control, include_offboarded=False
            )
        owners = [t.slug for t in tenants if t.status == TenantStatus.ACTIVE]
    outcomes: list[DeliveryOutcome] = []
    limit = asyncio.Semaphore(rules.concurrency)
    async with httpx.AsyncClient(timeout=rules.timeout_seconds) as http:

        async def one(owner: str, notification_id: uuid.UUID) -> DeliveryOutcome:
            async with limit:
                try:
                    return await _deliver(runtime, owner, notification_id, rules, http, moment)
                except AccordError as exc:
                    return DeliveryOutcome(
                        owner,
                        OutcomeStatus.FAILED,
                        notification_id,
                        code=exc.reason,
                        message=exc.message,
                    )
                except Exception:  # a bug or a lost database: the other deliveries go on
                    log.exception("Delivering incident notification %s failed.", notification_id)
                    return DeliveryOutcome(
                        owner,
                        OutcomeStatus.FAILED,
                        notification_id,
                        code="INTERNAL",
                        message="Unexpected error; see the log.",
                    )

        for owner in owners:
            try:
                pending = await pending_notifications(runtime, owner)
            except AccordError as exc:
                outcomes.append(
                    DeliveryOutcome(
                        owner, OutcomeStatus.FAILED, code=exc.reason, message=exc.message
                    )
                )
                continue
            outcomes.extend(await asyncio.gather(*(one(owner, nid) for nid, _ in pending)))
    return outcomes
