"""Per-tenant rate limit on the gateway: a token bucket per tenant (anonymous callers per
client address), refused with HTTP 429, ``Retry-After`` and a ``RATE_LIMITED`` error.

The buckets live in the API process: with N replicas behind a load balancer a tenant gets
up to N times the rate, which the configured rate should allow for. Buckets of tenants
not seen for a while are dropped so memory follows the active tenants, not all of them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from accord.platform.errors import ErrorCode
from accord.tenants.identity.middleware import principal_of

#: Buckets idle this long are forgotten (they would be full again anyway).
IDLE_SECONDS = 600.0


@dataclass(slots=True)
class Bucket:
    tokens: float
    stamp: float


class TenantRateLimiter:
    """``rate`` requests per second sustained, bursts up to ``burst``, per key."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("the rate limit needs rate > 0 and burst >= 1")
        self.rate, self.burst, self.clock = rate, float(burst), clock
        self._buckets: dict[str, Bucket] = {}
        self._swept = clock()

    def take(self, key: str) -> float:
        """0 if a request by ``key`` may go now, else the seconds until one may."""
        now = self.clock()
        if now - self._swept > IDLE_SECONDS:
            self._buckets = {
                k: b for k, b in self._buckets.items() if now - b.stamp <= IDLE_SECONDS
            }
            self._swept = now
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


class RateLimit:
    """ASGI middleware (after authentication): limits ``/graphql`` HTTP requests and
    evidence downloads (``/evidence/…``)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: TenantRateLimiter,
        path: str = "/graphql",
        prefix: str = "/evidence/",
    ) -> None:
        self.app, self.limiter, self.path, self.prefix = app, limiter, path, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (
            scope["path"] == self.path or scope["path"].startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        principal = principal_of(scope)
        if principal is not None and principal.tenant is not None:
            key = f"tenant:{principal.tenant}"
        else:
            client = scope.get("client")
            key = f"addr:{client[0] if client else 'unknown'}"
        wait = self.limiter.take(key)
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry = max(1, math.ceil(wait))
        who = key.split(":", 1)[1]
        response = JSONResponse(
            {
                "data": None,
                "errors": [
                    {
                        "message": f"Too many requests for {who}; retry in {retry} s.",
                        "extensions": {
                            "code": ErrorCode.RATE_LIMITED.value,
                            "retryAfter": retry,
                        },
                    }
                ],
            },
            status_code=429,
            headers={"Retry-After": str(retry)},
        )
        await response(scope, receive, send)
