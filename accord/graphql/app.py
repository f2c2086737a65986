"""The strawberry ASGI app, wired to Accord's runtime, the principal and the policy engine."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cross_web import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from accord.graphql.context import Context, build_context, request_id_from
from accord.graphql.cursors import CursorSigner
from accord.graphql.ide import ide_page
from accord.graphql.input_limits import json_depth_exceeds
from accord.graphql.limits import MAX_JSON_DEPTH
from accord.graphql.schema import schema_for
from accord.platform.errors import ErrorCode
from accord.platform.runtime import Runtime
from accord.policies.engine import PolicyEngine
from accord.tenants.identity.middleware import principal_of


class BadRequestBody(HTTPException):
    """A body (or GET parameter) that is no GraphQL request: 400 with a precise reason."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(400, message)
        self.refusal_reason = reason


class AccordGraphQL(GraphQL[Context, None]):
    def __init__(
        self,
        runtime_of: Callable[[HTTPConnection], Runtime],
        *,
        cursors: CursorSigner,
        production: bool,
        traced: bool = False,
    ) -> None:
        # No batching (the schema has no batching_config): a JSON array body is refused.
        super().__init__(
            schema_for(production=production, traced=traced),
            graphql_ide=None if production else "graphiql",
            # Queries over GET are fine; a mutation never rides a GET (CSRF, caches, logs).
            allow_queries_via_get=True,
        )
        self._runtime_of = runtime_of
        self._cursors = cursors

    async def render_graphql_ide(self, request: Request) -> Response:
        # GraphiQL from installed packages, not strawberry's page of CDN scripts.
        return ide_page()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """As strawberry's, but a request refused before execution (bad JSON, a batch, a
        mutation over GET) gets a coded GraphQL error instead of plain text."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as exc:
            reason = exc.refusal_reason if isinstance(exc, BadRequestBody) else None
            response = refusal(exc.reason, exc.status_code, reason=reason)
        await response(scope, receive, send)

    def parse_json(self, data: str | bytes) -> Any:
        """A request body (or a GET request's ``variables``) as JSON: an object, or an
        array (a batch, refused later). Anything else, and JSON nested deeper than any
        request needs (it would exhaust the stack of whatever walks it), is a 400."""
        try:
            value = json.loads(data)
        except RecursionError:
            value = None
            deep = True
        except ValueError:  # not JSON, not UTF-8, or an integer of too many digits
            raise BadRequestBody(
                "Unable to parse request body as JSON", reason="BODY_NOT_JSON"
            ) from None
        else:
            deep = json_depth_exceeds(value, MAX_JSON_DEPTH)
        if deep:
            raise BadRequestBody(
                f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels.", reason="JSON_TOO_DEEP"
            )
        if not isinstance(value, dict | list):
            raise BadRequestBody(
                f"Expected a JSON object (a GraphQL request or its variables), not "
                f"{_json_kind(value)}.",
                reason="BODY_NOT_AN_OBJECT",
            )
        return value

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        engine: PolicyEngine | None = getattr(request.app.state, "policy_engine", None)
        return build_context(
            runtime=self._runtime_of(request),
            principal=principal_of(request.scope),
            engine=engine,
            cursors=self._cursors,
            request_id=request_id_from(request.headers.get("x-request-id")),
            hub=getattr(request.app.state, "notifications", None),
        )


def refusal(message: str, status_code: int, *, reason: str | None = None) -> JSONResponse:
    """A request-level refusal, shaped as a GraphQL response with a coded error."""
    code = ErrorCode.NOT_FOUND if status_code == 404 else ErrorCode.BAD_USER_INPUT
    extensions = {"code": code.value} | ({"reason": reason} if reason else {})
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": extensions}]},
        status_code=status_code,
    )


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    return "a number"
