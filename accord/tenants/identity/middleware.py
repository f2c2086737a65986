"""Pure ASGI authentication: ``Authorization: Bearer <jwt>`` → ``scope["state"]["principal"]``.

Pure ASGI rather than ``BaseHTTPMiddleware``, so context variables set downstream (the
tenant context) propagate. Add it inside the Starlette app
(``Starlette(middleware=[Middleware(AuthenticationMiddleware)])``) so ``scope["app"]``
carries the runtime. No header: the principal is None and the request goes on (public
routes, and the GraphQL layer answers UNAUTHENTICATED where it must). A header that does
not authenticate — any scheme but Bearer, a bad token — is refused with 401 and the
same generic body for every reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from accord.platform.runtime import Runtime
from accord.tenants.identity.authenticate import authenticate
from accord.tenants.identity.jwks import JwksCache
from accord.tenants.identity.principal import GENERIC_MESSAGE, Principal, Unauthenticated
from accord.tenants.identity.service_tokens import OAUTH_PATH

log = logging.getLogger("accord.identity")

UNAUTHENTICATED_BODY = {
    "errors": [{"message": GENERIC_MESSAGE, "extensions": {"code": "UNAUTHENTICATED"}}]
}
CLIENT_AUTHENTICATED_PATHS = frozenset({OAUTH_PATH})
# RFC 6455 "policy violation": a WebSocket refused before the handshake completes.
WS_POLICY_VIOLATION = 1008


def runtime_of_app(scope: Scope) -> Runtime:
    runtime: Runtime = scope["app"].state.runtime
    return runtime


def principal_of(scope: Scope) -> Principal | None:
    """The principal the middleware put in the scope (None: no credentials given)."""
    principal: Principal | None = scope.get("state", {}).get("principal")
    return principal


class AuthenticationMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        runtime: Callable[[Scope], Runtime] = runtime_of_app,
        jwks: JwksCache | None = None,
    ) -> None:
        self.app = app
        self.runtime = runtime
        # One cache per app: JWKS fetches and their rate limit are shared by all requests.
        self.jwks = jwks or JwksCache()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        values = Headers(scope=scope).getlist("authorization")
        # The token endpoint authenticates clients itself (HTTP Basic), never by bearer.
        if not values or scope.get("path") in CLIENT_AUTHENTICATED_PATHS:
            state["principal"] = None
            await self.app(scope, receive, send)
            return
        try:
            token = _bearer_token(values)
            principal = await authenticate(token=token, runtime=self.runtime(scope), jwks=self.jwks)
        except Unauthenticated:
            await _refuse(scope, receive, send)
            return
        state["principal"] = principal
        await self.app(scope, receive, send)


def _bearer_token(values: list[str]) -> str:
    if len(values) != 1:
        log.info("bearer token refused: %s", "SEVERAL_AUTHORIZATION_HEADERS")
        raise Unauthenticated("SEVERAL_AUTHORIZATION_HEADERS")
    scheme, _, token = values[0].strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        log.info("bearer token refused: %s", "NOT_BEARER")
        raise Unauthenticated("NOT_BEARER")
    return token.strip()


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await receive()  # the client's websocket.connect, answered with a close (HTTP 403)
        await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION, "reason": ""})
        return
    response = JSONResponse(
        UNAUTHENTICATED_BODY, status_code=401, headers={"WWW-Authenticate": "Bearer"}
    )
    await response(scope, receive, send)
