"""Store engines survive a restarted server without restarting Accord."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, TenantFactory


async def _kill_every_other_connection(runtime: Runtime, store: str) -> int:
    """What clients see when the server restarts: every pooled connection is dead."""
    killer = create_async_engine(runtime.stores.url(store), poolclass=None)
    try:
        async with killer.connect() as conn:
            killed = await conn.scalar(
                text(
                    "select count(pg_terminate_backend(pid)) from pg_stat_activity "
                    "where pid <> pg_backend_pid() and datname = current_database() "
                    "and backend_type = 'client backend'"
                )
            )
    finally:
        await killer.dispose()
    return int(killed or 0)


async def test_tenant_sessions_and_control_sessions_reconnect(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(SECOND_STORE, label="restart")
    for _ in range(3):  # fill both pools of the store with live connections
        async with tenant_session(runtime, tenant.slug) as session:
            await session.execute(text("select 1"))
        async with runtime.stores.engine(SECOND_STORE).connect() as conn:
            await conn.execute(text("select 1"))

    assert await _kill_every_other_connection(runtime, SECOND_STORE) >= 2

    async with tenant_session(runtime, tenant.slug) as session:
        who = await session.scalar(text("select current_user"))
    assert who == tenant.scope.role
    async with runtime.stores.engine(SECOND_STORE).connect() as conn:
        assert await conn.scalar(text("select 1")) == 1
    await runtime.stores.ping(SECOND_STORE)
