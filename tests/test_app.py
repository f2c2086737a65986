"""The HTTP app: liveness, per-store readiness, and the GraphQL endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from accord.app import create_app
from accord.platform.db import StoreRegistry
from accord.platform.runtime import Runtime
from accord.platform.settings import Settings
from tests.conftest import SECOND_STORE, TenantFactory
from tests.factories.tokens import sign_in


@pytest.fixture
async def client(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://accord.test") as c:
        yield c


async def test_healthz_says_the_process_is_alive(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_every_store(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["stores"]["home"] == {"status": "ok", "region": "test-1"}
    assert body["stores"][SECOND_STORE] == {"status": "ok", "region": "test-2"}


async def test_readyz_names_an_unreachable_store_and_stays_in_service(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # Only that store's tenants are unavailable: the replica keeps serving everyone else.
    runtime.stores.register("down", "postgresql://postgres@127.0.0.1:1/none")
    try:
        response = await client.get("/readyz")
    finally:
        await runtime.stores.forget("down")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["stores"]["down"]["status"] == "unreachable"
    assert body["stores"]["down"]["reason"] == "STORE_UNREACHABLE"
    assert body["stores"]["home"]["status"] == "ok"


async def test_readyz_is_503_without_the_control_plane(settings: Settings) -> None:
    # A replica whose home store (the control plane) is unreachable serves nothing.
    stores = StoreRegistry()
    stores.register("home", "postgresql://postgres@127.0.0.1:1/none")
    cut_off = Runtime(settings=settings, stores=stores, home="home", regions={"home": "test-1"})
    app = create_app(settings, runtime=cut_off)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://accord.test") as c:
            response = await c.get("/readyz")
    finally:
        await stores.dispose()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["stores"]["home"]["reason"] == "STORE_UNREACHABLE"


async def test_graphql_lists_tenants_to_a_signed_in_caller_only(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(SECOND_STORE, label="gql")
    query = {"query": "{ tenants { slug legalName jurisdiction store region status } }"}
    anonymous = (await client.post("/graphql", json=query)).json()
    assert anonymous["data"] is None
    assert [e["extensions"]["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]
    token = await sign_in(runtime, settings, tenant, "vic", ["viewer"], display_name="Vic")
    response = await client.post(
        "/graphql", json=query, headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body
    mine = [t for t in body["data"]["tenants"] if t["slug"] == tenant.slug]
    assert mine == [
        {
            "slug": tenant.slug,
            "legalName": "Test Partner Ltd",
            "jurisdiction": "DE",
            "store": SECOND_STORE,
            "region": "test-2",
            "status": "ACTIVE",
        }
    ]


async def test_a_bad_bearer_token_is_refused_without_detail(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "{ tenants { slug } }"},
        headers={"authorization": "Bearer not.a.jwt"},
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json() == {
        "errors": [{"message": "Unauthenticated", "extensions": {"code": "UNAUTHENTICATED"}}]
    }
