"""Endpoints and their secrets, signatures, partners' terms, and the partner's view."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import httpx
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.incidents.models import IncidentNotification, IncidentReport
from accord.compliance.incidents.schemas import NotificationPolicy
from accord.compliance.incidents.webhooks.models import (
    ReceivedIncidentNotification,
    WebhookEndpoint,
)
from accord.compliance.incidents.webhooks.schemas import (
    RECEIVED_ACTION,
    RECEIVED_RECORD_TYPE,
    SECRET_MAX_LENGTH,
    SECRET_MIN_LENGTH,
    URL_MAX_LENGTH,
    PartnerTerms,
    ReceivedEvent,
    ResolvedEndpoint,
)
from accord.compliance.records.inputs import parse_input
from accord.platform import clock
from accord.platform.errors import AccordError, BadInput, ErrorCode, NotFound
from accord.platform.eventlog import EventLogEntry
from accord.platform.naming import schema_name
from accord.platform.notifications import NotificationHub
from accord.platform.runtime import Runtime
from accord.platform.secrets import secret_key
from accord.platform.settings import Settings
from accord.policies.engine import Authorizer
from accord.policies.schemas import Actor, Resource
from accord.tenants import service as tenant_service
from accord.tenants.agreements.models import Agreement, AgreementState
from accord.tenants.sessions import tenant_session

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


def verify_webhook_signature(
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


async def pending_notifications(runtime: Runtime, owner: str) -> list[tuple[uuid.UUID, datetime]]:
    """``owner``'s notifications not yet made: (id, deadline), most urgent first."""
    async with tenant_session(runtime, owner) as session:
        rows = await session.execute(
            select(IncidentNotification.id, IncidentNotification.required_by)
            .where(IncidentNotification.notified_at.is_(None))
            .order_by(IncidentNotification.required_by, IncidentNotification.partner)
        )
        return [(row[0], row[1]) for row in rows]


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
