"""Oracle Fusion quality issues → findings and quality actions → CAPAs, against the local
REST service: limit/offset paging with hasMore, the q= delta under REST-Framework-Version 2,
basic auth, quarantine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from accord.compliance.capa.models import Capa
from accord.compliance.findings.models import Finding
from accord.connectors.models import QuarantineEntry, SyncState
from accord.connectors.sync import engine
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session
from tests.connectors.conftest import MakeInstance
from tests.connectors.fake_oracle import PASSWORD, ROOT, USER, FakeOracle, issue_id
from tests.connectors.fake_sap import ServerThread

ISSUES = "quality_issues"


@pytest.fixture
def oracle() -> Iterator[tuple[FakeOracle, str]]:
    app = FakeOracle()
    with ServerThread(app) as server:
        yield app, server.url


def basic(password: str = PASSWORD) -> dict[str, Any]:
    return {"type": "basic", "username": USER, "password": password}


def counts(**values: int) -> dict[str, int]:
    return {**dict.fromkeys(engine.COUNTS, 0), **values}


async def snapshot(runtime: Runtime, slug: str) -> dict[str, Any]:
    async with tenant_session(runtime, slug) as s:
        rows = (await s.scalars(select(Finding))).all()
        s.expunge_all()
        events = await s.scalar(select(func.count()).select_from(EventLogEntry))
        quarantined = (await s.scalars(select(QuarantineEntry))).all()
        s.expunge_all()
        assert (await verify_chain(s)).ok
    return {
        "findings": {f.external_id: f for f in rows},
        "events": events,
        "quarantine": list(quarantined),
    }


async def test_paging_quarantine_delta_and_unchanged_resync(
    runtime: Runtime, make_tenant: Any, make_instance: MakeInstance, oracle: tuple[FakeOracle, str]
) -> None:
    app, url = oracle
    app.count = 23
    app.overrides = {7: {"Severity": "ORA_URGENT", "Name": ""}}
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, url, kind="oracle", auth=basic())
    assert PASSWORD not in str(loaded.row.config)

    [first] = await engine.run_instance(runtime, loaded, [ISSUES])
    assert first.status == "succeeded", first.error
    assert first.counts == counts(pages=3, fetched=23, created=22, quarantined=1)
    assert [(r["query"]["limit"], r["query"]["offset"]) for r in app.requests] == [
        ("10", "0"),
        ("10", "10"),
        ("10", "20"),
    ]
    for request in app.requests:
        assert request["path"] == f"{ROOT}/qualityIssues"
        assert request["query"]["orderBy"] == "LastUpdateDate:desc,IssueId:desc"
        assert request["query"]["onlyData"] == "true" and "q" not in request["query"]
        assert request["headers"]["rest-framework-version"] == "2"
        assert request["headers"]["authorization"].startswith("Basic ")

    snap = await snapshot(runtime, tenant.slug)
    assert len(snap["findings"]) == 22
    four = snap["findings"][str(issue_id(4))]
    assert (four.reference, four.title, four.severity) == (
        "QI-5004",
        "Burr on machined housing, lot 8804",
        "high",
    )
    assert (four.grade, four.raised_by, four.owner) == (
        "major_nonconformity",  # CUSTOMER_COMPLAINT
        "LEE.MORGAN",
        "CASEY.BROWN",
    )
    assert four.raised_at == datetime(2024, 4, 29, 12, tzinfo=UTC)
    assert str(four.response_due_at) == "2024-05-20"
    [entry] = snap["quarantine"]
    assert entry.external_id == str(issue_id(7))
    assert {f"{r['reason']}:{r['field']}" for r in entry.reasons} == {
        "UNKNOWN_CODE:severity",
        "REQUIRED:title",
        "REQUIRED:condition",
    }

    # Nothing changed: the delta asks only for newer records and writes nothing.
    [again] = await engine.run_instance(runtime, loaded, [ISSUES])
    assert again.counts == counts(pages=1)
    assert app.requests[-1]["query"]["q"] == "LastUpdateDate > '2024-05-01T08:00:22+00:00'"
    assert app.requests[-1]["query"]["offset"] == "0"
    assert (await snapshot(runtime, tenant.slug))["events"] == snap["events"]

    # A change in Oracle arrives through the delta as one update.
    app.overrides[4] = {"Severity": "ORA_CRITICAL", "_updated": datetime(2024, 6, 1, tzinfo=UTC)}
    [delta] = await engine.run_instance(runtime, loaded, [ISSUES])
    assert delta.counts == counts(pages=1, fetched=1, updated=1)
    changed = await snapshot(runtime, tenant.slug)
    assert changed["findings"][str(issue_id(4))].severity == "critical"
    assert changed["events"] == snap["events"] + 1

    # A full re-sync of unchanged data (bookmark dropped) writes nothing at all.
    async with tenant_session(runtime, tenant.slug) as s:
        state = await s.get(SyncState, (loaded.row.id, ISSUES))
        assert state is not None
        state.bookmark = {}
    [full] = await engine.run_instance(runtime, loaded, [ISSUES])
    assert full.counts == counts(pages=3, fetched=23, unchanged=22, quarantined=1)
    after = await snapshot(runtime, tenant.slug)
    assert after["events"] == changed["events"] and len(after["quarantine"]) == 1
    assert "q" not in app.requests[-1]["query"]
    # The pass's high-water mark is the changed record's stamp, whoever's page it was on.
    [last] = await engine.run_instance(runtime, loaded, [ISSUES])
    assert app.requests[-1]["query"]["q"] == "LastUpdateDate > '2024-06-01T00:00:00+00:00'"
    assert last.counts == counts(pages=1)


async def test_basic_auth_is_required(
    runtime: Runtime, make_tenant: Any, make_instance: MakeInstance, oracle: tuple[FakeOracle, str]
) -> None:
    app, url = oracle
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, url, kind="oracle", auth=basic("wrong"))
    [result] = await engine.run_instance(runtime, loaded, [ISSUES])
    assert result.status == "failed" and "HTTP_401" in (result.error or "")
    # One retry after a 401 (a token may just have expired), then fatal: never a loop.
    assert len(app.requests) == 2
    assert result.counts["created"] == 0


async def test_quality_actions_become_capas(
    runtime: Runtime, make_tenant: Any, make_instance: MakeInstance, oracle: tuple[FakeOracle, str]
) -> None:
    app, url = oracle
    app.count = 12
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, url, kind="oracle", auth=basic())
    [result] = await engine.run_instance(runtime, loaded, ["quality_actions"])
    assert result.status == "succeeded", result.error
    assert result.counts == counts(pages=2, fetched=12, created=12)
    assert {r["path"] for r in app.requests} == {f"{ROOT}/qualityActions"}
    async with tenant_session(runtime, tenant.slug) as s:
        capa = (await s.scalars(select(Capa).where(Capa.external_id == "300000101987003"))).one()
    assert (capa.reference, capa.title) == ("QA-703", "Deburr fixture rework for lot 8803")
    assert (capa.source_system, capa.clause_keys) == ("oracle-fusion", ["iso9001:2015/10.2"])
    [again] = await engine.run_instance(runtime, loaded, ["quality_actions"])
    assert again.counts == counts(pages=1)
    assert app.requests[-1]["query"]["q"] == "LastUpdateDate > '2024-05-01T19:00:00+00:00'"
