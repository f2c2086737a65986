"""Provisioning is all or nothing, pinned to one store, and safe to re-run."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from accord.platform.errors import Conflict, ErrorCode, NotFound, StoreUnavailable
from accord.platform.migrations.ownership import SCHEMA_OWNER
from accord.platform.runtime import Runtime
from accord.tenants import provisioning
from accord.tenants import service as tenant_service
from accord.tenants.models import Tenant, TenantStatus
from accord.tenants.provisioning import create_tenant
from tests.conftest import SECOND_STORE, TenantFactory, unique_slug
from tests.factories.tenants import control_row, role_exists, schema_exists


async def test_tenant_gets_its_own_schema_role_and_row(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant()
    assert tenant.status == TenantStatus.ACTIVE
    assert await schema_exists(runtime, "home", tenant.scope.schema)
    assert await role_exists(runtime, "home", tenant.scope.role)
    async with runtime.stores.engine("home").connect() as conn:
        owner = await conn.scalar(
            text("select nspowner::regrole::text from pg_namespace where nspname = :s"),
            {"s": tenant.scope.schema},
        )
        can_login = await conn.scalar(
            text("select rolcanlogin from pg_roles where rolname = :r"), {"r": tenant.scope.role}
        )
        may_use, may_create = (
            await conn.execute(
                text(
                    "select has_schema_privilege(:r, :s, 'USAGE'), "
                    "has_schema_privilege(:r, :s, 'CREATE')"
                ),
                {"r": tenant.scope.role, "s": tenant.scope.schema},
            )
        ).one()
    # The tenant's role uses its schema; the owner role, which no tenant becomes, owns it.
    assert owner == SCHEMA_OWNER
    assert (may_use, may_create) == (True, False)
    assert can_login is False


async def test_two_stores_on_two_servers_keep_each_tenant_on_its_own(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    home_tenant = await make_tenant("home", label="h")
    second_tenant = await make_tenant(SECOND_STORE, label="s")

    identities = set()
    for store in ("home", SECOND_STORE):
        async with runtime.stores.engine(store).connect() as conn:
            identities.add(
                await conn.scalar(text("select system_identifier from pg_control_system()"))
            )
    assert len(identities) == 2, "the two stores must be different PostgreSQL servers"

    assert await schema_exists(runtime, "home", home_tenant.scope.schema)
    assert not await schema_exists(runtime, SECOND_STORE, home_tenant.scope.schema)
    assert await schema_exists(runtime, SECOND_STORE, second_tenant.scope.schema)
    assert not await schema_exists(runtime, "home", second_tenant.scope.schema)


async def test_duplicate_slug_is_refused_and_nothing_changes(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant()
    with pytest.raises(Conflict) as info:
        await make_tenant(slug=tenant.slug, legal_name="Someone Else")
    assert info.value.reason == "DUPLICATE_TENANT"
    row = await control_row(runtime, tenant.slug)
    assert row is not None and row.legal_name == "Test Partner Ltd"


async def test_unknown_store_and_bad_fields_create_nothing(runtime: Runtime) -> None:
    slug = unique_slug()
    with pytest.raises(NotFound) as info:
        await create_tenant(runtime, slug=slug, legal_name="X", jurisdiction="DE", store="mars")
    assert info.value.reason == "UNKNOWN_STORE"
    for field, kwargs in {
        "jurisdiction": {"legal_name": "X", "jurisdiction": "Germany"},
        "legal_name": {"legal_name": "   ", "jurisdiction": "DE"},
    }.items():
        with pytest.raises(Exception) as bad:
            await create_tenant(runtime, slug=slug, store="home", **kwargs)
        assert getattr(bad.value, "field", None) == field
    assert await control_row(runtime, slug) is None
    assert not await role_exists(runtime, "home", f"accord_t_{slug}")


async def test_unreachable_store_at_creation_creates_nothing(runtime: Runtime) -> None:
    runtime.stores.register("offline", "postgresql://postgres@127.0.0.1:1/none")
    slug = unique_slug()
    try:
        with pytest.raises(StoreUnavailable) as info:
            await create_tenant(
                runtime, slug=slug, legal_name="X", jurisdiction="DE", store="offline"
            )
    finally:
        await runtime.stores.forget("offline")
    assert info.value.code == ErrorCode.TENANT_UNAVAILABLE
    assert info.value.reason == "STORE_UNREACHABLE"
    assert await control_row(runtime, slug) is None


async def test_failure_midway_leaves_nothing_and_rerun_succeeds(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_upgrade = provisioning.upgrade_tenant

    async def upgrade_then_fail(conn, *, schema: str, role: str) -> None:  # type: ignore[no-untyped-def]
        await real_upgrade(conn, schema=schema, role=role)
        raise RuntimeError("injected failure after the tenant migrations ran")

    slug = unique_slug("fail")
    monkeypatch.setattr(provisioning, "upgrade_tenant", upgrade_then_fail)
    with pytest.raises(RuntimeError, match="injected"):
        await create_tenant(runtime, slug=slug, legal_name="X", jurisdiction="DE", store="home")
    assert await control_row(runtime, slug) is None
    assert not await schema_exists(runtime, "home", f"t_{slug}")
    assert not await role_exists(runtime, "home", f"accord_t_{slug}")

    monkeypatch.setattr(provisioning, "upgrade_tenant", real_upgrade)
    tenant = await create_tenant(
        runtime, slug=slug, legal_name="X", jurisdiction="DE", store="home"
    )
    assert tenant.status == TenantStatus.ACTIVE


async def test_failure_when_activating_undoes_the_store_work(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fail_lookup(**kwargs: object) -> Tenant:
        raise ConnectionError("control plane lost after the store committed")

    slug = unique_slug("act")
    monkeypatch.setattr(provisioning.tenant_service, "get_for_update", fail_lookup)
    with pytest.raises(ConnectionError):
        await create_tenant(
            runtime, slug=slug, legal_name="X", jurisdiction="DE", store=SECOND_STORE
        )
    monkeypatch.undo()
    assert await control_row(runtime, slug) is None
    assert not await schema_exists(runtime, SECOND_STORE, f"t_{slug}")
    assert not await role_exists(runtime, SECOND_STORE, f"accord_t_{slug}")


async def test_crash_leftovers_are_cleaned_by_the_next_create(runtime: Runtime) -> None:
    """A process killed between the store commit and activation leaves a 'provisioning' row."""
    slug = unique_slug("crash")
    async with runtime.control_session() as session:
        session.add(
            Tenant(
                slug=slug, legal_name="X", jurisdiction="DE", store="home", status="provisioning"
            )
        )
    # What a provisioning from before the owner role left: the schema the tenant role's.
    async with runtime.stores.migrator_engine("home").begin() as conn:
        await conn.exec_driver_sql(f'CREATE ROLE "accord_t_{slug}" NOLOGIN')
        await conn.exec_driver_sql(f'GRANT "accord_t_{slug}" TO CURRENT_USER')
        await conn.exec_driver_sql(f'CREATE SCHEMA "t_{slug}" AUTHORIZATION "accord_t_{slug}"')
        await conn.exec_driver_sql(f'SET LOCAL ROLE "accord_t_{slug}"')
        await conn.exec_driver_sql(f'CREATE TABLE "t_{slug}".half_done (x int)')
        await conn.exec_driver_sql("RESET ROLE")
        await conn.exec_driver_sql(f'REVOKE "accord_t_{slug}" FROM CURRENT_USER')

    tenant = await create_tenant(
        runtime, slug=slug, legal_name="X", jurisdiction="DE", store="home"
    )
    assert tenant.status == TenantStatus.ACTIVE
    async with runtime.stores.migrator_engine("home").connect() as conn:
        leftover = await conn.scalar(text("select to_regclass(:t)"), {"t": f"t_{slug}.half_done"})
    assert leftover is None


async def test_provisioning_rows_are_invisible_to_lookups(runtime: Runtime) -> None:
    slug = unique_slug("hidden")
    async with runtime.control_session() as session:
        session.add(
            Tenant(
                slug=slug, legal_name="X", jurisdiction="DE", store="home", status="provisioning"
            )
        )
    async with runtime.control_session() as session:
        with pytest.raises(NotFound):
            await tenant_service.get(session=session, slug=slug)
        listed = [t.slug for t in await tenant_service.list_tenants(session=session)]
    assert slug not in listed
