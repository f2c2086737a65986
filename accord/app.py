"""``create_app(settings)``: the Starlette application (health, readiness, GraphQL, pages).

The lifespan opens what lives as long as the process: the telemetry (see
``accord.platform.telemetry``), the runtime (unless one is given) and the policy engine,
kept current across replicas by its LISTEN/NOTIFY listener.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accord.compliance.catalog.service import sync_catalog
from accord.graphql.app import AccordGraphQL, refusal
from accord.graphql.cursors import CursorSigner, cursor_key
from accord.graphql.ide import ide_routes
from accord.graphql.limits import MAX_BODY_BYTES
from accord.graphql.ratelimit import RateLimit, TenantRateLimiter
from accord.platform.errors import AccordError
from accord.platform.notifications import NotificationHub
from accord.platform.runtime import Runtime, open_runtime
from accord.platform.settings import Settings
from accord.platform.telemetry import Telemetry, activated, telemetry_from
from accord.platform.telemetry import active as active_telemetry
from accord.platform.telemetry_http import TracedRequests, metrics_endpoint
from accord.policies.notify import open_policy_engine
from accord.tenants.identity.middleware import AuthenticationMiddleware
from accord.tenants.identity.service_tokens import OAUTH_PATH, token_endpoint
from accord.web.mount import web_mount


def _runtime(conn: HTTPConnection) -> Runtime:
    runtime: Runtime = conn.app.state.runtime
    return runtime


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Each store's reachability. 503 only when the home store (the control plane, which
    every request needs) is unreachable: another store being down makes only its tenants
    unavailable (``TENANT_UNAVAILABLE``), so it must not take API replicas out of service.
    """
    runtime = _runtime(request)

    async def check(name: str) -> tuple[str, dict[str, str]]:
        try:
            await runtime.stores.ping(name, within=2.0)
        except AccordError as exc:
            return name, {"status": "unreachable", "reason": exc.reason}
        return name, {"status": "ok"}

    results = dict(await asyncio.gather(*(check(n) for n in runtime.stores.names())))
    for name, result in results.items():
        result["region"] = runtime.regions.get(name, "")
    serving = results.get(runtime.home, {}).get("status") == "ok"
    if not serving:
        status = "unavailable"
    elif all(r["status"] == "ok" for r in results.values()):
        status = "ready"
    else:
        status = "degraded"
    return JSONResponse({"status": status, "stores": results}, status_code=200 if serving else 503)


class _BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Answers 413 (a coded JSON error) to a request body above ``max_bytes``: at once when
    Content-Length says so, else as soon as the bytes received pass the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"The request body is larger than {self.max_bytes} bytes."
        await refusal(message, 413, reason="BODY_TOO_LARGE")(scope, receive, send)


def create_app(
    settings: Settings, *, runtime: Runtime | None = None, telemetry: Telemetry | None = None
) -> Starlette:
    """The ASGI app. With ``runtime`` given (tests, demo), it is used and not closed.

    ``telemetry``: the process's active one, else what ``settings`` ask for (shut down with
    the app); tests give their own.
    """
    owned = telemetry is None and active_telemetry() is None
    telemetry = telemetry or active_telemetry() or telemetry_from(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if owned:
                stack.callback(telemetry.shutdown)
            stack.enter_context(activated(telemetry))
            current = runtime
            if current is None:
                if settings.env != "prod":
                    # In production the migrations Job migrates and loads the catalog; in
                    # dev, start-up does, as the migrator, before the API's runtime opens.
                    async with open_runtime(settings) as migrator:
                        await sync_catalog(migrator)
                current = await stack.enter_async_context(open_runtime(settings, privileged=False))
            app.state.runtime = current
            app.state.policy_engine = await stack.enter_async_context(open_policy_engine(current))
            stores = current.stores
            hub = NotificationHub(lambda: {name: stores.url(name) for name in stores.names()})
            app.state.notifications = hub
            try:
                yield
            finally:
                app.state.policy_engine = None
                app.state.notifications = None
                await hub.close()

    cursors = CursorSigner(cursor_key(settings))
    graphql = AccordGraphQL(
        _runtime,
        cursors=cursors,
        production=settings.env == "prod",
        traced=telemetry.enabled,
    )
    traced = [Middleware(TracedRequests, telemetry=telemetry)] if telemetry.enabled else []
    metrics = [Route("/metrics", metrics_endpoint(telemetry))] if telemetry.prometheus else []
    app = Starlette(
        middleware=[
            *traced,
            Middleware(BodySizeLimit),
            Middleware(AuthenticationMiddleware),
            Middleware(
                RateLimit,
                limiter=TenantRateLimiter(
                    settings.rate_limit_per_second, settings.rate_limit_burst
                ),
            ),
        ],
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *metrics,
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route(OAUTH_PATH, token_endpoint, methods=["POST"]),
            WebSocketRoute("/graphql", graphql),
            *(ide_routes() if settings.env != "prod" else []),
            # Last: the pages, sign-in and static files answer every other path.
            web_mount(settings, cursors=cursors),
        ],
        lifespan=lifespan,
    )
    if runtime is not None:
        app.state.runtime = runtime
    return app
