"""Per-tenant rate limit: a token bucket per tenant, 429 + Retry-After + RATE_LIMITED."""

from __future__ import annotations

import httpx

from accord.app import create_app
from accord.graphql.ratelimit import TenantRateLimiter
from accord.platform.runtime import Runtime
from accord.platform.settings import Settings
from tests.conftest import TenantFactory
from tests.graphql.conftest import Api

QUERY = {"query": "{ findings(first: 1) { edges { cursor } } }"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_allows_bursts_then_the_rate() -> None:
    clock = Clock()
    limiter = TenantRateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == 0.5  # one token comes back every half second
    assert limiter.take("b") == 0.0  # another tenant has its own bucket
    clock.now += 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    clock.now += 10
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]  # refilled to burst


async def test_a_tenant_over_its_rate_is_refused_and_others_are_not(
    api: Api, settings: Settings, runtime: Runtime, make_tenant: TenantFactory
) -> None:
    limited = settings.model_copy(update={"rate_limit_per_second": 0.2, "rate_limit_burst": 3})
    app = create_app(limited, runtime=runtime)
    busy, quiet = await make_tenant(label="rb"), await make_tenant(label="rq")
    busy_token = await api.sign_in(busy, "bo", "viewer")
    quiet_token = await api.sign_in(quiet, "qo", "viewer")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://accord.test") as c:

            async def ask(token: str) -> httpx.Response:
                return await c.post(
                    "/graphql", json=QUERY, headers={"authorization": f"Bearer {token}"}
                )

            answers = [await ask(busy_token) for _ in range(4)]
            assert [a.status_code for a in answers] == [200, 200, 200, 429]
            refused = answers[-1]
            assert refused.headers["retry-after"] == "5"
            [error] = refused.json()["errors"]
            assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 5}
            assert busy.slug in error["message"]
            assert (await ask(quiet_token)).status_code == 200
            assert (await c.get("/healthz")).status_code == 200  # only /graphql is limited
