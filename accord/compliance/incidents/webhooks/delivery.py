"""One webhook delivery over HTTP: signed POSTs, retries with backoff, each attempt kept."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.incidents.models import IncidentNotification
from accord.compliance.incidents.webhooks.models import AttemptStatus, WebhookDelivery
from accord.compliance.incidents.webhooks.schemas import (
    DELIVERY_HEADER,
    EVENT_TYPE,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryPolicy,
    ResolvedEndpoint,
)
from accord.compliance.incidents.webhooks.service import sign
from accord.compliance.records.history import jsonable
from accord.platform import clock, telemetry
from accord.platform.telemetry import AttributeValue

_ERROR_IN_LOG = 500


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


def final_code(attempt: _Attempt) -> str:
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


async def send_webhook(
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
        attempts, last, ended_at = await _attempts(
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
            telemetry.mark_failed(span, final_code(last))
        return attempts, last, ended_at


async def _attempts(
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
