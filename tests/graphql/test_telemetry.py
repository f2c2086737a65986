"""A federated listing over two stores as telemetry: the HTTP request, the GraphQL
operation and its resolver, one span per store with its tenants and records, SQL,
authorization decisions as events; the metrics by operation and store; nothing exported
that carries a record's text, a person or the bearer token; a masked error's trace id."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from accord.app import create_app
from accord.compliance.workflow import service as finding_workflow
from accord.platform.runtime import Runtime
from accord.platform.settings import Settings
from accord.tenants.models import Tenant
from tests.conftest import SECOND_STORE, TenantFactory
from tests.factories.api import RAISE, raise_input
from tests.factories.sharing import grant
from tests.factories.telemetry import Recorded, recording
from tests.graphql.conftest import Api, raise_findings

LISTING = """
query Listing($first: Int!, $process: String) {
  findings(first: $first, orderBy: DUE_AT, process: $process) {
    edges { node { id tenant level title owner } }
    pageInfo { hasNextPage }
  }
}
"""
RESPOND = """
mutation Respond($id: ID!, $response: String!) {
  respondToFinding(id: $id, response: $response) { errors { code } }
}
"""
#: Text that lives only in records: it must never reach an exported span or metric.
SECRET_TITLE = f"Forged calibration certificate {secrets.token_hex(6)}"
SECRET_CONDITION = f"Inspector Jane Roe signed for absent gauges {secrets.token_hex(6)}"


@dataclass
class Traced:
    api: Api
    recorded: Recorded


@pytest.fixture
async def traced(settings: Settings, runtime: Runtime) -> AsyncIterator[Traced]:
    with recording(settings) as recorded:
        app = create_app(settings, runtime=runtime, telemetry=recorded.telemetry)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://accord.test") as c:
                yield Traced(Api(app, c, runtime, settings), recorded)


def network_matrix(process: str, owners: list[str], reader: str) -> str:
    parties = ", ".join(f"role:{t}/quality_manager" for t in (*owners, reader))
    return f"""
name: Telemetry network {process}
process: {process}
owners: [{", ".join(owners)}]
parties: [{parties}]
activities:
  - {{name: Follow findings, record_type: finding, actions: [close]}}
raci:
  Follow findings:
    role:{owners[0]}/quality_manager: A
    role:{reader}/quality_manager: I
"""


async def network(api: Api, make_tenant: TenantFactory) -> tuple[Tenant, dict[str, str], str]:
    """A reader on the home store; a full partner beside it; a full and a summary partner
    on the second store. Everyone's findings carry the secret text."""
    reader = await make_tenant(label="otr")
    partners = [
        (await make_tenant(label="ota"), "full"),
        (await make_tenant(SECOND_STORE, label="otb"), "full"),
        (await make_tenant(SECOND_STORE, label="otc"), "summary"),
    ]
    stores = {reader.slug: reader.store}
    for tenant, level in partners:
        await grant(api.runtime, tenant.slug, reader.slug, level)
        stores[tenant.slug] = tenant.store
    for slug in stores:
        await raise_findings(api.runtime, slug, 2, title=SECRET_TITLE, condition=SECRET_CONDITION)
    process = f"telemetry-{secrets.token_hex(4)}"
    await api.import_matrix(network_matrix(process, [t.slug for t, _ in partners], reader.slug))
    return reader, stores, process


async def test_a_federated_listing_is_traced_per_store_without_record_text(
    traced: Traced, make_tenant: TenantFactory
) -> None:
    api, recorded = traced.api, traced.recorded
    reader, stores, process = await network(api, make_tenant)
    token = await api.sign_in(reader, "rita.reader", "quality_manager")
    recorded.spans_exporter.clear()

    body = await api.post(LISTING, {"first": 50, "process": process}, token=token)
    assert "errors" not in body, body
    nodes = body["data"]["findings"]["edges"]
    assert len(nodes) == 8 and any(n["node"]["title"] == SECRET_TITLE for n in nodes)

    [http] = [s for s in recorded.spans() if s.parent is None]
    assert (
        dict(http.attributes or {}).items()
        >= {
            "http.request.method": "POST",
            "http.route": "/graphql",
            "http.response.status_code": 200,
        }.items()
    )
    trace_ids = {s.get_span_context().trace_id for s in recorded.spans()}  # type: ignore[union-attr]
    assert len(trace_ids) == 1, "one request, one trace"

    [operation] = recorded.spans("GraphQL query Listing")
    assert recorded.ancestors(operation)[-1] == http.name
    assert (
        dict(operation.attributes or {}).items()
        >= {
            "graphql.operation.name": "Listing",
            "graphql.operation.type": "query",
            "accord.tenant": reader.slug,
        }.items()
    )
    [resolver] = recorded.spans("GraphQL resolve findings")
    assert recorded.ancestors(resolver)[0] == operation.name

    reads = recorded.spans("federation.store")
    assert all(recorded.ancestors(r)[0] == resolver.name for r in reads)
    per_store = {(r.attributes or {})["accord.store"]: dict(r.attributes or {}) for r in reads}
    home = reader.store
    assert set(per_store) == {home, SECOND_STORE}
    assert per_store[home]["accord.tenants"] == 2
    assert per_store[SECOND_STORE]["accord.tenants"] == 2
    assert per_store[home]["accord.records"] == 4
    assert per_store[SECOND_STORE]["accord.records"] == 4
    assert {per_store[s]["accord.record_type"] for s in per_store} == {"finding"}

    # SQL is traced in the request (the sign-in's lookup before the operation, the
    # planner's reads and the access-log writes inside it), as statements with
    # placeholders: the parameters are not recorded.
    sql = {
        str((s.attributes or {})["db.statement"]): recorded.ancestors(s)
        for s in recorded.spans()
        if "db.statement" in (s.attributes or {})
    }
    assert all(http.name in ancestors for ancestors in sql.values())
    assert any(resolver.name in ancestors for ancestors in sql.values())
    [log_call] = [s for s in sql if "federation.log_reads" in s]
    assert "%(entries)s" in log_call and "%(principal)s" in log_call

    # The gate's decisions are events on the operation's span, not spans of their own:
    # one per outcome, action and record type, naming the owners decided on.
    decisions = [e for e in operation.events if e.name == "authz.decisions"]
    allowed = [e for e in decisions if (e.attributes or {})["accord.allowed"]]
    assert [dict(e.attributes or {}) for e in allowed] == [
        {
            "accord.allowed": True,
            "accord.action": "read",
            "accord.record_type": "finding",
            "accord.owners": tuple(sorted(stores)),
            "accord.decisions": len(stores),
        }
    ]
    assert not [s for s in recorded.spans() if "authz" in s.name]

    # Metrics: the operation, the per-store latency, the access logs, the pools.
    [(_, ops)] = [
        (a, p)
        for a, p in recorded.points("accord.graphql.operation.duration")
        if a["graphql.operation.name"] == "Listing"
    ]
    assert ops.count == 1
    store_latency = {
        a["accord.store"]: p.count
        for a, p in recorded.points("accord.federation.store.duration")
        if a["accord.record_type"] == "finding"
    }
    assert store_latency == {home: 1, SECOND_STORE: 1}
    logged = {
        a.get("accord.store"): p.value for a, p in recorded.points("accord.access_log.writes")
    }
    assert logged == {home: 1, SECOND_STORE: 2}
    pools = {
        (a["accord.store"], a["accord.pool"])
        for a, _ in recorded.points("accord.db.pool.connections")
    }
    assert {(home, "tenant"), (SECOND_STORE, "tenant"), (home, "control")} <= pools
    assert recorded.points("http.server.duration") or recorded.points(
        "http.server.request.duration"
    )

    # A mutation's input is record text too.
    raised = await api.post(
        RAISE,
        {"input": raise_input(reference="F-otel", title=SECRET_TITLE, condition=SECRET_CONDITION)},
        token=token,
    )
    assert raised["data"]["raiseFinding"]["errors"] == [], raised
    exported = recorded.exported_text()
    for forbidden in (SECRET_TITLE, SECRET_CONDITION, "Jane Roe", token, "rita.reader", "li.wei"):
        assert forbidden not in exported
    assert "Bearer" not in exported


async def test_a_masked_error_quotes_the_trace_id(
    traced: Traced, make_tenant: TenantFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, recorded = traced.api, traced.recorded
    tenant = await make_tenant(label="otm")
    [finding] = await raise_findings(api.runtime, tenant.slug, 1)
    token = await api.sign_in(tenant, "qm", "quality_manager")

    async def broken(**kwargs: object) -> None:
        raise RuntimeError(f"row {SECRET_CONDITION}")

    monkeypatch.setattr(finding_workflow, "respond", broken)
    from tests.factories.api import global_id

    recorded.spans_exporter.clear()
    body = await api.post(
        RESPOND,
        {"id": global_id(f"Finding:{tenant.slug}:{finding}"), "response": "x"},
        token=token,
        headers={"x-request-id": "req-otel-1"},
    )
    [error] = body["errors"]
    [operation] = recorded.spans("GraphQL mutation Respond")
    trace_id = f"{operation.get_span_context().trace_id:032x}"  # type: ignore[union-attr]
    assert error["extensions"] == {
        "code": "INTERNAL",
        "traceId": trace_id,
        "requestId": "req-otel-1",
    }
    assert trace_id in error["message"]
    assert (operation.attributes or {})["accord.error.codes"] == ("INTERNAL",)
    [resolver] = recorded.spans("GraphQL resolve respondToFinding")
    assert resolver.status.description == "RuntimeError"
    assert SECRET_CONDITION not in recorded.exported_text()
    errors = {
        a["error.code"]: p.value
        for a, p in recorded.points("accord.graphql.errors")
        if a["graphql.operation.name"] == "Respond"
    }
    assert errors == {"INTERNAL": 1}


def test_only_the_traced_schema_wraps_its_root_resolvers() -> None:
    from accord.graphql.schema import schema_for

    plain = schema_for(production=False)._schema
    traced = schema_for(production=False, traced=True)._schema
    for name in ("findings", "tenants"):
        assert plain.query_type is not None and traced.query_type is not None
        untouched = plain.query_type.fields[name].resolve
        wrapped = traced.query_type.fields[name].resolve
        assert untouched is not None and wrapped is not None
        assert wrapped.__name__ == "traced" and untouched.__name__ != "traced"
    # Nested fields are never wrapped, in either.
    finding = traced.get_type("Finding")
    assert all(
        f.resolve is None or f.resolve.__name__ != "traced"
        for f in getattr(finding, "fields", {}).values()
    )
