"""A sync run as telemetry: one run span, a span per page written, a span per source
request with its retries as events, SQL under the pages, records counted by outcome and the
quarantine measured after the run."""

from __future__ import annotations

from typing import Any

from accord.connectors.sync import engine
from accord.platform.runtime import Runtime
from accord.platform.settings import Settings
from tests.connectors.conftest import MakeInstance
from tests.connectors.fake_sap import FakeSap
from tests.factories.telemetry import recording


async def test_a_sync_run_is_one_span_tree_with_counts_and_retries(
    runtime: Runtime,
    settings: Settings,
    make_tenant: Any,
    make_instance: MakeInstance,
    sap: tuple[FakeSap, str],
) -> None:
    app, url = sap
    app.count = 25
    app.faults_at = {10: ["503", "500"]}
    app.overrides = {5: {"NotificationText": "", "NotificationPriority": "7"}}
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, url)

    with recording(settings) as recorded:
        [result] = await engine.run_instance(runtime, loaded)
        assert result.status == "succeeded", result.error
        assert (result.counts["created"], result.counts["quarantined"]) == (24, 1)

        [run] = recorded.spans("sync.run")
        assert run.parent is None
        assert (
            dict(run.attributes or {}).items()
            >= {
                "accord.tenant": tenant.slug,
                "accord.connector": "sap",
                "accord.stream": result.stream,
                "accord.status": "succeeded",
                "accord.records.pages": 3,
                "accord.records.created": 24,
                "accord.records.quarantined": 1,
            }.items()
        )
        children = recorded.children(run)
        pages = [s for s in children if s.name == "sync.page"]
        requests = [s for s in children if s.name == "connector.request"]
        assert len(pages) == 3
        assert sorted((p.attributes or {})["accord.records.fetched"] for p in pages) == [5, 10, 10]
        assert sum((p.attributes or {})["accord.records.quarantined"] for p in pages) == 1
        assert all((p.attributes or {})["accord.tenant"] == tenant.slug for p in pages)
        # Each page's writes are SQL spans under it (statements, never their values).
        for page in pages:
            statements = [
                s for s in recorded.children(page) if "db.statement" in (s.attributes or {})
            ]
            assert statements, "no SQL under a page"
        # Three pages fetched, one of them after two retries recorded as events.
        assert len(requests) == 3
        assert {(r.attributes or {})["http.response.status_code"] for r in requests} == {200}
        retries = [e for r in requests for e in r.events if e.name == "connector.retry"]
        assert [(e.attributes or {})["accord.reason"] for e in retries] == ["HTTP_503", "HTTP_500"]
        assert [(e.attributes or {})["accord.attempt"] for e in retries] == [1, 2]

        outcomes = {
            a["outcome"]: p.value
            for a, p in recorded.points("accord.sync.records")
            if a["accord.stream"] == result.stream
        }
        assert outcomes == {"created": 24, "quarantined": 1}
        [(attributes, size)] = [
            (a, p)
            for a, p in recorded.points("accord.sync.quarantine.size")
            if a["accord.tenant"] == tenant.slug
        ]
        assert size.value == 1 and attributes["accord.connector"] == "sap"

        # The record's text never rides along.
        exported = recorded.exported_text()
        assert "Nonconforming part in lot" not in exported
        assert url not in exported
