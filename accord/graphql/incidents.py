"""Incident notifications for the notified partner: a live stream and webhook registration.

* ``incidentNotifications`` (subscription): every incident notification your organisation
  receives from a partner, as it lands in your event log (on any replica), with its
  deadline and whether it came late. Your own log only; each event is delivered only if,
  when it arrives, you may read your organisation's incidents.
* ``registerIncidentWebhook`` (mutation): where partners' notifications to your
  organisation are POSTed, and the secret that signs them (generated and shown once if
  you give none). Needs ``notify`` on your organisation's incidents (admins, quality
  managers).

Merged into the schema by ``accord.graphql.schema`` (``IncidentSubscription`` into
``Subscription``, ``IncidentMutations`` into ``Mutation``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum

import strawberry

from accord.compliance.incidents.webhooks.models import Channel, WebhookEndpoint
from accord.compliance.incidents.webhooks.service import (
    incident_notification_events,
    register_endpoint,
)
from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.graphql.errors import IncidentError
from accord.graphql.findings.types import SeverityEnum
from accord.graphql.records.incidents import (
    SEVERITY_DEPRECATED,
    SEVERITY_LEVEL,
    SEVERITY_LEVELS,
    SEVERITY_NUMBER,
)
from accord.platform.errors import AccordError, ErrorCode, Forbidden
from accord.platform.notifications import NotificationHub
from accord.policies.schemas import Resource
from accord.policies.vocab import user_subject

log = logging.getLogger("accord.graphql")

REGISTER_ACTION = "notify"


@strawberry.enum(name="IncidentNotificationChannel")
class ChannelEnum(Enum):
    WEBHOOK = Channel.WEBHOOK.value
    EVENT = Channel.EVENT.value


@strawberry.type(
    name="IncidentNotificationEvent",
    description="A partner's incident notification, as your organisation received it.",
)
class IncidentNotificationEventType:
    notification_id: uuid.UUID = strawberry.field(description="The notifying partner's id.")
    owner: str = strawberry.field(description="The organisation that had the incident.")
    incident_reference: str
    severity: int = strawberry.field(
        description=SEVERITY_NUMBER, deprecation_reason=SEVERITY_DEPRECATED
    )
    occurred_at: datetime
    reported_at: datetime
    due_by: datetime = strawberry.field(description="When the owner had to notify you by.")
    received_at: datetime
    late: bool = strawberry.field(description="Received after due_by.")
    channel: ChannelEnum
    seq: int = strawberry.field(description="Position in your event log.")

    @strawberry.field(description=SEVERITY_LEVEL)
    def severity_level(self) -> SeverityEnum:
        return SEVERITY_LEVELS[self.severity]


def _hub(context: Context) -> NotificationHub:
    if context.hub is None:
        raise AccordError(
            "Subscriptions are not available on this server.",
            reason="NO_SUBSCRIPTIONS",
            code=ErrorCode.INTERNAL,
        )
    return context.hub


@strawberry.type
class IncidentSubscription:
    @strawberry.subscription(
        description="Incident notifications your organisation receives from partners, from now "
        "on (late ones flagged)."
    )
    async def incident_notifications(
        self, info: strawberry.Info[Context, None], late_only: bool = False
    ) -> AsyncGenerator[IncidentNotificationEventType, None]:
        context = info.context
        principal, _ = require_tenant(context)
        async for event in incident_notification_events(
            context.runtime, _hub(context), authorizer=context.authorizer, principal=principal
        ):
            if late_only and not event.late:
                continue
            yield IncidentNotificationEventType(
                notification_id=event.notification_id,
                owner=event.owner,
                incident_reference=event.incident_reference,
                severity=event.severity,
                occurred_at=event.occurred_at,
                reported_at=event.reported_at,
                due_by=event.due_by,
                received_at=event.received_at,
                late=event.late,
                channel=ChannelEnum(event.channel.value),
                seq=event.seq,
            )


@strawberry.type(name="IncidentWebhook", description="Where your incident notifications go.")
class IncidentWebhookType:
    id: uuid.UUID
    tenant: str
    url: str
    updated_at: datetime

    @classmethod
    def from_model(cls, endpoint: WebhookEndpoint) -> IncidentWebhookType:
        return cls(
            id=endpoint.id, tenant=endpoint.tenant, url=endpoint.url, updated_at=endpoint.updated_at
        )


@strawberry.input
class RegisterIncidentWebhookInput:
    url: str = strawberry.field(description="https URL notifications are POSTed to.")
    secret: str | None = strawberry.field(
        default=None,
        description="Shared secret for the HMAC signature (24–256 characters); "
        "leave it out to have one generated.",
    )


@strawberry.type
class RegisterIncidentWebhookPayload:
    webhook: IncidentWebhookType | None
    secret: str | None = strawberry.field(
        description="The generated secret, shown this once; null when you gave one."
    )
    errors: list[IncidentError]


async def register_incident_webhook(
    info: strawberry.Info[Context, None], input: RegisterIncidentWebhookInput
) -> RegisterIncidentWebhookPayload:
    context = info.context
    principal, own = require_tenant(context)
    try:
        resource = Resource(own, "incident")
        decision = context.authorizer.authorize(principal, REGISTER_ACTION, resource)
        if not decision.allowed:
            log.info("%s/%s: %s", own, principal.subject, decision.explain)
            raise Forbidden(
                "You may not configure where your organisation's incident notifications go.",
                reason="ACTION_DENIED",
            )
        async with context.runtime.control_session() as session:
            endpoint, generated = await register_endpoint(
                session=session,
                settings=context.runtime.settings,
                tenant=own,
                url=input.url,
                secret=input.secret,
                actor=user_subject(own, principal.subject),
            )
            webhook = IncidentWebhookType.from_model(endpoint)
    except AccordError as exc:
        return RegisterIncidentWebhookPayload(
            webhook=None, secret=None, errors=[IncidentError.of(exc)]
        )
    return RegisterIncidentWebhookPayload(webhook=webhook, secret=generated, errors=[])


@strawberry.type
class IncidentMutations:
    register_incident_webhook: RegisterIncidentWebhookPayload = strawberry.mutation(
        resolver=register_incident_webhook,
        description="Set where partners' incident notifications to your organisation go.",
    )
