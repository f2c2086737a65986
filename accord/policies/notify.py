"""Keep every process's engine current: LISTEN on ``accord_policies``, reload what changed.

Each API process runs one ``PolicyListener`` on a dedicated psycopg connection (autocommit,
outside the pools). It LISTENs first and loads everything second, so no change can fall
in between; each notification names the domains an import touched with their new
versions, and the listener rebuilds the partitions it holds older versions of. A lost
connection is retried; after reconnecting everything is loaded again, since notifications
sent meanwhile are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg import sql

from accord.platform import telemetry
from accord.platform.notifications import libpq_dsn
from accord.platform.runtime import Runtime
from accord.policies import service
from accord.policies.engine import PolicyEngine

log = logging.getLogger(__name__)


def stale_domains(engine: PolicyEngine, payload: str) -> set[str]:
    """Domains of a notification that ``engine`` holds an older version of."""
    try:
        versions = json.loads(payload).get("domains", {})
    except (ValueError, AttributeError):
        log.warning("Ignoring a malformed %s notification: %r", service.CHANNEL, payload)
        return set()
    return {
        d
        for d, v in versions.items()
        if isinstance(v, int) and engine.loaded_versions.get(d, -1) < v
    }


class PolicyListener:
    def __init__(self, runtime: Runtime, engine: PolicyEngine, *, retry_delay: float = 1.0) -> None:
        self._runtime = runtime
        self._engine = engine
        self._retry_delay = retry_delay
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.reloads = 0

    async def start(self, *, within: float = 30.0) -> None:
        """Start listening; returns once the engine holds every stored policy."""
        self._task = asyncio.create_task(self._run(), name="accord-policy-listener")
        waiter = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait(
            {waiter, self._task}, timeout=within, return_when="FIRST_COMPLETED"
        )
        if waiter not in done:
            waiter.cancel()
            await self.stop()
            raise TimeoutError("The policy listener did not load the policies in time.")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        dsn = libpq_dsn(self._runtime.stores.url(self._runtime.home))
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(service.CHANNEL)))
                    await self._reload(None)
                    self._ready.set()
                    async for note in conn.notifies():
                        stale = stale_domains(self._engine, note.payload)
                        if stale:
                            await self._reload(stale)
            except Exception as exc:  # a lost connection or a failed reload: start afresh
                log.warning("Policy listener failed (%r); reconnecting.", exc)
                await asyncio.sleep(self._retry_delay)

    async def _reload(self, domains: set[str] | None) -> None:
        async with self._runtime.control_session() as session:
            await service.reload(session=session, engine=self._engine, domains=domains)
        self.reloads += 1
        metrics = telemetry.instruments()
        if metrics is not None:
            metrics.policy_reloads.add(
                1, {"accord.reload": "all" if domains is None else "domains"}
            )


@asynccontextmanager
async def open_policy_engine(runtime: Runtime) -> AsyncIterator[PolicyEngine]:
    """A loaded engine kept current by a listener for as long as the context lasts."""
    engine = PolicyEngine()
    listener = PolicyListener(runtime, engine)
    await listener.start()
    try:
        yield engine
    finally:
        await listener.stop()
