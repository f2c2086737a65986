"""Who may ask what: UNAUTHENTICATED for every field without a sign-in (no field is public),
own-tenant-only fields."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets

from accord.app import create_app
from accord.graphql.auth import PUBLIC_FIELDS
from accord.platform.runtime import Runtime
from accord.platform.settings import Settings
from tests.conftest import TenantFactory
from tests.factories.api import global_id, replica
from tests.graphql.conftest import Api, raise_findings
from tests.graphql.operations import RootField, operation, root_fields

SOME_ID = global_id("Finding:someone:00000000-0000-0000-0000-000000000000")
PRIVATE = [
    "{ me { subject } }",
    "{ findings { edges { cursor } } }",
    f'{{ finding(id: "{SOME_ID}") {{ id }} }}',
    f'{{ node(id: "{SOME_ID}") {{ id }} }}',
    "{ findingAggregates { groups { count } } }",
    '{ clauses(standard: "iso9001:2015") { key } }',
    '{ gapAnalysis(tenant: "someone", standard: "iso9001:2015") { covered } }',
    f'{{ history(id: "{SOME_ID}") {{ seq }} }}',
    f'mutation {{ respondToFinding(id: "{SOME_ID}", response: "x") {{ errors {{ code }} }} }}',
]


@pytest.mark.parametrize("query", PRIVATE)
async def test_anonymous_callers_are_unauthenticated(api: Api, query: str) -> None:
    body = await api.post(query)
    assert body["data"] is None or set(body["data"].values()) == {None}
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


@pytest.fixture(params=["dev", "prod"])
async def app_in(
    request: pytest.FixtureRequest, api: Api, prod_secret_key: str
) -> AsyncIterator[Api]:
    """The gateway as in development, and as in production."""
    if request.param == "dev":
        yield api
        return
    prod_settings = api.settings.model_copy(update={"env": "prod"})
    app = create_app(prod_settings, runtime=api.runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://accord.test") as c:
            yield Api(app, c, api.runtime, prod_settings)


REQUESTS = [r for r in root_fields() if r.operation != "subscription"]


@pytest.mark.parametrize("root", REQUESTS, ids=[f"{r.operation}.{r.name}" for r in REQUESTS])
async def test_every_query_and_mutation_field_refuses_an_anonymous_caller(
    app_in: Api, root: RootField
) -> None:
    """Every root field of the schema, with valid arguments: UNAUTHENTICATED and no data,
    unless it is one of the documented public fields."""
    document, variables = operation(root)
    body = await app_in.post(document, variables)
    if root.name in PUBLIC_FIELDS:
        assert "errors" not in body, body
        return
    assert body["data"] is None or body["data"] == {root.name: None}, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"], body


async def test_the_partner_list_and_the_catalog_need_a_sign_in(
    api: Api, make_tenant: TenantFactory
) -> None:
    anonymous = await api.post("{ tenants { slug legalName jurisdiction store region status } }")
    assert anonymous["data"] is None
    assert [e["extensions"]["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]
    tenant = await make_tenant(label="pub")
    token = await api.sign_in(tenant, "vic", "viewer")
    body = await api.post("{ tenants { slug } standards { id number } }", token=token)
    assert "errors" not in body
    assert {"slug": tenant.slug} in body["data"]["tenants"]
    assert {"id": "iso9001:2015", "number": "ISO 9001"} in body["data"]["standards"]


async def test_me_gap_analysis_and_history_for_the_own_tenant(
    api: Api, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="me")
    other = await make_tenant(label="oth")
    [finding] = await raise_findings(api.runtime, other.slug, 1)
    token = await api.sign_in(tenant, "qm", "quality_manager", "auditor")
    me = await api.post("{ me { tenant subject kind roles } }", token=token)
    assert me["data"]["me"] == {
        "tenant": tenant.slug,
        "subject": "qm",
        "kind": "USER",
        "roles": ["auditor", "quality_manager"],
    }
    gaps = """
    query($t: String!) {
      gapAnalysis(tenant: $t, standard: "iso9001:2015") { tenant assessable entries { clause } }
    }
    """
    own = await api.post(gaps, {"t": tenant.slug}, token=token)
    assert own["data"]["gapAnalysis"]["tenant"] == tenant.slug
    assert own["data"]["gapAnalysis"]["assessable"] > 0
    foreign = await api.post(gaps, {"t": other.slug}, token=token)
    assert foreign["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    history = "query($id: ID!) { history(id: $id) { seq } }"
    theirs = await api.post(
        history, {"id": global_id(f"Finding:{other.slug}:{finding}")}, token=token
    )
    assert theirs["errors"][0]["extensions"]["reason"] == "OWN_TENANT_ONLY"


async def test_a_mutation_never_rides_a_get(api: Api) -> None:
    mutation = f'mutation {{ respondToFinding(id: "{SOME_ID}", response: "x") {{ __typename }} }}'
    response = await api.client.get("/graphql", params={"query": mutation})
    assert response.status_code == 400
    assert "not allowed" in response.text


SUBSCRIPTIONS = [r for r in root_fields() if r.operation == "subscription"]


async def test_every_subscription_refuses_an_anonymous_caller(
    settings: Settings, runtime: Runtime
) -> None:
    """Over graphql-transport-ws on a real server, without a token: each subscription root
    field is refused UNAUTHENTICATED and nothing is streamed."""
    assert SUBSCRIPTIONS
    async with replica(settings, runtime) as (_, url):
        for root in SUBSCRIPTIONS:
            document, variables = operation(root)
            async with websockets.connect(
                url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
            ) as ws:
                await ws.send(json.dumps({"type": "connection_init"}))
                assert json.loads(await ws.recv())["type"] == "connection_ack"
                payload = {"query": document, "variables": variables}
                await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if root.name in PUBLIC_FIELDS:
                    assert message["type"] == "next" and "errors" not in message["payload"]
                    continue
                errors = message["payload"]
                if message["type"] == "next":
                    assert message["payload"]["data"] is None, message
                    errors = message["payload"]["errors"]
                else:
                    assert message["type"] == "error", message
                codes = [e["extensions"]["code"] for e in errors]
                assert codes == ["UNAUTHENTICATED"], (root.name, message)
