"""The strawberry ASGI app, wired to Accord's runtime, the principal and the policy engine."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from accord.graphql.context import Context, build_context, request_id_from
from accord.graphql.cursors import CursorSigner
from accord.graphql.schema import schema
from accord.platform.runtime import Runtime
from accord.policies.engine import PolicyEngine
from accord.tenants.identity.middleware import principal_of


class AccordGraphQL(GraphQL[Context, None]):
    def __init__(
        self,
        runtime_of: Callable[[HTTPConnection], Runtime],
        *,
        cursors: CursorSigner,
        graphiql: bool,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            # Queries over GET are fine; a mutation never rides a GET (CSRF, caches, logs).
            allow_queries_via_get=True,
        )
        self._runtime_of = runtime_of
        self._cursors = cursors

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
        )
