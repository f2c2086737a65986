"""Subscriptions over graphql-transport-ws on real servers: two replicas (two apps, two
uvicorn servers on loopback) share nothing but PostgreSQL, so an event committed through
one reaches a subscriber of the other only through LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import websockets
from starlette.applications import Starlette

from accord.compliance.workflow import service as finding_workflow
from accord.connectors.sync import runs
from accord.platform.notifications import NotificationHub
from accord.platform.runtime import Runtime
from accord.platform.settings import Settings
from accord.policies import service as policy_service
from accord.tenants.agreements import service as agreements
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, TenantFactory
from tests.factories import raci
from tests.factories.api import replica
from tests.factories.records import finding_input
from tests.factories.sharing import grant
from tests.graphql.conftest import Api

EVENTS = """
subscription($filter: FindingEventFilter, $p: String) {
  findingEvents(filter: $filter, process: $p) {
    findingId tenant level seq action actor change
  }
}
"""

PROGRESS = """
subscription($run: UUID!) {
  syncProgress(runId: $run) { runId status pages fetched created unchanged }
}
"""


class Subscriber:
    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def next(self, within: float = 10.0) -> dict[str, Any]:
        message = json.loads(await asyncio.wait_for(self.ws.recv(), within))
        assert message["type"] == "next", message
        payload: dict[str, Any] = message["payload"]
        return payload

    async def nothing(self, within: float = 1.0) -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(self.ws.recv(), within)


@asynccontextmanager
async def subscribe(
    url: str, token: str, query: str, variables: dict[str, Any]
) -> AsyncIterator[Subscriber]:
    async with websockets.connect(
        url,
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
        additional_headers={"Authorization": f"Bearer {token}"},
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        payload = {"query": query, "variables": variables}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        yield Subscriber(ws)


async def listening(app: Starlette, channel: str, count: int) -> None:
    hub: NotificationHub = app.state.notifications
    for _ in range(500):
        if hub.subscribers(channel) >= count and hub.listening():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the subscription did not start listening")


async def raise_one(runtime: Runtime, slug: str) -> str:
    async with tenant_session(runtime, slug) as session:
        finding = await finding_workflow.raise_finding(
            session=session, data=finding_input(owner="user:li.wei"), actor="user:anna.keller"
        )
        return str(finding.id)


async def test_finding_events_cross_replicas_at_each_level_and_stop_at_revocation(
    api: Api, settings: Settings, runtime: Runtime, make_tenant: TenantFactory
) -> None:
    owner = await make_tenant(SECOND_STORE, label="ow")
    full_reader = await make_tenant(label="fr")
    summary_reader = await make_tenant(label="sr")
    stranger = await make_tenant(label="st")
    agreement = await grant(runtime, owner.slug, full_reader.slug, "full")
    await grant(runtime, owner.slug, summary_reader.slug, "summary")
    process = f"live-{secrets.token_hex(4)}"
    readers = (full_reader.slug, summary_reader.slug, stranger.slug)
    names = [
        await api.import_matrix(
            raci.follow_findings(
                name=f"Live {process}",
                process=process,
                owners=[owner.slug],
                accountable=owner.slug,
                informed=readers,
            )
        )
    ]
    tokens = [
        await api.sign_in(t, f"qm-{t.slug[-4:]}", "quality_manager")
        for t in (full_reader, summary_reader, stranger)
    ]
    variables = {"p": process, "filter": None}
    try:
        async with (
            replica(settings, runtime) as (app_b, url_b),
            subscribe(url_b, tokens[0], EVENTS, variables) as full,
            subscribe(url_b, tokens[1], EVENTS, variables) as summary,
            subscribe(url_b, tokens[2], EVENTS, variables) as outsider,
        ):
            await listening(app_b, "accord_events", 3)
            # Written through another "replica" (this process's own session, not app B).
            raised = await raise_one(runtime, owner.slug)
            got_full = (await full.next())["data"]["findingEvents"]
            got_summary = (await summary.next())["data"]["findingEvents"]
            assert got_full["tenant"] == owner.slug and got_full["level"] == "FULL"
            assert got_full["action"] == "finding.raised"
            assert got_full["actor"] == "user:anna.keller"
            assert got_full["change"]["reference"]
            assert got_summary["level"] == "SUMMARY"
            assert (got_summary["actor"], got_summary["change"]) == (None, None)
            assert got_summary["findingId"] == got_full["findingId"]
            assert raised in _decoded(got_full["findingId"])
            await outsider.nothing()  # RACI role but no agreement: nothing

            async with runtime.control_session() as session:
                await agreements.revoke(
                    session=session,
                    agreement_id=agreement,
                    tenant=owner.slug,
                    actor="user:anna",
                    reason="End of the joint programme",
                )
            await raise_one(runtime, owner.slug)
            assert (await summary.next())["data"]["findingEvents"]["level"] == "SUMMARY"
            await full.nothing()  # revoked: from the next event on
    finally:
        async with runtime.control_session() as session:
            for name in names:
                await policy_service.delete_matrix(session=session, name=name)


def _decoded(global_id: str) -> str:
    from accord.graphql.relay import GlobalId

    return str(GlobalId.decode(global_id, expected="Finding").record_id)


async def test_sync_progress_follows_pages_until_the_run_ends(
    api: Api, settings: Settings, runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="sp")
    other = await make_tenant(label="so")
    token = await api.sign_in(tenant, "ops", "quality_manager")
    foreign = await api.sign_in(other, "ops2", "quality_manager")
    instance = uuid.uuid4()
    async with tenant_session(runtime, tenant.slug) as session:
        run, _ = await runs.start_run(
            session, instance_id=instance, instance_name="sap-live", kind="sap", stream="qn"
        )
    async with replica(settings, runtime) as (app, url):
        async with subscribe(url, token, PROGRESS, {"run": str(run.id)}) as follower:
            first = (await follower.next())["data"]["syncProgress"]
            assert first == {
                "runId": str(run.id),
                "status": "running",
                "pages": 0,
                "fetched": 0,
                "created": 0,
                "unchanged": 0,
            }
            await listening(app, "accord_sync", 1)
            for page in range(2):
                async with tenant_session(runtime, tenant.slug) as session:
                    await runs.commit_page(
                        session,
                        run_id=run.id,
                        instance_id=instance,
                        stream="qn",
                        bookmark=None,
                        counts={"pages": 1, "fetched": 100, "created": 90, "unchanged": 10},
                        retries=0,
                    )
                update = (await follower.next())["data"]["syncProgress"]
                assert (update["pages"], update["fetched"]) == (page + 1, 100 * (page + 1))
            async with tenant_session(runtime, tenant.slug) as session:
                await runs.finish_run(
                    session,
                    run_id=run.id,
                    status="succeeded",
                    error=None,
                    log=[],
                    full_resync=False,
                    retries=0,
                )
            last = (await follower.next())["data"]["syncProgress"]
            assert last["status"] == "succeeded" and last["created"] == 180
            done = json.loads(await asyncio.wait_for(follower.ws.recv(), 5))
            assert done == {"id": "1", "type": "complete"}
        # Another tenant's member cannot follow the run: it is not theirs.
        async with subscribe(url, foreign, PROGRESS, {"run": str(run.id)}) as intruder:
            message = json.loads(await asyncio.wait_for(intruder.ws.recv(), 5))
            assert message["type"] == "error" or message["payload"].get("errors"), message
