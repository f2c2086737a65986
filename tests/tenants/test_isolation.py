"""A tenant transaction can reach only its own schema, and leaves nothing on the connection."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from accord.platform.db import StoreRegistry
from accord.platform.errors import Forbidden, NotFound
from accord.platform.runtime import Runtime
from accord.tenants.archive import offboard_tenant
from accord.tenants.provisioning import resume_tenant, suspend_tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory


async def test_raw_sql_against_another_tenant_is_refused(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    a, b = await make_tenant(label="a"), await make_tenant(label="b")
    async with tenant_session(runtime, a.slug) as session:
        own = await session.scalar(text(f'select count(*) from "t_{a.slug}".event_log'))
        assert own == 1
        with pytest.raises(DBAPIError, match="permission denied"):
            await session.execute(text(f'select * from "t_{b.slug}".event_log'))
    async with tenant_session(runtime, a.slug) as session:
        with pytest.raises(DBAPIError, match="permission denied"):
            await session.execute(text("select * from accord.tenants"))


async def test_nothing_of_a_tenant_survives_on_the_pooled_connection(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    a = await make_tenant(label="pool")
    registry = StoreRegistry(pool_size=1, max_overflow=0)
    registry.register("home", runtime.stores.url("home"))
    try:
        # The tenant pool (one connection here) is what tenant sessions use.
        pool = registry._tenant_engine(a.scope)
        async with pool.connect() as conn:
            before = (
                await conn.execute(
                    text("select pg_backend_pid(), current_user, current_setting('search_path')")
                )
            ).one()
        async with registry.tenant_session(a.scope) as session:
            inside = (await session.execute(text("select pg_backend_pid(), current_user"))).one()
            assert inside[1] == a.scope.role
        async with pool.connect() as conn:
            after = (
                await conn.execute(
                    text(
                        "select pg_backend_pid(), current_user, current_setting('search_path'), "
                        "current_setting('role')"
                    )
                )
            ).one()
    finally:
        await registry.dispose()
    assert inside[0] == before[0] == after[0], "the test must observe one pooled connection"
    assert after[1] == before[1]
    assert after[2] == before[2]
    assert after[3] == "none"


async def test_a_failed_tenant_transaction_also_leaves_nothing(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    a = await make_tenant(label="fail")
    registry = StoreRegistry(pool_size=1, max_overflow=0)
    registry.register("home", runtime.stores.url("home"))
    try:
        with pytest.raises(ZeroDivisionError):
            async with registry.tenant_session(a.scope) as session:
                await session.execute(text("select 1"))
                raise ZeroDivisionError
        async with registry._tenant_engine(a.scope).connect() as conn:
            role = await conn.scalar(text("select current_setting('role')"))
            in_transaction = await conn.scalar(text("select now() = statement_timestamp()"))
    finally:
        await registry.dispose()
    assert role == "none"
    assert in_transaction is True, "a fresh statement runs outside any leftover transaction"


async def test_suspended_and_offboarded_tenants_are_unreachable(
    runtime: Runtime, make_tenant: TenantFactory, tmp_path: object
) -> None:
    tenant = await make_tenant(label="susp")
    await suspend_tenant(runtime, slug=tenant.slug, reason="contract paused")
    with pytest.raises(Forbidden) as info:
        async with tenant_session(runtime, tenant.slug):
            pass
    assert info.value.reason == "TENANT_SUSPENDED"
    await resume_tenant(runtime, slug=tenant.slug)
    async with tenant_session(runtime, tenant.slug) as session:
        actions = list(
            await session.scalars(
                text(f'select action from "t_{tenant.slug}".event_log order by seq')
            )
        )
    assert actions == ["tenant.provisioned", "tenant.suspended", "tenant.active"]

    from pathlib import Path

    assert isinstance(tmp_path, Path)
    await offboard_tenant(runtime, slug=tenant.slug, export_root=tmp_path)
    with pytest.raises(NotFound) as gone:
        async with tenant_session(runtime, tenant.slug):
            pass
    assert gone.value.reason == "TENANT_OFFBOARDED"


async def test_a_connection_returned_inside_a_transaction_is_not_reused(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    """Closing rolls back what the driver still holds; the check-in guard drops the rest."""
    a = await make_tenant(label="guard")
    registry = StoreRegistry(pool_size=1, max_overflow=0)
    registry.register("home", runtime.stores.url("home"))
    try:
        pool = registry._tenant_engine(a.scope)
        async with pool.connect() as conn:
            pid = await conn.scalar(text("select pg_backend_pid()"))
            raw = await conn.get_raw_connection()
            await raw.driver_connection.execute("BEGIN")  # type: ignore[union-attr]
            await raw.driver_connection.execute(  # type: ignore[union-attr]
                "SELECT set_config('role', %s, true)", (a.scope.role,)
            )
        async with pool.connect() as conn:
            fresh = await conn.scalar(text("select now() = statement_timestamp()"))
            role = await conn.scalar(text("select current_setting('role')"))
    finally:
        await registry.dispose()
    assert pid is not None
    assert fresh is True
    assert role == "none"
