"""GraphQL helpers: global ids, mutation payloads, the raise-finding mutation, an API replica."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette

from accord.app import create_app
from accord.platform.runtime import Runtime
from accord.platform.settings import Settings


def global_id(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


RAISE = """
mutation($input: RaiseFindingInput!) {
  raiseFinding(input: $input) {
    finding { id tenant state grade raisedBy clauseKeys }
    errors { field code reason }
  }
}
"""


def payload(body: dict[str, Any], name: str) -> dict[str, Any]:
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"][name]
    return result


def raise_input(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "reference": f"F-{id(overrides)}",
        "title": "Calibration overdue",
        "grade": "OBSERVATION",
        "severity": "LOW",
        "clauseKeys": ["iso9001:2015/7.1.5"],
        "condition": "Two gauges past their calibration date.",
    }
    values.update(overrides)
    return values


FINDINGS = """
query Findings($first: Int!, $after: String, $filter: FindingFilter, $process: String) {
  findings(first: $first, after: $after, filter: $filter, process: $process) {
    edges {
      cursor
      node {
        id tenant level reference grade state clauseKeys
        title condition raisedBy owner
        owningTenant { slug }
      }
    }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


@asynccontextmanager
async def served(app: Starlette) -> AsyncIterator[int]:
    """``app`` served by uvicorn on a free loopback port in this event loop; the port."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def replica(settings: Settings, runtime: Runtime) -> AsyncIterator[tuple[Starlette, str]]:
    """One API replica: its own app (own policy engine, own notification hub), served on a
    free loopback port in this event loop."""
    app = create_app(settings, runtime=runtime)
    async with served(app) as port:
        yield app, f"ws://127.0.0.1:{port}/graphql"
