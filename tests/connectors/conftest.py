"""Fixtures for connector tests: a fake SAP on a free port, a tenant, an instance on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from accord.connectors import instances
from accord.connectors.instances import Loaded
from accord.platform.runtime import Runtime
from tests.connectors.fake_sap import FakeSap, ServerThread

#: Fast retries so fault tests take milliseconds, not the production backoff.
FAST = {"backoff_seconds": 0.01, "max_backoff_seconds": 0.05, "timeout_seconds": 0.5}


@pytest.fixture
def sap() -> Iterator[tuple[FakeSap, str]]:
    app = FakeSap()
    with ServerThread(app) as server:
        yield app, server.url


MakeInstance = Callable[..., Awaitable[Loaded]]


@pytest.fixture
def make_instance(runtime: Runtime) -> MakeInstance:
    counter = iter(range(1_000_000))

    async def make(
        tenant: str,
        base_url: str,
        kind: str = "sap",
        override: dict[str, Any] | None = None,
        **config: Any,
    ) -> Loaded:
        row = await instances.add_instance(
            runtime,
            tenant=tenant,
            kind=kind,
            name=f"{kind}-{next(counter)}",
            base_url=base_url,
            config={**FAST, "page_size": 10, **config},
            mapping_override=override,
        )
        return await instances.load_instance(runtime, str(row.id))

    return make
