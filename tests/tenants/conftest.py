"""Fixtures of the tenant tests: a local identity provider."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn

from tests.factories.identity import IdentityServer


@pytest.fixture(scope="session")
async def idp() -> AsyncIterator[IdentityServer]:
    server_state = IdentityServer()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server_state.port = sock.getsockname()[1]
    config = uvicorn.Config(
        server_state.app(), lifespan="off", ws="none", http="h11", log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "the test IdP did not start"
    yield server_state
    server.should_exit = True
    await task
    sock.close()
