"""The strawberry ASGI app, wired to Accord's runtime."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from accord.graphql.context import Context, build_context
from accord.graphql.schema import schema
from accord.platform.runtime import Runtime


class AccordGraphQL(GraphQL[Context, None]):
    def __init__(self, runtime_of: Any, *, graphiql: bool) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None)
        self._runtime_of = runtime_of

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        runtime: Runtime = self._runtime_of(request)
        return build_context(runtime=runtime)
