"""Dataverse audit findings → findings, against the local Web API and Entra token endpoint:
paging by next link, change tracking by delta link, deletions at source, expired tokens,
throttling and bearer tokens."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from accord.compliance.findings.models import Finding
from accord.connectors.models import SyncRun, SyncState
from accord.connectors.sync import engine
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session
from tests.connectors.conftest import MakeInstance
from tests.connectors.fake_dataverse import (
    API,
    CLIENT_ID,
    CLIENT_SECRET,
    ENTITY_SET,
    TOKEN_PATH,
    FakeDataverse,
    guid,
)
from tests.connectors.fake_sap import ServerThread

STREAM = "audit_findings"


@pytest.fixture
def dataverse() -> Iterator[tuple[FakeDataverse, str]]:
    app = FakeDataverse()
    server = ServerThread(app)
    app.org = server.url
    with server:
        yield app, server.url


def entra(url: str, secret: str = CLIENT_SECRET) -> dict[str, Any]:
    return {
        "type": "oauth2",
        "token_url": f"{url}{TOKEN_PATH}",
        "client_id": CLIENT_ID,
        "client_secret": secret,
    }


async def findings(runtime: Runtime, slug: str) -> dict[str, Finding]:
    async with tenant_session(runtime, slug) as s:
        rows = (await s.scalars(select(Finding))).all()
        s.expunge_all()
    return {f.external_id or "": f for f in rows}


async def events(runtime: Runtime, slug: str, action: str | None = None) -> list[EventLogEntry]:
    async with tenant_session(runtime, slug) as s:
        query = select(EventLogEntry).order_by(EventLogEntry.seq)
        if action is not None:
            query = query.where(EventLogEntry.action == action)
        rows = list((await s.scalars(query)).all())
        assert (await verify_chain(s)).ok
        s.expunge_all()
    return rows


async def bookmark(runtime: Runtime, slug: str, instance_id: uuid.UUID) -> dict[str, Any]:
    async with tenant_session(runtime, slug) as s:
        state = await s.get(SyncState, (instance_id, STREAM))
        assert state is not None
        return dict(state.bookmark)


def counts(**values: int) -> dict[str, int]:
    return {**dict.fromkeys(engine.COUNTS, 0), **values}


async def test_full_pass_then_delta_with_deletion_and_restore(
    runtime: Runtime,
    make_tenant: Any,
    make_instance: MakeInstance,
    dataverse: tuple[FakeDataverse, str],
) -> None:
    app, url = dataverse
    app.create(*range(23))
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, url, kind="dataverse", auth=entra(url))
    assert CLIENT_SECRET not in str(loaded.row.config)

    [first] = await engine.run_instance(runtime, loaded)
    assert first.status == "succeeded", first.error
    assert first.counts == counts(pages=3, fetched=23, created=23)

    # The wire: OData headers, server-driven pages by $skiptoken, never $skip or $top.
    assert [r["raw"] == "" for r in app.requests] == [True, False, False]
    for request in app.requests:
        assert request["path"] == f"{API}/{ENTITY_SET}"
        assert "$skip" not in request["query"] and "$top" not in request["query"]
        headers = request["headers"]
        assert (headers["odata-maxversion"], headers["odata-version"]) == ("4.0", "4.0")
        assert "odata.maxpagesize=10" in headers["prefer"]
        assert "odata.track-changes" in headers["prefer"]
        assert headers["authorization"].startswith("Bearer ey")
    assert 'pagenumber="2"' in app.requests[1]["query"]["$skiptoken"]
    assert 'pagenumber="3"' in app.requests[2]["query"]["$skiptoken"]
    # One Entra token for the whole run, asked for with exactly the client-credentials form.
    assert app.tokens_issued == 1
    assert app.token_forms == [
        {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": f"{url}/.default",
        }
    ]
    mark = await bookmark(runtime, tenant.slug, loaded.row.id)
    assert mark["delta_link"].startswith(f"{url}{API}/{ENTITY_SET}?$deltatoken=919023%21")
    assert mark["passes"] == 1 and mark["resume"] is None

    rows = await findings(runtime, tenant.slug)
    assert len(rows) == 23
    five = rows[guid(5)]
    assert (five.reference, five.severity, five.grade) == ("AF-1005", "high", "observation")
    assert (five.raised_by, five.owner) == ("Dana Whitfield", "Quality Assurance Team")
    assert five.raised_at.isoformat() == "2024-05-01T13:00:00+00:00"
    assert str(five.response_due_at) == "2024-05-31"
    assert five.clause_keys == ["iso9001:2015/7.1.5"] and five.deleted_at is None
    base_events = len(await events(runtime, tenant.slug))
    assert len(await events(runtime, tenant.slug, "finding.imported")) == 23

    # Changes since: one changed, one new, one deleted; the delta link brings only those.
    app.change(3, cr_severity=100000000)
    app.create(23)
    app.delete(5)
    [delta] = await engine.run_instance(runtime, loaded)
    assert delta.status == "succeeded", delta.error
    assert delta.counts == counts(pages=1, fetched=3, created=1, updated=2)
    last = app.requests[-1]["query"]
    assert set(last) == {"$deltatoken"} and last["$deltatoken"].startswith("919023!")
    rows = await findings(runtime, tenant.slug)
    assert len(rows) == 24  # the deleted finding is kept
    assert rows[guid(3)].severity == "critical" and rows[guid(3)].deleted_at is None
    gone = rows[guid(5)]
    assert gone.deleted_at is not None and gone.content_hash is None
    assert gone.title == "Calibration record missing for gauge G-105"
    [deletion] = await events(runtime, tenant.slug, "finding.deleted_at_source")
    assert (deletion.record_type, deletion.record_id) == ("finding", str(gone.id))
    assert deletion.change == {"source_system": "dataverse", "external_id": guid(5)}
    assert len(await events(runtime, tenant.slug)) == base_events + 3
    assert (await bookmark(runtime, tenant.slug, loaded.row.id))["delta_link"] != mark["delta_link"]

    # Nothing changed: one empty delta page, nothing written.
    [quiet] = await engine.run_instance(runtime, loaded)
    assert quiet.counts == counts(pages=1)
    assert len(await events(runtime, tenant.slug)) == base_events + 3

    # Restored in Dataverse with its id and its very payload: deleted_at is cleared.
    app.restore(5)
    [back] = await engine.run_instance(runtime, loaded)
    assert back.counts == counts(pages=1, fetched=1, updated=1)
    revived = (await findings(runtime, tenant.slug))[guid(5)]
    assert revived.deleted_at is None and revived.content_hash is not None
    [restored] = await events(runtime, tenant.slug, "finding.restored_at_source")
    assert restored.record_id == str(gone.id)
    assert len(await events(runtime, tenant.slug, "finding.source_changed")) == 2

    # A deletion of a row Accord never saw marks nothing and counts as unchanged.
    app.create(40)
    app.delete(40)
    [unseen] = await engine.run_instance(runtime, loaded)
    assert unseen.counts == counts(pages=1, fetched=1, unchanged=1)
    assert guid(40) not in await findings(runtime, tenant.slug)

    # Reported deleted, then listed again by a full pass with the very payload it had
    # (access lost and regained): the same hash must not hide the revival.
    app.hide(7)
    [hidden] = await engine.run_instance(runtime, loaded)
    assert hidden.counts == counts(pages=1, fetched=1, updated=1)
    assert (await findings(runtime, tenant.slug))[guid(7)].deleted_at is not None
    app.unhide(7)
    async with tenant_session(runtime, tenant.slug) as s:
        state = await s.get(SyncState, (loaded.row.id, STREAM))
        assert state is not None
        state.bookmark = {}
    [full] = await engine.run_instance(runtime, loaded)
    assert full.counts == counts(pages=3, fetched=24, updated=1, unchanged=23)
    assert (await findings(runtime, tenant.slug))[guid(7)].deleted_at is None
    assert len(await events(runtime, tenant.slug, "finding.restored_at_source")) == 2
    assert app.tokens_issued == 7  # one per run: a token lives in its run's client


async def test_expired_delta_token_resyncs_in_full(
    runtime: Runtime,
    make_tenant: Any,
    make_instance: MakeInstance,
    dataverse: tuple[FakeDataverse, str],
) -> None:
    app, url = dataverse
    app.create(*range(12))
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, url, kind="dataverse", auth=entra(url), page_size=5)
    [first] = await engine.run_instance(runtime, loaded)
    assert first.counts == counts(pages=3, fetched=12, created=12)

    app.change(2, cr_name="Gauge G-102 used past its calibration due date")
    app.create(12)
    app.oldest_token = app.version  # the token of the first run is now too old
    before = len(app.requests)
    [resync] = await engine.run_instance(runtime, loaded)
    assert resync.status == "succeeded", resync.error
    assert resync.full_resync
    assert resync.counts == counts(pages=3, fetched=13, created=1, updated=1, unchanged=11)
    served = app.requests[before:]
    assert "$deltatoken" in served[0]["query"] and served[1]["raw"] == ""
    async with tenant_session(runtime, tenant.slug) as s:
        run = await s.get(SyncRun, uuid.UUID(resync.run_id))
        assert run is not None and run.full_resync
        assert {"reason": "DELTA_EXPIRED", "action": "full resync"} in run.log

    rows = await findings(runtime, tenant.slug)
    assert len(rows) == 13
    assert rows[guid(2)].title == "Gauge G-102 used past its calibration due date"
    assert rows[guid(12)].reference == "AF-1012"
    # The resync's own delta link is fresh: the next run is a delta again, and empty.
    [after] = await engine.run_instance(runtime, loaded)
    assert after.counts == counts(pages=1) and not after.full_resync
    assert "$deltatoken" in app.requests[-1]["query"]


async def test_throttling_429_retry_after_is_honoured(
    runtime: Runtime,
    make_tenant: Any,
    make_instance: MakeInstance,
    dataverse: tuple[FakeDataverse, str],
) -> None:
    app, url = dataverse
    app.create(*range(15))
    app.faults = {1: "429"}  # the second page: 0x80072322, Retry-After: 1
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, url, kind="dataverse", auth=entra(url))
    started = time.monotonic()
    [result] = await engine.run_instance(runtime, loaded)
    assert result.status == "succeeded", result.error
    assert time.monotonic() - started >= 1.0
    assert result.counts == counts(pages=2, fetched=15, created=15)
    assert len(app.requests) == 3 and app.requests[1]["raw"] == app.requests[2]["raw"]
    async with tenant_session(runtime, tenant.slug) as s:
        run = await s.get(SyncRun, uuid.UUID(result.run_id))
        assert run is not None and run.retries == 1
        assert [e["reason"] for e in run.log] == ["HTTP_429"]


async def test_bearer_tokens_are_checked_and_renewed(
    runtime: Runtime,
    make_tenant: Any,
    make_instance: MakeInstance,
    dataverse: tuple[FakeDataverse, str],
) -> None:
    app, url = dataverse
    app.create(*range(15))
    tenant = await make_tenant()

    # A wrong secret: Entra answers 401 invalid_client; no data request is made.
    wrong = await make_instance(tenant.slug, url, kind="dataverse", auth=entra(url, "nope"))
    [refused] = await engine.run_instance(runtime, wrong)
    assert refused.status == "failed" and "HTTP_401" in (refused.error or "")
    assert "AADSTS7000215" in (refused.error or "")
    assert app.requests == [] and app.tokens_issued == 0

    # The token is revoked mid-run: the 401 makes the client fetch a new one, once.
    app.faults = {1: "revoke"}
    loaded = await make_instance(tenant.slug, url, kind="dataverse", auth=entra(url))
    [result] = await engine.run_instance(runtime, loaded)
    assert result.status == "succeeded", result.error
    assert result.counts["created"] == 15 and app.tokens_issued == 2
    assert len(app.requests) == 3
    first, second = (r["headers"]["authorization"] for r in app.requests[1:])
    assert first != second  # the retried page carried the new token
    async with tenant_session(runtime, tenant.slug) as s:
        total = await s.scalar(select(func.count()).select_from(Finding))
    assert total == 15
