"""SAP quality notifications → findings, against the local OData server and its faults."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote_plus

from sqlalchemy import select

from accord.compliance.findings.models import Finding
from accord.connectors import instances
from accord.connectors.models import QuarantineEntry, SyncRun, SyncState
from accord.connectors.sync import engine
from accord.connectors.sync.quarantine import replay
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session
from tests.connectors.conftest import MakeInstance
from tests.connectors.fake_sap import FakeSap
from tests.factories.connectors import snapshot


async def test_full_then_delta_then_rerun_writes_nothing(
    runtime: Runtime, make_tenant: Any, make_instance: MakeInstance, sap: tuple[FakeSap, str]
) -> None:
    app, url = sap
    app.count = 35
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, url)
    [first] = await engine.run_instance(runtime, loaded)
    assert first.status == "succeeded", first.error
    assert first.counts["created"] == 35 and first.counts["pages"] == 4
    before = await snapshot(runtime, tenant.slug)
    assert len(before["rows"]) == 35 and before["chain_ok"]
    base_events = before["events"]

    # Nothing changed: the delta asks only for newer records and writes nothing at all.
    [again] = await engine.run_instance(runtime, loaded)
    assert again.counts["fetched"] == 0 and again.counts["created"] == 0
    assert (await snapshot(runtime, tenant.slug))["events"] == base_events
    assert "ChangedDateTime gt 2024-05-01T00:00:34" in unquote_plus(app.requests[-1])

    # A change in SAP arrives through the delta as one update and one event.
    from datetime import UTC, datetime

    app.overrides[3] = {"NotificationPriority": "1", "_changed": datetime(2024, 6, 1, tzinfo=UTC)}
    [delta] = await engine.run_instance(runtime, loaded)
    assert (delta.counts["fetched"], delta.counts["updated"]) == (1, 1)
    after = await snapshot(runtime, tenant.slug)
    assert after["events"] == base_events + 1 and after["chain_ok"]
    assert dict((r[0], r[2]) for r in after["rows"])["200000003"] == "critical"

    # A full resync of unchanged data (bookmark dropped) finds everything unchanged.
    async with tenant_session(runtime, tenant.slug) as s:
        state = await s.get(SyncState, (loaded.row.id, "quality_notifications"))
        assert state is not None
        state.bookmark = {}
    [full] = await engine.run_instance(runtime, loaded)
    assert full.counts["unchanged"] == 35 and full.counts["created"] + full.counts["updated"] == 0
    assert (await snapshot(runtime, tenant.slug))["events"] == after["events"]


async def test_faults_are_retried_and_lose_nothing(
    runtime: Runtime, make_tenant: Any, make_instance: MakeInstance, sap: tuple[FakeSap, str]
) -> None:
    app, url = sap
    app.count = 40
    app.faults_at = {
        0: ["429"],
        10: ["500", "503", "503"],
        20: ["timeout", "reset"],
        30: ["malformed"],
    }
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, url)
    started = time.monotonic()
    [result] = await engine.run_instance(runtime, loaded)
    assert result.status == "succeeded", result.error
    assert time.monotonic() - started >= 1.0  # Retry-After: 1 was honoured
    assert result.counts["created"] == 40
    async with tenant_session(runtime, tenant.slug) as s:
        run = await s.get(SyncRun, __import__("uuid").UUID(result.run_id))
        assert run is not None and run.retries == 7
        reasons = {entry["reason"] for entry in run.log}
    assert {
        "HTTP_429",
        "HTTP_500",
        "HTTP_503",
        "TIMEOUT",
        "CONNECTION_ERROR",
        "BAD_JSON",
    } <= reasons
    assert len((await snapshot(runtime, tenant.slug))["rows"]) == 40


async def test_fatal_4xx_fails_the_run_with_the_body_logged(
    runtime: Runtime, make_tenant: Any, make_instance: MakeInstance, sap: tuple[FakeSap, str]
) -> None:
    app, url = sap
    app.count = 25
    app.faults_at = {10: ["400"]}
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, url)
    [result] = await engine.run_instance(runtime, loaded)
    assert result.status == "failed" and "HTTP_400" in (result.error or "")
    assert sum(1 for r in app.requests if "skiptoken=10" in r) == 1  # not retried
    async with tenant_session(runtime, tenant.slug) as s:
        run = (await s.scalars(select(SyncRun).where(SyncRun.instance_id == loaded.row.id))).one()
        assert run.status == "failed" and any("BAD_FILTER" in str(e.get("body")) for e in run.log)
        assert run.created == 10  # the committed page stays
    app.count = 25
    [resumed] = await engine.run_instance(runtime, loaded)
    assert resumed.status == "succeeded" and resumed.counts["created"] == 15


async def test_invalid_records_quarantined_fixed_by_mapping_and_replayed(
    runtime: Runtime, make_tenant: Any, make_instance: MakeInstance, sap: tuple[FakeSap, str]
) -> None:
    app, url = sap
    app.count = 12
    app.overrides = {
        2: {"NotificationType": "ZQ"},
        5: {"NotificationText": "", "NotificationPriority": "7"},
        7: {"CreationDate": "01.05.2024"},
    }
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, url)
    [result] = await engine.run_instance(runtime, loaded)
    assert (result.counts["created"], result.counts["quarantined"]) == (9, 3)
    async with tenant_session(runtime, tenant.slug) as s:
        entries = (
            await s.scalars(select(QuarantineEntry).order_by(QuarantineEntry.external_id))
        ).all()
    by_id = {
        e.external_id: {r["reason"] + ":" + str(r["field"]) for r in e.reasons} for e in entries
    }
    assert by_id == {
        "200000002": {"UNKNOWN_CODE:grade"},
        "200000005": {"REQUIRED:title", "REQUIRED:condition", "UNKNOWN_CODE:severity"},
        "200000007": {"BAD_DATE:raised_at"},
    }
    # Fix two of three by a mapping change, then replay: those land, the third stays.
    override = {
        "quality_notifications": {
            "fields": {
                "grade": {"codes": {"ZQ": "observation"}},
                "raised_at": {"formats": ["iso", "%d.%m.%Y"]},
            }
        }
    }
    await instances.set_mapping_override(runtime, str(loaded.row.id), override)
    loaded = await instances.load_instance(runtime, str(loaded.row.id))
    report = await replay(runtime, loaded, "quality_notifications")
    assert (report.replayed, report.still_failing) == (2, 1)
    snap = await snapshot(runtime, tenant.slug)
    assert len(snap["rows"]) == 11 and snap["chain_ok"]
    again = await replay(runtime, loaded, "quality_notifications")
    assert (again.replayed, again.still_failing) == (0, 1)
    assert (await snapshot(runtime, tenant.slug))["events"] == snap["events"]


async def test_oauth_token_endpoint_failing_once_and_expired_delta(
    runtime: Runtime, make_tenant: Any, make_instance: MakeInstance, sap: tuple[FakeSap, str]
) -> None:
    from datetime import UTC, datetime

    app, url = sap
    app.count = 15
    app.require_token, app.token_failures, app.token_lifetime = True, 1, 1
    tenant = await make_tenant()
    auth = {
        "type": "oauth2",
        "token_url": f"{url}/oauth/token",
        "client_id": "accord",
        "client_secret": "s3cret",
    }
    loaded = await make_instance(tenant.slug, url, auth=auth)
    assert "s3cret" not in str(loaded.row.config) and loaded.row.secrets
    [result] = await engine.run_instance(runtime, loaded)
    assert result.status == "succeeded", result.error
    assert result.counts["created"] == 15 and app.tokens_issued >= 1

    # The server forgot deltas older than its horizon: 410 → full resync, nothing duplicated.
    app.delta_horizon = datetime(2030, 1, 1, tzinfo=UTC)
    [resync] = await engine.run_instance(runtime, loaded)
    assert resync.status == "succeeded", resync.error
    assert resync.full_resync and resync.counts["unchanged"] == 15
    assert len((await snapshot(runtime, tenant.slug))["rows"]) == 15


async def test_odata_v2_gateway(
    runtime: Runtime, make_tenant: Any, make_instance: MakeInstance, sap: tuple[FakeSap, str]
) -> None:
    app, url = sap
    app.count = 23
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, url, odata_version="v2")
    [result] = await engine.run_instance(runtime, loaded)
    assert result.status == "succeeded", result.error
    assert result.counts["created"] == 23
    [again] = await engine.run_instance(runtime, loaded)
    assert again.counts["fetched"] == 0
    assert "datetimeoffset'2024-05-01T00:00:22" in unquote_plus(app.requests[-1])
    async with tenant_session(runtime, tenant.slug) as s:
        f = (await s.scalars(select(Finding).where(Finding.external_id == "200000001"))).one()
    assert f.raised_at.isoformat().startswith("2024-04-28T00:00:01")
    assert str(f.response_due_at) == "2024-05-28"
