"""Mandatory incident notification between partners: who, by when, and delivery.

**Who and by when** comes from the agreements. An agreement's ``notification_policy`` (a
``NotificationPolicy``: severity → hours, clock from detection or occurrence) binds both
parties: when either has an incident of a severity the policy lists, the other must be
notified within those hours. Severities it does not list are below the threshold. Two
agreements between the same pair: the earlier deadline wins.
``report_incident_with_agreements`` reports the incident and requires each partner's
notification (``service.require_notification``) in one owner transaction.

**Delivery.** A partner that registered a webhook (``register_endpoint``: URL and a shared
secret, the secret Fernet-encrypted at rest) is notified by an HTTP POST of a JSON body
signed ``X-Accord-Signature: sha256=HEX(HMAC-SHA256(secret, "<timestamp>.<body>"))`` with
``X-Accord-Timestamp`` (Unix seconds; receivers should refuse old ones) and
``X-Accord-Delivery`` (one id for all attempts of a delivery, for de-duplication). Timeouts,
connection errors, 408, 429 and 5xx are retried with exponential backoff and full jitter
(``Retry-After`` honoured up to the cap); other answers fail at once. Every attempt is a
row of the owner's append-only ``webhook_deliveries``. A partner without a webhook that is
an Accord tenant is notified through its own event log (``incident.notification_received``,
streamed by the ``incidentNotifications`` subscription).

On delivery the partner's view (``received_incident_notifications``, and its event log) is
written first, then the owner's notification is marked notified (``mark_notified``): on
time or late against its deadline, flagged late on both sides. A delivery that fails ends
``failed`` with a code (``WEBHOOK_TIMEOUT`` …), changes no notification, and leaves
``incident.notification_failed`` in the owner's event log; the notification stays pending
(and overdue once its deadline passes) for the next ``deliver_pending`` run.

While a notification is being delivered its row is locked (``FOR UPDATE SKIP LOCKED``), so
schedulers running side by side never deliver it twice; a crash mid-delivery loses that
delivery's attempt rows (they commit with it). Receivers should de-duplicate on
``notification_id``: a delivery whose owner-side commit fails is retried.

Secrets are encrypted with the platform's secret key (``accord.platform.secrets``), the
same key connector credentials use.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from accord.compliance.incidents import service as incident_service
from accord.compliance.incidents.models import IncidentNotification, IncidentReport
from accord.compliance.incidents.schemas import IncidentIn, NotificationPolicy
from accord.compliance.incidents.webhook_models import (
    AttemptStatus,
    Channel,
    ReceivedIncidentNotification,
    WebhookDelivery,
    WebhookEndpoint,
)
from accord.compliance.records.history import jsonable, log_change
from accord.compliance.records.inputs import parse_input
from accord.platform import clock, telemetry
from accord.platform.errors import AccordError, BadInput, ErrorCode, NotFound
from accord.platform.eventlog import EventLogEntry, append_event
from accord.platform.naming import schema_name
from accord.platform.notifications import NotificationHub
from accord.platform.runtime import Runtime
from accord.platform.secrets import secret_key
from accord.platform.settings import Settings
from accord.platform.telemetry import AttributeValue
from accord.policies.engine import Authorizer
from accord.policies.schemas import Actor, Resource
from accord.tenants import service as tenant_service
from accord.tenants.agreements.models import Agreement, AgreementState
from accord.tenants.models import Tenant, TenantStatus
from accord.tenants.sessions import tenant_session

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system:incident-notifications"
SIGNATURE_HEADER = "X-Accord-Signature"
TIMESTAMP_HEADER = "X-Accord-Timestamp"
DELIVERY_HEADER = "X-Accord-Delivery"
EVENT_TYPE = "incident.notification"
RECEIVED_ACTION = "incident.notification_received"
RECEIVED_RECORD_TYPE = "incident_notification"
SECRET_MIN_LENGTH = 24
SECRET_MAX_LENGTH = 256
URL_MAX_LENGTH = 2048
_ERROR_IN_LOG = 500


# --------------------------------------------------------------------------- secrets at rest


def _fernet(settings: Settings) -> Fernet:
    """Fernet with the platform's secret key — the same key connector secrets use."""
    return Fernet(secret_key(settings, purpose="webhook secrets"))


def _encrypt(settings: Settings, secret: str) -> str:
    return _fernet(settings).encrypt(secret.encode()).decode()


def _decrypt(settings: Settings, token: str) -> str:
    try:
        return _fernet(settings).decrypt(token.encode()).decode()
    except InvalidToken:
        raise AccordError(
            "The webhook secret cannot be decrypted with ACCORD_SECRET_KEY.",
            reason="SECRET_KEY_MISMATCH",
            code=ErrorCode.INTERNAL,
        ) from None


# --------------------------------------------------------------------------- signatures


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Accord-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify_signature(
    secret: str,
    *,
    timestamp: str,
    body: bytes,
    signature: str,
    tolerance_seconds: float = 300.0,
    now: float | None = None,
) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    clock = time.time() if now is None else now
    if abs(clock - sent) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


# --------------------------------------------------------------------------- endpoints


@dataclass(frozen=True, slots=True)
class ResolvedEndpoint:
    """An endpoint with its secret in clear (never persisted, never logged)."""

    id: uuid.UUID
    tenant: str
    url: str
    secret: str = ""

    def __repr__(self) -> str:
        return f"ResolvedEndpoint(id={self.id}, tenant={self.tenant!r}, url={self.target!r})"

    @property
    def target(self) -> str:
        return target_of(self.url)


def target_of(url: str) -> str:
    """Scheme, host, port and path: what the owner may record of a partner's URL."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(query=None, fragment=None, username=None, password=None))


def _check_url(url: str, settings: Settings) -> str:
    url = url.strip()

    def bad(message: str, reason: str = "BAD_WEBHOOK_URL") -> BadInput:
        return BadInput(message, reason=reason, field="url")

    if not url or len(url) > URL_MAX_LENGTH:
        raise bad(f"A webhook URL has 1 to {URL_MAX_LENGTH} characters.")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise bad(f"{url!r} is not a URL.") from None
    if parsed.scheme not in ("https", "http") or not parsed.host:
        raise bad("A webhook URL is an absolute http(s) URL, e.g. https://example.com/hooks.")
    if parsed.scheme != "https" and settings.env == "prod":
        raise bad("Webhooks are delivered over https only.", "WEBHOOK_URL_NOT_HTTPS")
    if parsed.userinfo or parsed.fragment:
        raise bad("A webhook URL carries no credentials and no fragment.")
    if settings.env == "prod" and _internal_host(parsed.host):
        raise bad(
            "A webhook URL names a public host, not a loopback, private or link-local one.",
            "WEBHOOK_URL_INTERNAL",
        )
    return url


def _internal_host(host: str) -> bool:
    """A literal address (or localhost) that is not on the public internet. Names that
    resolve to such addresses are not caught here; egress rules must stop those."""
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not address.is_global


async def register_endpoint(
    *,
    session: AsyncSession,
    settings: Settings,
    tenant: str,
    url: str,
    actor: str,
    secret: str | None = None,
) -> tuple[WebhookEndpoint, str | None]:
    """Register (or replace) ``tenant``'s webhook; returns it and the secret if generated.

    ``session`` is a control-plane session; the caller has checked that ``actor`` may
    configure ``tenant``.
    """
    checked = _check_url(url, settings)
    if secret is not None and not SECRET_MIN_LENGTH <= len(secret) <= SECRET_MAX_LENGTH:
        raise BadInput(
            f"A webhook secret has {SECRET_MIN_LENGTH} to {SECRET_MAX_LENGTH} characters "
            "(leave it out to have one generated).",
            reason="BAD_WEBHOOK_SECRET",
            field="secret",
        )
    await tenant_service.get_accessible(session=session, slug=tenant)
    generated = secrets.token_urlsafe(32) if secret is None else None
    token = _encrypt(settings, secret if secret is not None else str(generated))
    endpoint = await session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.tenant == tenant).with_for_update()
    )
    if endpoint is None:
        endpoint = WebhookEndpoint(
            tenant=tenant, url=checked, secret=token, created_by=actor, updated_by=actor
        )
        session.add(endpoint)
    else:
        endpoint.url, endpoint.secret, endpoint.updated_by = checked, token, actor
    await session.flush()
    await session.refresh(endpoint)
    return endpoint, generated


async def remove_endpoint(*, session: AsyncSession, tenant: str) -> None:
    endpoint = await session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.tenant == tenant))
    if endpoint is None:
        raise NotFound(
            f"{tenant!r} has no incident webhook.", reason="UNKNOWN_WEBHOOK", field="tenant"
        )
    await session.delete(endpoint)
    await session.flush()


async def endpoint_for(
    *, session: AsyncSession, settings: Settings, tenant: str
) -> ResolvedEndpoint | None:
    """``tenant``'s webhook with its secret decrypted, or None."""
    row = await session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.tenant == tenant))
    if row is None:
        return None
    return ResolvedEndpoint(row.id, row.tenant, row.url, _decrypt(settings, row.secret))


# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True, slots=True)
class PartnerTerms:
    """A partner's notification policy, from one agreement with the owner."""

    partner: str
    agreement_id: uuid.UUID
    policy: NotificationPolicy


async def partner_terms(
    *, session: AsyncSession, owner: str, at: datetime | None = None
) -> list[PartnerTerms]:
    """The notification policies of ``owner``'s agreements in force at ``at`` (default now),
    either direction; refuses (BadInput) if one of them is malformed."""
    moment = at or clock.now()
    rows = await session.scalars(
        select(Agreement)
        .where(
            or_(Agreement.grantor == owner, Agreement.grantee == owner),
            Agreement.state == AgreementState.ACTIVE,
            Agreement.valid_from <= moment,
            or_(Agreement.valid_until.is_(None), Agreement.valid_until > moment),
        )
        .order_by(Agreement.proposed_at)
    )
    terms = []
    for agreement in rows:
        if agreement.notification_policy is None:  # SQL NULL or JSON null: no terms
            continue
        try:
            policy = parse_input(NotificationPolicy, agreement.notification_policy)
        except BadInput as exc:
            raise BadInput(
                f"Agreement {agreement.id} has a malformed notification policy: {exc.message}",
                reason="BAD_AGREEMENT_NOTIFICATION_POLICY",
                field="notification_policy",
            ) from None
        partner = agreement.grantee if agreement.grantor == owner else agreement.grantor
        terms.append(PartnerTerms(partner, agreement.id, policy))
    return terms


def owed_notifications(
    terms: Sequence[PartnerTerms], incident: IncidentReport
) -> dict[str, PartnerTerms]:
    """Partners whose threshold ``incident`` meets, each under its earliest deadline."""
    owed: dict[str, tuple[datetime, PartnerTerms]] = {}
    for term in terms:
        if incident.severity not in term.policy.deadline_hours:
            continue  # below this partner's threshold
        _, due = term.policy.deadline(incident)
        current = owed.get(term.partner)
        if current is None or due < current[0]:
            owed[term.partner] = (due, term)
    return {partner: term for partner, (_, term) in sorted(owed.items())}


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


# --------------------------------------------------------------------------- delivery


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    attempts: int = 5
    timeout_seconds: float = 10.0
    base_seconds: float = 1.0
    max_seconds: float = 60.0
    #: after a failed delivery, the next run waits this long before trying that partner again
    cooldown: timedelta = timedelta(minutes=5)
    #: notifications delivered at once by ``deliver_pending``
    concurrency: int = 4

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_seconds)
        # Full jitter: receivers that failed together are not retried together.
        return random.uniform(0, min(self.max_seconds, self.base_seconds * 2 ** (attempt - 1)))


class OutcomeStatus(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    #: no way to reach the partner (not an Accord tenant, no webhook)
    SKIPPED = "skipped"
    #: a recent delivery failed; the cool-down has not passed
    DEFERRED = "deferred"
    #: delivered already, or being delivered by another process
    CLAIMED = "claimed"


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    owner: str
    status: OutcomeStatus
    #: None when the owner's notifications could not even be listed
    notification_id: uuid.UUID | None = None
    partner: str | None = None
    incident_reference: str | None = None
    channel: Channel | None = None
    #: why it failed or was skipped, e.g. WEBHOOK_TIMEOUT, NO_CHANNEL
    code: str | None = None
    message: str | None = None
    delivery_id: uuid.UUID | None = None
    attempts: int = 0
    notified_at: datetime | None = None
    #: delivered after the deadline, or (not delivered) the deadline has passed
    late: bool | None = None


@dataclass(frozen=True, slots=True)
class _Attempt:
    http_status: int | None
    error_code: str | None
    error: str | None
    retry_after: float | None

    @property
    def delivered(self) -> bool:
        return self.error_code is None

    @property
    def retriable(self) -> bool:
        if self.error_code in ("TIMEOUT", "CONNECTION_ERROR"):
            return True
        status = self.http_status or 0
        return status in (408, 429) or status >= 500


_FINAL_CODES = {"TIMEOUT": "WEBHOOK_TIMEOUT", "CONNECTION_ERROR": "WEBHOOK_UNREACHABLE"}


def _final_code(attempt: _Attempt) -> str:
    if attempt.error_code in _FINAL_CODES:
        return _FINAL_CODES[attempt.error_code]
    return "WEBHOOK_HTTP_ERROR" if attempt.retriable else "WEBHOOK_REJECTED"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


async def _post(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], body: bytes, seconds: float
) -> _Attempt:
    request = client.build_request("POST", url, content=body, headers=headers)
    try:
        async with asyncio.timeout(seconds):
            # stream=True: the answer's body is never read (a receiver cannot flood us).
            response = await client.send(request, stream=True, follow_redirects=False)
            await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        return _Attempt(None, "TIMEOUT", f"no answer within {seconds:g} s", None)
    except httpx.TransportError as exc:
        return _Attempt(None, "CONNECTION_ERROR", f"{type(exc).__name__}: {exc}", None)
    status = response.status_code
    if 200 <= status < 300:
        return _Attempt(status, None, None, None)
    return _Attempt(status, f"HTTP_{status}", f"HTTP {status}", _retry_after(response))


def _payload(
    owner: str, notification: IncidentNotification, delivery_id: uuid.UUID, sent_at: datetime
) -> dict[str, Any]:
    incident = notification.incident
    payload: dict[str, Any] = jsonable(
        {
            "type": EVENT_TYPE,
            "notification_id": notification.id,
            "delivery_id": delivery_id,
            "owner": owner,
            "partner": notification.partner,
            "incident_id": incident.id,
            "incident_reference": incident.reference,
            "severity": incident.severity,
            "occurred_at": incident.occurred_at,
            "detected_at": incident.detected_at,
            "reported_at": incident.reported_at,
            "due_by": notification.required_by,
            "sent_at": sent_at,
            "late": sent_at > notification.required_by,
        }
    )
    return payload


def _body(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


async def _send_webhook(
    *,
    session: AsyncSession,
    client: httpx.AsyncClient,
    policy: DeliveryPolicy,
    owner: str,
    notification: IncidentNotification,
    endpoint: ResolvedEndpoint,
    delivery_id: uuid.UUID,
) -> tuple[int, _Attempt, datetime]:
    """Attempt until delivered, refused or out of attempts; each attempt a row in
    ``session`` (the owner's). Returns (attempts made, the last one, when it ended)."""
    attributes: dict[str, AttributeValue] = {
        "accord.tenant": owner,
        "accord.partner": notification.partner,
        "accord.severity": str(notification.incident.severity),
    }
    with telemetry.span("webhook.delivery", attributes) as span:
        attempts, last, ended_at = await _attempt_webhook(
            session=session,
            client=client,
            policy=policy,
            owner=owner,
            notification=notification,
            endpoint=endpoint,
            delivery_id=delivery_id,
        )
        span.set_attribute("accord.attempts", attempts)
        span.set_attribute("accord.delivered", last.delivered)
        if last.http_status is not None:
            span.set_attribute("http.response.status_code", last.http_status)
        if not last.delivered:
            telemetry.mark_failed(span, _final_code(last))
        return attempts, last, ended_at


async def _attempt_webhook(
    *,
    session: AsyncSession,
    client: httpx.AsyncClient,
    policy: DeliveryPolicy,
    owner: str,
    notification: IncidentNotification,
    endpoint: ResolvedEndpoint,
    delivery_id: uuid.UUID,
) -> tuple[int, _Attempt, datetime]:
    attempt_no = 0
    while True:
        attempt_no += 1
        sent_at = clock.now()
        body = _body(_payload(owner, notification, delivery_id, sent_at))
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Accord-Webhooks/1",
            SIGNATURE_HEADER: sign(endpoint.secret, timestamp, body),
            TIMESTAMP_HEADER: timestamp,
            DELIVERY_HEADER: str(delivery_id),
        }
        started = time.monotonic()
        result = await _post(client, endpoint.url, headers, body, policy.timeout_seconds)
        ended_at = clock.now()
        final = result.delivered or not result.retriable or attempt_no >= policy.attempts
        if result.delivered:
            status = AttemptStatus.DELIVERED
        else:
            status = AttemptStatus.FAILED if final else AttemptStatus.RETRYING
        session.add(
            WebhookDelivery(
                delivery_id=delivery_id,
                notification_id=notification.id,
                partner=notification.partner,
                endpoint_id=endpoint.id,
                target=endpoint.target,
                attempt=attempt_no,
                attempted_at=sent_at,
                status=status,
                http_status=result.http_status,
                error_code=result.error_code,
                error=None if result.error is None else result.error[:_ERROR_IN_LOG],
                duration_ms=round((time.monotonic() - started) * 1000, 3),
            )
        )
        await session.flush()
        if final:
            return attempt_no, result, ended_at
        telemetry.event(
            "webhook.retry",
            {"accord.attempt": attempt_no, "accord.reason": result.error_code or "UNKNOWN"},
        )
        await asyncio.sleep(policy.delay(attempt_no, result.retry_after))


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
            attempts, last, delivered_at = await _send_webhook(
                session=session,
                client=http,
                policy=rules,
                owner=owner,
                notification=notification,
                endpoint=endpoint,
                delivery_id=delivery_id,
            )
            if not last.delivered:
                code = _final_code(last)
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


async def pending_notifications(runtime: Runtime, owner: str) -> list[tuple[uuid.UUID, datetime]]:
    """``owner``'s notifications not yet made: (id, deadline), most urgent first."""
    async with tenant_session(runtime, owner) as session:
        rows = await session.execute(
            select(IncidentNotification.id, IncidentNotification.required_by)
            .where(IncidentNotification.notified_at.is_(None))
            .order_by(IncidentNotification.required_by, IncidentNotification.partner)
        )
        return [(row[0], row[1]) for row in rows]


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


# --------------------------------------------------------------------------- partner's view


async def received_notifications(
    *, session: AsyncSession, late_only: bool = False
) -> list[ReceivedIncidentNotification]:
    """The notifications the session's tenant received, latest first."""
    stmt = select(ReceivedIncidentNotification).order_by(
        ReceivedIncidentNotification.received_at.desc()
    )
    if late_only:
        stmt = stmt.where(
            ReceivedIncidentNotification.received_at > ReceivedIncidentNotification.required_by
        )
    return list(await session.scalars(stmt))


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """One notification as it reached the partner's event log."""

    seq: int
    at: datetime
    notification_id: uuid.UUID
    owner: str
    incident_reference: str
    severity: int
    occurred_at: datetime
    reported_at: datetime
    due_by: datetime
    received_at: datetime
    late: bool
    channel: Channel

    @classmethod
    def from_entry(cls, entry: EventLogEntry) -> ReceivedEvent:
        c = entry.change
        return cls(
            seq=entry.seq,
            at=entry.at,
            notification_id=uuid.UUID(str(c["notification_id"])),
            owner=str(c["owner"]),
            incident_reference=str(c["incident_reference"]),
            severity=int(c["severity"]),
            occurred_at=datetime.fromisoformat(str(c["occurred_at"])),
            reported_at=datetime.fromisoformat(str(c["reported_at"])),
            due_by=datetime.fromisoformat(str(c["required_by"])),
            received_at=datetime.fromisoformat(str(c["received_at"])),
            late=bool(c["late"]),
            channel=Channel(str(c["channel"])),
        )


async def incident_notification_events(
    runtime: Runtime, hub: NotificationHub, *, authorizer: Authorizer, principal: Actor
) -> AsyncIterator[ReceivedEvent]:
    """Notifications received by the principal's tenant, from now on.

    Only the tenant's own log is read, and each event is delivered only if, when it
    arrives, the principal may still ``read`` the tenant's incidents.
    """
    own = principal.tenant
    if own is None:
        raise AccordError(
            "Incident notifications go to an organisation's members.",
            reason="OPERATOR_NOT_A_TENANT_MEMBER",
            code=ErrorCode.FORBIDDEN,
        )
    schema = schema_name(own)
    async with hub.subscribe("accord_events") as notes:
        async for note in notes:
            if note.payload.get("schema") != schema:
                continue
            if not authorizer.authorize(principal, "read", Resource(own, "incident")).allowed:
                continue
            async with tenant_session(runtime, own) as session:
                entries = (
                    await session.scalars(
                        select(EventLogEntry)
                        .where(
                            EventLogEntry.seq.between(
                                int(note.payload["first"]), int(note.payload["last"])
                            ),
                            EventLogEntry.record_type == RECEIVED_RECORD_TYPE,
                            EventLogEntry.action == RECEIVED_ACTION,
                        )
                        .order_by(EventLogEntry.seq)
                    )
                ).all()
            for entry in entries:
                yield ReceivedEvent.from_entry(entry)
