"""Mandatory incident notification: agreement thresholds, signed webhooks with retries, the
partner's view, and late notification flagged on both sides.

Webhooks go to a real receiver on loopback (uvicorn in a thread) that checks the HMAC and
the timestamp itself, with the standard library, as a partner's system would.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import strawberry
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, Table, delete, func, select
from sqlalchemy.exc import DBAPIError
from strawberry.tools import merge_types

from accord.compliance.incidents import service as incident_service
from accord.compliance.incidents.models import IncidentNotification, IncidentReport
from accord.compliance.incidents.webhooks import flows as webhook_flows
from accord.compliance.incidents.webhooks import schemas as webhook_schemas
from accord.compliance.incidents.webhooks import service as webhook_service
from accord.compliance.incidents.webhooks.models import (
    AttemptStatus,
    Channel,
    ReceivedIncidentNotification,
    WebhookDelivery,
    WebhookEndpoint,
)
from accord.compliance.incidents.webhooks.schemas import DeliveryPolicy, OutcomeStatus
from accord.graphql.context import Context
from accord.graphql.incidents import IncidentMutations, IncidentSubscription
from accord.platform.errors import BadInput
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.notifications import NotificationHub
from accord.platform.runtime import Runtime
from accord.platform.stores import Store
from accord.policies.schemas import Decision
from accord.tenants.agreements import service as agreements
from accord.tenants.identity.principal import Principal, PrincipalKind
from accord.tenants.models import Tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory, make_test_settings, subprocess_env
from tests.connectors.fake_sap import ServerThread, free_port
from tests.factories.sharing import grant
from tests.factories.telemetry import recording

ACTOR = "user:ciaran.walsh"
SECRET = "whsec-" + "k" * 32
FAST = DeliveryPolicy(attempts=3, timeout_seconds=0.5, base_seconds=0.01, max_seconds=0.05)
#: severity 1 within 24 h of detection, severity 2 within 72 h
STANDARD_POLICY = {"deadline_hours": {1: 24, 2: 72}}


# --------------------------------------------------------------------------- the receiver


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class Receiver:
    """A partner's webhook endpoint. ``script`` answers request *n* with ``script[n]`` (the
    last entry repeats): an HTTP status, or "sleep" to answer only after ``sleep`` seconds.
    A request whose signature or timestamp does not verify is answered 401."""

    secret: str = SECRET
    script: list[int | str] = field(default_factory=lambda: [200])
    sleep: float = 2.0
    tolerance: float = 300.0
    requests: list[Received] = field(default_factory=list)

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        timestamp = headers.get("x-accord-timestamp", "")
        signature = headers.get("x-accord-signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > self.tolerance:
            return False
        mac = hmac.new(self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
        return hmac.compare_digest(f"sha256={mac.hexdigest()}", signature)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        verified = self.verify(headers, body)
        index = len(self.requests)
        self.requests.append(Received(headers, body, verified))
        action = self.script[min(index, len(self.script) - 1)]
        status = 200
        if action == "sleep":
            await asyncio.sleep(self.sleep)
        elif not verified:
            status = 401
        else:
            status = int(action)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    app = Receiver()
    with ServerThread(app) as server:
        yield app, f"{server.url}/hooks/accord?channel=incidents"


# --------------------------------------------------------------------------- helpers


def incident(severity: int = 1, *, hours_ago: float = 1.0, **overrides: Any) -> dict[str, Any]:
    occurred = (datetime.now(UTC) - timedelta(hours=hours_ago)).replace(microsecond=0)
    return {
        "reference": f"INC-{secrets.token_hex(4)}",
        "title": "Credential stuffing against the supplier portal",
        "severity": severity,
        "occurred_at": occurred,
        "detected_at": occurred + timedelta(minutes=10),
        "reported_at": occurred + timedelta(minutes=15),
        "description": "Partner accounts locked; no data exfiltration confirmed yet.",
        **overrides,
    }


async def agree(
    runtime: Runtime,
    owner: Tenant,
    partner: Tenant,
    policy: dict[str, Any] | None,
    *,
    owner_grants: bool = True,
    revoke: bool = False,
) -> None:
    """An active agreement between the two, carrying ``policy`` as notification terms."""
    grantor, grantee = (owner, partner) if owner_grants else (partner, owner)
    agreement_id = await grant(
        runtime,
        grantor.slug,
        grantee.slug,
        "summary",
        record_types=["incident"],
        purpose="Mutual incident notification under the supply contract",
        notification_policy=policy,
        valid_from=datetime.now(UTC) - timedelta(days=30),
    )
    if revoke:
        async with runtime.control_session() as session:
            await agreements.revoke(
                session=session,
                agreement_id=agreement_id,
                tenant=grantor.slug,
                actor=ACTOR,
                reason="ended",
            )


async def webhook(runtime: Runtime, tenant: Tenant, url: str, secret: str = SECRET) -> None:
    async with runtime.control_session() as session:
        await webhook_service.register_endpoint(
            session=session,
            settings=runtime.settings,
            tenant=tenant.slug,
            url=url,
            secret=secret,
            actor=ACTOR,
        )


async def report(
    runtime: Runtime, owner: Tenant, data: dict[str, Any]
) -> list[IncidentNotification]:
    _, owed = await webhook_flows.report_incident_with_agreements(
        runtime=runtime, owner=owner.slug, actor=ACTOR, data=data
    )
    return owed


async def owner_state(runtime: Runtime, owner: Tenant) -> dict[str, Any]:
    async with tenant_session(runtime, owner.slug) as session:
        notifications = list(
            await session.scalars(
                select(IncidentNotification).order_by(IncidentNotification.partner)
            )
        )
        attempts = list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
        events = list(await session.scalars(select(EventLogEntry).order_by(EventLogEntry.seq)))
        chain = await verify_chain(session)
    return {"notifications": notifications, "attempts": attempts, "events": events, "chain": chain}


async def partner_state(runtime: Runtime, partner: Tenant) -> dict[str, Any]:
    async with tenant_session(runtime, partner.slug) as session:
        received = await webhook_service.received_notifications(session=session)
        late = await webhook_service.received_notifications(session=session, late_only=True)
        events = list(
            await session.scalars(
                select(EventLogEntry)
                .where(EventLogEntry.action == webhook_schemas.RECEIVED_ACTION)
                .order_by(EventLogEntry.seq)
            )
        )
        chain = await verify_chain(session)
    return {"received": received, "late": late, "events": events, "chain": chain}


@pytest.fixture
async def pair(runtime: Runtime, make_tenant: TenantFactory) -> tuple[Tenant, Tenant]:
    """initech (owner) must notify meridian of severity 1 and 2 incidents."""
    owner = await make_tenant(label="initech", legal_name="Initech Managed Services Ltd")
    partner = await make_tenant(label="meridian", legal_name="Meridian Health Trust")
    await agree(runtime, owner, partner, STANDARD_POLICY)
    return owner, partner


# --------------------------------------------------------------------------- thresholds


async def test_agreement_thresholds_decide_who_is_notified_and_by_when(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    owner = await make_tenant(label="initech")
    strict, relaxed, silent, former, both = [
        await make_tenant(label=label)
        for label in ("strict", "relaxed", "silent", "former", "both")
    ]
    # strict: severity 1 only, 12 h from occurrence; relaxed: severities 1-3 within 72 h.
    await agree(runtime, owner, strict, {"deadline_hours": {1: 12}, "clock_starts": "occurred_at"})
    await agree(runtime, owner, relaxed, {"deadline_hours": {1: 72, 2: 72, 3: 72}})
    await agree(runtime, owner, silent, None)  # shares records, no notification terms
    await agree(runtime, owner, former, STANDARD_POLICY, revoke=True)
    # Two agreements, the partner as grantor in one: the earlier deadline wins.
    await agree(runtime, owner, both, {"deadline_hours": {1: 48}})
    await agree(runtime, owner, both, {"deadline_hours": {1: 6}}, owner_grants=False)

    low = await report(runtime, owner, incident(severity=4))
    assert low == []
    medium = await report(runtime, owner, incident(severity=3))
    assert [n.partner for n in medium] == [relaxed.slug]

    data = incident(severity=1, hours_ago=2)
    high = {n.partner: n for n in await report(runtime, owner, data)}
    assert set(high) == {strict.slug, relaxed.slug, both.slug}
    assert high[strict.slug].required_by == data["occurred_at"] + timedelta(hours=12)
    assert high[relaxed.slug].required_by == data["detected_at"] + timedelta(hours=72)
    assert (high[both.slug].deadline_hours, high[both.slug].required_by) == (
        6,
        data["detected_at"] + timedelta(hours=6),
    )
    state = await owner_state(runtime, owner)
    assert len(state["notifications"]) == 4 and state["chain"].ok
    actions = [e.action for e in state["events"]]
    assert actions.count("incident.reported") == 3
    assert actions.count("incident.notification_required") == 4


async def test_a_malformed_agreement_policy_refuses_the_report_and_writes_nothing(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    owner, partner = await make_tenant(label="initech"), await make_tenant(label="bad")
    await agree(runtime, owner, partner, {"deadline_hours": {9: 24}})
    with pytest.raises(BadInput) as refused:
        await report(runtime, owner, incident())
    assert refused.value.reason == "BAD_AGREEMENT_NOTIFICATION_POLICY"
    state = await owner_state(runtime, owner)
    assert state["notifications"] == [] and [e.action for e in state["events"]][1:] == []


# --------------------------------------------------------------------------- delivery


async def test_webhook_delivered_on_time_signed_and_recorded_on_both_sides(
    runtime: Runtime, pair: tuple[Tenant, Tenant], receiver: tuple[Receiver, str]
) -> None:
    owner, partner = pair
    app, url = receiver
    await webhook(runtime, partner, url)
    data = incident(severity=2)
    [owed] = await report(runtime, owner, data)

    [outcome] = await webhook_flows.deliver_pending(runtime, owners=[owner.slug], policy=FAST)

    assert outcome.status is OutcomeStatus.DELIVERED and outcome.channel is Channel.WEBHOOK
    assert (outcome.attempts, outcome.late, outcome.partner) == (1, False, partner.slug)
    [request] = app.requests
    assert request.verified
    assert request.headers["x-accord-delivery"] == str(outcome.delivery_id)
    assert request.headers["content-type"] == "application/json"
    body = request.payload
    assert {k: body[k] for k in ("owner", "partner", "incident_reference", "severity")} == {
        "owner": owner.slug,
        "partner": partner.slug,
        "incident_reference": data["reference"],
        "severity": 2,
    }
    assert body["notification_id"] == str(owed.id) and body["late"] is False
    assert datetime.fromisoformat(body["due_by"]) == data["detected_at"] + timedelta(hours=72)
    assert datetime.fromisoformat(body["occurred_at"]) == data["occurred_at"]
    assert datetime.fromisoformat(body["reported_at"]) == data["reported_at"]

    mine = await owner_state(runtime, owner)
    [notification] = mine["notifications"]
    assert notification.notified_at == outcome.notified_at
    assert notification.notified_by == webhook_schemas.SYSTEM_ACTOR
    assert not notification.is_late(datetime.now(UTC))
    [attempt] = mine["attempts"]
    assert (attempt.status, attempt.http_status, attempt.attempt) == (
        AttemptStatus.DELIVERED,
        200,
        1,
    )
    assert attempt.delivery_id == outcome.delivery_id and attempt.duration_ms > 0
    # The owner records where it delivered, never the query string of the partner's URL.
    assert attempt.target.endswith("/hooks/accord") and "?" not in attempt.target
    assert [e.action for e in mine["events"]][-2:] == [
        "incident.notification_delivered",
        "incident.notified",
    ]
    assert mine["events"][-1].change["late"] is False and mine["chain"].ok

    theirs = await partner_state(runtime, partner)
    [received] = theirs["received"]
    assert (received.owner, received.incident_reference, received.channel) == (
        owner.slug,
        data["reference"],
        Channel.WEBHOOK,
    )
    assert received.received_at == outcome.notified_at and not received.is_late()
    assert theirs["late"] == [] and theirs["chain"].ok
    [event] = theirs["events"]
    assert event.change["late"] is False and event.change["owner"] == owner.slug

    # Nothing is pending any more: a second run delivers nothing.
    assert await webhook_flows.deliver_pending(runtime, owners=[owner.slug], policy=FAST) == []
    assert len(app.requests) == 1


async def test_503_twice_then_200_is_delivered_after_retries(
    runtime: Runtime, pair: tuple[Tenant, Tenant], receiver: tuple[Receiver, str]
) -> None:
    owner, partner = pair
    app, url = receiver
    app.script = [503, 503, 200]
    await webhook(runtime, partner, url)
    await report(runtime, owner, incident(severity=1))

    [outcome] = await webhook_flows.deliver_pending(runtime, owners=[owner.slug], policy=FAST)

    assert (outcome.status, outcome.attempts, outcome.late) == (OutcomeStatus.DELIVERED, 3, False)
    assert all(r.verified for r in app.requests) and len(app.requests) == 3
    # One delivery id for every attempt, so the receiver can de-duplicate.
    assert {r.headers["x-accord-delivery"] for r in app.requests} == {str(outcome.delivery_id)}
    mine = await owner_state(runtime, owner)
    assert [(a.attempt, a.status, a.http_status, a.error_code) for a in mine["attempts"]] == [
        (1, AttemptStatus.RETRYING, 503, "HTTP_503"),
        (2, AttemptStatus.RETRYING, 503, "HTTP_503"),
        (3, AttemptStatus.DELIVERED, 200, None),
    ]
    assert mine["notifications"][0].notified_at == outcome.notified_at
    delivered = next(e for e in mine["events"] if e.action == "incident.notification_delivered")
    assert delivered.change["attempts"] == 3


async def test_a_delivery_is_one_span_with_its_retries_as_events(
    runtime: Runtime, pair: tuple[Tenant, Tenant], receiver: tuple[Receiver, str]
) -> None:
    owner, partner = pair
    app, url = receiver
    app.script = [503, 200]
    await webhook(runtime, partner, url)
    data = incident(severity=1)
    await report(runtime, owner, data)

    with recording(runtime.settings) as recorded:
        [outcome] = await webhook_flows.deliver_pending(runtime, owners=[owner.slug], policy=FAST)
        assert outcome.status == OutcomeStatus.DELIVERED
        [delivery] = recorded.spans("webhook.delivery")
        assert (
            dict(delivery.attributes or {}).items()
            >= {
                "accord.tenant": owner.slug,
                "accord.partner": partner.slug,
                "accord.attempts": 2,
                "accord.delivered": True,
                "http.response.status_code": 200,
            }.items()
        )
        assert [(e.name, dict(e.attributes or {})) for e in delivery.events] == [
            ("webhook.retry", {"accord.attempt": 1, "accord.reason": "HTTP_503"})
        ]
        exported = recorded.exported_text()
        for forbidden in (url, SECRET, data["title"], data["description"]):
            assert forbidden not in exported


async def test_a_target_that_times_out_fails_with_a_code_and_changes_nothing(
    runtime: Runtime, pair: tuple[Tenant, Tenant], receiver: tuple[Receiver, str]
) -> None:
    owner, partner = pair
    app, url = receiver
    app.script, app.sleep = ["sleep"], 2.0
    await webhook(runtime, partner, url)
    # Reported 30 hours after detection's 24 h deadline started: overdue already.
    [owed] = await report(runtime, owner, incident(severity=1, hours_ago=30))

    started = time.monotonic()
    [outcome] = await webhook_flows.deliver_pending(runtime, owners=[owner.slug], policy=FAST)

    assert time.monotonic() - started < 5  # each attempt gave up after 0.5 s
    assert (outcome.status, outcome.code, outcome.attempts) == (
        OutcomeStatus.FAILED,
        "WEBHOOK_TIMEOUT",
        3,
    )
    assert outcome.late is True and outcome.notified_at is None
    assert len(app.requests) == 3
    mine = await owner_state(runtime, owner)
    [notification] = mine["notifications"]
    assert notification.notified_at is None and notification.notified_by is None
    assert [(a.status, a.error_code, a.http_status) for a in mine["attempts"]] == [
        (AttemptStatus.RETRYING, "TIMEOUT", None),
        (AttemptStatus.RETRYING, "TIMEOUT", None),
        (AttemptStatus.FAILED, "TIMEOUT", None),
    ]
    assert all(400 <= a.duration_ms < 2000 for a in mine["attempts"])
    failed = mine["events"][-1]
    assert failed.action == "incident.notification_failed"
    assert failed.record_id == str(owed.id)
    assert (failed.change["code"], failed.change["attempts"], failed.change["overdue"]) == (
        "WEBHOOK_TIMEOUT",
        3,
        True,
    )
    assert not any(e.action == "incident.notified" for e in mine["events"]) and mine["chain"].ok
    async with tenant_session(runtime, owner.slug) as session:
        overdue = await incident_service.late_notifications(session=session)
    assert [n.id for n in overdue] == [owed.id]
    theirs = await partner_state(runtime, partner)
    assert theirs["received"] == [] and theirs["events"] == []

    # The next scheduler tick leaves the failing partner alone until the cool-down passes.
    [again] = await webhook_flows.deliver_pending(runtime, owners=[owner.slug], policy=FAST)
    assert (again.status, again.code) == (OutcomeStatus.DEFERRED, "COOLING_DOWN")
    assert len(app.requests) == 3
    assert len((await owner_state(runtime, owner))["attempts"]) == 3


async def test_late_delivery_is_flagged_on_both_sides(
    runtime: Runtime, pair: tuple[Tenant, Tenant], receiver: tuple[Receiver, str]
) -> None:
    owner, partner = pair
    app, url = receiver
    await webhook(runtime, partner, url)
    data = incident(severity=1, hours_ago=10 * 24)  # due 24 h after detection, 9 days ago
    [owed] = await report(runtime, owner, data)

    [outcome] = await webhook_flows.deliver_pending(runtime, owners=[owner.slug], policy=FAST)

    assert (outcome.status, outcome.late) == (OutcomeStatus.DELIVERED, True)
    assert app.requests[0].payload["late"] is True
    async with tenant_session(runtime, owner.slug) as session:
        flagged = await incident_service.late_notifications(session=session)
    assert [(n.id, n.notified_at) for n in flagged] == [(owed.id, outcome.notified_at)]
    mine = await owner_state(runtime, owner)
    notified = mine["events"][-1]
    assert notified.action == "incident.notified" and notified.change["late"] is True
    theirs = await partner_state(runtime, partner)
    [late] = theirs["late"]
    assert late.notification_id == owed.id and late.is_late()
    assert late.required_by == data["detected_at"] + timedelta(hours=24)
    assert theirs["events"][0].change["late"] is True


async def test_the_signature_is_meaningful(
    runtime: Runtime, pair: tuple[Tenant, Tenant], receiver: tuple[Receiver, str]
) -> None:
    owner, partner = pair
    app, url = receiver
    # Registered with one secret, the receiver expects another: every request is refused
    # (401, not retried) and nothing is marked notified.
    await webhook(runtime, partner, url, secret="a-different-secret-" + "x" * 20)
    await report(runtime, owner, incident())
    [outcome] = await webhook_flows.deliver_pending(runtime, owners=[owner.slug], policy=FAST)
    assert (outcome.status, outcome.code, outcome.attempts) == (
        OutcomeStatus.FAILED,
        "WEBHOOK_REJECTED",
        1,
    )
    [refused] = app.requests
    assert not refused.verified
    assert (await owner_state(runtime, owner))["notifications"][0].notified_at is None

    # With the right secret it is delivered; replaying that request is accepted only as
    # sent: a changed body, signature or an old timestamp is refused by the receiver.
    await webhook(runtime, partner, url)
    policy = DeliveryPolicy(attempts=1, timeout_seconds=2, cooldown=timedelta(0))
    [outcome] = await webhook_flows.deliver_pending(runtime, owners=[owner.slug], policy=policy)
    assert outcome.status is OutcomeStatus.DELIVERED
    good = app.requests[-1]
    assert good.verified
    sent = {k: good.headers[k] for k in ("x-accord-signature", "x-accord-timestamp")}
    tampered = good.body.replace(b'"severity":1', b'"severity":4')
    assert tampered != good.body
    signature = sent["x-accord-signature"]
    forged = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    stale = str(int(sent["x-accord-timestamp"]) - 3600)
    async with httpx.AsyncClient() as client:
        answers = [
            (await client.post(url, content=body, headers=headers)).status_code
            for body, headers in (
                (good.body, sent),
                (tampered, sent),
                (good.body, {**sent, "x-accord-signature": forged}),
                (good.body, {**sent, "x-accord-timestamp": stale}),
            )
        ]
    assert answers == [200, 401, 401, 401]
    # The library's own check agrees with the receiver's.
    args = {"timestamp": sent["x-accord-timestamp"], "signature": signature}
    assert webhook_service.verify_webhook_signature(SECRET, body=good.body, **args)
    assert not webhook_service.verify_webhook_signature(SECRET, body=tampered, **args)
    assert not webhook_service.verify_webhook_signature("wrong-secret", body=good.body, **args)
    assert not webhook_service.verify_webhook_signature(
        SECRET, body=good.body, **args, now=time.time() + 3600
    )


async def test_unreachable_target_and_partners_without_webhook(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    owner = await make_tenant(label="initech")
    closed, inbox = await make_tenant(label="closed"), await make_tenant(label="inbox")
    await agree(runtime, owner, closed, STANDARD_POLICY)
    await agree(runtime, owner, inbox, STANDARD_POLICY)
    await webhook(runtime, closed, f"http://127.0.0.1:{free_port()}/hooks")  # nobody listens
    reported, _ = await webhook_flows.report_incident_with_agreements(
        runtime=runtime, owner=owner.slug, actor=ACTOR, data=incident()
    )
    async with tenant_session(runtime, owner.slug) as session:
        await incident_service.require_notification(
            session=session,
            actor=ACTOR,
            incident=await incident_service.get_incident(session=session, incident_id=reported.id),
            partner="outsider",
            policy=STANDARD_POLICY,
        )

    outcomes = {
        o.partner: o
        for o in await webhook_flows.deliver_pending(runtime, owners=[owner.slug], policy=FAST)
    }

    assert (outcomes[closed.slug].status, outcomes[closed.slug].code) == (
        OutcomeStatus.FAILED,
        "WEBHOOK_UNREACHABLE",
    )
    assert outcomes[closed.slug].attempts == 3
    # A partner tenant with no webhook is notified in its own event log.
    assert (outcomes[inbox.slug].status, outcomes[inbox.slug].channel) == (
        OutcomeStatus.DELIVERED,
        Channel.EVENT,
    )
    # Not an Accord tenant and no webhook: nothing can reach it; nothing is written.
    assert (outcomes["outsider"].status, outcomes["outsider"].code) == (
        OutcomeStatus.SKIPPED,
        "NO_CHANNEL",
    )
    mine = await owner_state(runtime, owner)
    notified = {n.partner: n.notified_at for n in mine["notifications"]}
    assert notified[closed.slug] is None and notified["outsider"] is None
    assert notified[inbox.slug] == outcomes[inbox.slug].notified_at
    assert {a.partner for a in mine["attempts"]} == {closed.slug}
    theirs = await partner_state(runtime, inbox)
    assert [r.channel for r in theirs["received"]] == [Channel.EVENT]


# --------------------------------------------------------------------------- endpoints


async def test_registering_a_webhook(runtime: Runtime, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant(label="meridian")
    async with runtime.control_session() as session:
        endpoint, generated = await webhook_service.register_endpoint(
            session=session,
            settings=runtime.settings,
            tenant=tenant.slug,
            url="https://hooks.meridian.example/accord",
            actor=ACTOR,
        )
    assert generated is not None and len(generated) >= webhook_schemas.SECRET_MIN_LENGTH
    async with runtime.control_session() as session:
        stored = await session.scalar(
            select(WebhookEndpoint).where(WebhookEndpoint.tenant == tenant.slug)
        )
        resolved = await webhook_service.endpoint_for(
            session=session, settings=runtime.settings, tenant=tenant.slug
        )
    assert stored is not None and generated not in stored.secret  # encrypted at rest
    assert resolved is not None and resolved.secret == generated
    assert generated not in repr(resolved)

    # Registering again replaces the endpoint (one per tenant) and rotates the secret.
    async with runtime.control_session() as session:
        again, none = await webhook_service.register_endpoint(
            session=session,
            settings=runtime.settings,
            tenant=tenant.slug,
            url="https://hooks.meridian.example/v2",
            actor=ACTOR,
            secret=SECRET,
        )
        count = await session.scalar(
            select(func.count())
            .select_from(WebhookEndpoint)
            .where(WebhookEndpoint.tenant == tenant.slug)
        )
    assert (again.id, none, count) == (endpoint.id, None, 1)


@pytest.mark.parametrize(
    ("url", "secret", "field", "reason"),
    [
        ("ftp://hooks.example/accord", None, "url", "BAD_WEBHOOK_URL"),
        ("/relative/path", None, "url", "BAD_WEBHOOK_URL"),
        ("https://user:pw@hooks.example/accord", None, "url", "BAD_WEBHOOK_URL"),
        ("", None, "url", "BAD_WEBHOOK_URL"),
        ("https://hooks.example/accord", "short", "secret", "BAD_WEBHOOK_SECRET"),
    ],
)
async def test_bad_webhook_registration_is_refused(
    runtime: Runtime,
    make_tenant: TenantFactory,
    url: str,
    secret: str | None,
    field: str,
    reason: str,
) -> None:
    tenant = await make_tenant(label="meridian")
    async with runtime.control_session() as session:
        with pytest.raises(BadInput) as refused:
            await webhook_service.register_endpoint(
                session=session,
                settings=runtime.settings,
                tenant=tenant.slug,
                url=url,
                secret=secret,
                actor=ACTOR,
            )
    assert (refused.value.field, refused.value.reason) == (field, reason)
    async with runtime.control_session() as session:
        assert (
            await session.scalar(
                select(WebhookEndpoint.id).where(WebhookEndpoint.tenant == tenant.slug)
            )
            is None
        )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example/accord", "WEBHOOK_URL_NOT_HTTPS"),
        ("https://127.0.0.1/accord", "WEBHOOK_URL_INTERNAL"),
        ("https://169.254.169.254/latest/meta-data", "WEBHOOK_URL_INTERNAL"),
        ("https://10.1.2.3:8443/hooks", "WEBHOOK_URL_INTERNAL"),
        ("https://[::1]/hooks", "WEBHOOK_URL_INTERNAL"),
        ("https://localhost/hooks", "WEBHOOK_URL_INTERNAL"),
    ],
)
def test_prod_takes_public_https_webhooks_only(url: str, reason: str) -> None:
    prod = make_test_settings(env="prod")
    with pytest.raises(BadInput) as refused:
        webhook_service._check_url(url, prod)
    assert refused.value.reason == reason
    assert webhook_service._check_url("https://hooks.example/accord", prod)


# --------------------------------------------------------------------------- GraphQL


class Allow:
    def __init__(self, allowed: bool = True) -> None:
        self.allowed = allowed

    def authorize(self, principal: Any, action: str, resource: Any) -> Decision:
        return Decision(self.allowed, None, "test")


@strawberry.type
class _Query:
    @strawberry.field
    def ok(self) -> bool:
        return True


SCHEMA = strawberry.Schema(
    query=_Query, mutation=IncidentMutations, subscription=IncidentSubscription
)


def context(runtime: Runtime, tenant: Tenant, *, allowed: bool = True, hub: Any = None) -> Context:
    principal = Principal(
        tenant=tenant.slug,
        subject="li.wei",
        kind=PrincipalKind.USER,
        issuer="test",
        roles=frozenset({"admin"}),
    )
    return Context(
        runtime=runtime,
        principal=principal,
        authorizer=Allow(allowed),
        cursors=None,  # type: ignore[arg-type]
        loaders=None,  # type: ignore[arg-type]
        request_id="test",
        hub=hub,
    )


REGISTER = """
mutation ($input: RegisterIncidentWebhookInput!) {
  registerIncidentWebhook(input: $input) {
    webhook { tenant url } secret errors { code reason field }
  }
}
"""


async def test_register_incident_webhook_mutation(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="meridian")
    url = "https://hooks.meridian.example/accord"
    ok = await SCHEMA.execute(
        REGISTER, {"input": {"url": url}}, context_value=context(runtime, tenant)
    )
    assert ok.errors is None and ok.data is not None
    payload = ok.data["registerIncidentWebhook"]
    assert payload["webhook"] == {"tenant": tenant.slug, "url": url}
    assert len(payload["secret"]) >= webhook_schemas.SECRET_MIN_LENGTH and payload["errors"] == []

    bad = await SCHEMA.execute(
        REGISTER, {"input": {"url": "gopher://x"}}, context_value=context(runtime, tenant)
    )
    assert bad.data is not None
    assert bad.data["registerIncidentWebhook"]["errors"] == [
        {"code": "BAD_USER_INPUT", "reason": "BAD_WEBHOOK_URL", "field": "url"}
    ]
    denied = await SCHEMA.execute(
        REGISTER,
        {"input": {"url": "https://evil.example/"}},
        context_value=context(runtime, tenant, allowed=False),
    )
    assert denied.data is not None
    assert denied.data["registerIncidentWebhook"]["errors"][0]["reason"] == "ACTION_DENIED"
    async with runtime.control_session() as session:
        stored = await session.scalar(
            select(WebhookEndpoint.url).where(WebhookEndpoint.tenant == tenant.slug)
        )
    assert stored == url


@pytest.fixture
async def hub(runtime: Runtime) -> AsyncIterator[NotificationHub]:
    stores = runtime.stores
    notifications = NotificationHub(lambda: {name: stores.url(name) for name in stores.names()})
    yield notifications
    await notifications.close()


async def test_incident_notifications_subscription_streams_the_partners_own_receipts(
    runtime: Runtime, pair: tuple[Tenant, Tenant], hub: NotificationHub
) -> None:
    owner, partner = pair
    stream = await SCHEMA.subscribe(
        "subscription { incidentNotifications { owner incidentReference severity late "
        "channel dueBy notificationId } }",
        context_value=context(runtime, partner, hub=hub),
    )
    assert not isinstance(stream, strawberry.types.ExecutionResult)
    first = asyncio.ensure_future(stream.__anext__())
    deadline = time.monotonic() + 10
    while not (hub.subscribers("accord_events") and hub.listening()):
        assert time.monotonic() < deadline, "the subscription did not start listening"
        await asyncio.sleep(0.02)
    data = incident(severity=1, hours_ago=48)  # late
    [owed] = await report(runtime, owner, data)  # the owner's own events are not streamed
    [outcome] = await webhook_flows.deliver_pending(runtime, owners=[owner.slug], policy=FAST)
    assert outcome.channel is Channel.EVENT
    result = await asyncio.wait_for(first, 10)
    await stream.aclose()
    assert result.errors is None and result.data is not None
    event = result.data["incidentNotifications"]
    assert event == {
        "owner": owner.slug,
        "incidentReference": data["reference"],
        "severity": 1,
        "late": True,
        "channel": "EVENT",
        "dueBy": (data["detected_at"] + timedelta(hours=24)).isoformat(),
        "notificationId": str(owed.id),
    }


def test_the_incident_types_merge_into_the_gateways_schema() -> None:
    from accord.graphql.subscriptions import Subscription

    merged = merge_types("Subscription", (Subscription, IncidentSubscription))
    schema = strawberry.Schema(query=_Query, mutation=IncidentMutations, subscription=merged)
    sdl = schema.as_str()
    assert "incidentNotifications(lateOnly: Boolean! = false): IncidentNotificationEvent!" in sdl
    assert "findingEvents(" in sdl
    assert "registerIncidentWebhook(input: RegisterIncidentWebhookInput!)" in sdl


# --------------------------------------------------------------------------- CLI


async def test_cli_deliver_reports_each_outcome_and_exits_2_on_failure(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    owner = await make_tenant(label="initech")
    closed, inbox = await make_tenant(label="closed"), await make_tenant(label="inbox")
    await agree(runtime, owner, closed, STANDARD_POLICY)
    await agree(runtime, owner, inbox, STANDARD_POLICY)
    await webhook(runtime, closed, f"http://127.0.0.1:{free_port()}/hooks")
    await report(runtime, owner, incident())
    args = ["incidents", "deliver", "--tenant", owner.slug, "--attempts", "1", "--json"]
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "accord", *args],
        capture_output=True,
        text=True,
        env=subprocess_env(COLUMNS="200"),
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    rows = {row["partner"]: row for row in json.loads(done.stdout)}
    assert (rows[inbox.slug]["status"], rows[inbox.slug]["channel"]) == ("delivered", "event")
    assert (rows[closed.slug]["status"], rows[closed.slug]["code"]) == (
        "failed",
        "WEBHOOK_UNREACHABLE",
    )
    assert "WEBHOOK_UNREACHABLE" in done.stderr


# --------------------------------------------------------------------------- migrations


def _drift(sync: Connection, schema: str, tables: tuple[Table, ...], mine: set[str]) -> list[Any]:
    """Differences between ``tables`` (with what their foreign keys need) and the database,
    about the tables named ``mine``."""
    models = MetaData(schema=schema)
    for table in tables:
        table.to_metadata(models, schema=schema)

    def include_name(name: str | None, type_: str, parents: Any) -> bool:
        if type_ == "schema":
            return name == schema
        return type_ != "table" or name in mine

    context = MigrationContext.configure(
        sync, opts={"include_schemas": True, "include_name": include_name, "compare_type": True}
    )
    return [d for d in compare_metadata(context, models) if any(t in repr(d) for t in mine)]


async def test_the_migrations_create_what_the_models_declare(
    runtime: Runtime, pair: tuple[Tenant, Tenant]
) -> None:
    owner, _ = pair
    tenant_tables = (
        IncidentReport.__table__,
        IncidentNotification.__table__,
        WebhookDelivery.__table__,
        ReceivedIncidentNotification.__table__,
    )
    mine = {"webhook_deliveries", "received_incident_notifications"}
    async with runtime.stores.migrator_engine(owner.store).connect() as conn:
        drift = await conn.run_sync(_drift, f"t_{owner.slug}", tenant_tables, mine)
    assert drift == []
    control_tables = (Store.__table__, Tenant.__table__, WebhookEndpoint.__table__)
    async with runtime.stores.engine(runtime.home).connect() as conn:
        control = await conn.run_sync(
            _drift, "accord", control_tables, {"incident_webhook_endpoints"}
        )
    assert control == []
    with pytest.raises(DBAPIError, match=r"append-only|permission denied"):
        async with tenant_session(runtime, owner.slug) as session:
            await session.execute(delete(WebhookDelivery))
