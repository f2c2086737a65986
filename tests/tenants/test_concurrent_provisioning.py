"""Tenants created, migrated and offboarded at the same time, across two stores."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from accord.platform.errors import AccordError
from accord.platform.migrations.runner import upgrade_catalog
from accord.platform.runtime import Runtime
from accord.tenants.archive import offboard_tenant
from accord.tenants.models import Tenant, TenantStatus
from accord.tenants.provisioning import create_tenant, migrate_all
from tests.conftest import SECOND_STORE, unique_slug
from tests.factories.tenants import control_row, role_exists, schema_exists

PER_STORE = 10


async def _create(runtime: Runtime, store: str, label: str) -> Tenant:
    return await create_tenant(
        runtime,
        slug=unique_slug(label),
        legal_name="Concurrent Partner Ltd",
        jurisdiction="DE",
        store=store,
    )


async def test_twenty_tenants_created_and_offboarded_at_once_across_two_stores(
    runtime: Runtime, tmp_path: Path
) -> None:
    stores = ["home", SECOND_STORE] * PER_STORE

    tenants = await asyncio.gather(*(_create(runtime, s, "cc") for s in stores))

    assert len({t.slug for t in tenants}) == 2 * PER_STORE
    for tenant in tenants:
        assert tenant.status == TenantStatus.ACTIVE
        assert await schema_exists(runtime, tenant.store, tenant.scope.schema)
        assert await role_exists(runtime, tenant.store, tenant.scope.role)

    tombs = await asyncio.gather(
        *(offboard_tenant(runtime, slug=t.slug, export_root=tmp_path) for t in tenants)
    )

    assert [t.status for t in tombs] == [TenantStatus.OFFBOARDED] * len(tenants)
    for tenant in tenants:
        assert not await schema_exists(runtime, tenant.store, tenant.scope.schema)
        assert not await role_exists(runtime, tenant.store, tenant.scope.role)
        row = await control_row(runtime, tenant.slug)
        assert row is not None and row.status == TenantStatus.OFFBOARDED


async def test_a_migration_run_beside_provisioning_and_offboarding_fails_no_one(
    runtime: Runtime, tmp_path: Path
) -> None:
    leaving = await asyncio.gather(*(_create(runtime, s, "cl") for s in ["home", SECOND_STORE] * 2))

    failed: list[str] = []

    def on_failure(tenant: Tenant, error: AccordError) -> None:
        failed.append(tenant.slug)

    async def migrate_repeatedly() -> int:
        # Several passes, so that some see tenants being provisioned or offboarded.
        return min([await migrate_all(runtime, on_failure=on_failure) for _ in range(4)])

    async def catalogs_repeatedly() -> None:
        for _ in range(4):
            for store in runtime.stores.names():
                async with runtime.stores.migrator_engine(store).begin() as conn:
                    await upgrade_catalog(conn)

    results = await asyncio.gather(
        migrate_repeatedly(),
        catalogs_repeatedly(),
        *(offboard_tenant(runtime, slug=t.slug, export_root=tmp_path) for t in leaving),
        *(_create(runtime, s, "cm") for s in ["home", SECOND_STORE] * 4),
    )

    migrated, tombs, created = results[0], results[2:6], results[6:]
    assert isinstance(migrated, int) and migrated >= 1
    # Other runs sharing the database may have left broken tenants; none of these fail.
    ours = {t.slug for t in leaving} | {t.slug for t in created if isinstance(t, Tenant)}
    assert ours.isdisjoint(failed)
    for tomb in tombs:
        assert isinstance(tomb, Tenant) and tomb.status == TenantStatus.OFFBOARDED
    for tenant in created:
        assert isinstance(tenant, Tenant) and tenant.status == TenantStatus.ACTIVE
        assert await schema_exists(runtime, tenant.store, tenant.scope.schema)
    assert await migrate_all(runtime, on_failure=on_failure) >= len(created)
    assert ours.isdisjoint(failed)


async def test_tenant_roles_hold_no_privilege_on_the_database_itself(runtime: Runtime) -> None:
    # A grant on the database row is what concurrent provisionings and offboardings fought
    # over; the temporary-table privilege is the tenant group's, granted once per store.
    tenants = [await _create(runtime, store, "db") for store in ("home", SECOND_STORE)]
    for tenant in tenants:
        async with runtime.stores.engine(tenant.store).connect() as conn:
            direct = await conn.scalar(
                text(
                    "select count(*) from pg_database d, aclexplode(d.datacl) a "
                    "where d.datname = current_database() and a.grantee = cast(:r as regrole)"
                ),
                {"r": tenant.scope.role},
            )
            usable = await conn.scalar(
                text("select has_database_privilege(:r, current_database(), 'TEMPORARY')"),
                {"r": tenant.scope.role},
            )
        assert direct == 0
        assert usable is True
