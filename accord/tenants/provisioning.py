"""Provisioning and lifecycle of tenants across the control plane and the tenant's store.

Creating a tenant touches two servers (the control plane on the home store, the schema
and role on the tenant's store), so it is a small saga: a ``provisioning`` row is written
first, the store work runs in one transaction (PostgreSQL DDL is transactional), then
the row is activated. Any failure undoes what was done; a crash leaves a
``provisioning`` row that the next ``create`` of the same slug cleans up first.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from accord.platform import clock
from accord.platform.db import TENANT_SCHEMA_PLACEHOLDER, TenantScope, quote_ident
from accord.platform.errors import AccordError, Conflict
from accord.platform.eventlog import append_event
from accord.platform.migrations.ownership import SCHEMA_OWNER, ensure_schema_owner
from accord.platform.migrations.runner import let_api_enter, lock_shared_objects, upgrade_tenant
from accord.platform.naming import validate_slug
from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service
from accord.tenants.models import Tenant, TenantStatus

SYSTEM_ACTOR = "system:accord"


Seed = Callable[[AsyncConnection, TenantScope], Awaitable[None]]


async def create_tenant(
    runtime: Runtime,
    *,
    slug: str,
    legal_name: str,
    jurisdiction: str,
    store: str,
    seed: Seed | None = None,
) -> Tenant:
    """Provision ``slug`` on ``store``: role, schema, migrations, control-plane row.

    ``seed`` fills the new schema inside the same store transaction (restoring an
    export); without it the log starts with a ``tenant.provisioned`` entry.
    """
    validate_slug(slug)
    legal_name = tenant_service.validate_legal_name(legal_name)
    tenant_service.validate_jurisdiction(jurisdiction)
    runtime.stores.url(store)
    await runtime.stores.ping(store)
    runtime.stores.migrator_engine(store)  # before anything is written

    async with runtime.control_session() as session:
        existing = await tenant_service.find(session=session, slug=slug)
        if existing is not None and existing.status != TenantStatus.PROVISIONING:
            reason = (
                "TENANT_OFFBOARDED"
                if existing.status == TenantStatus.OFFBOARDED
                else "DUPLICATE_TENANT"
            )
            raise Conflict(
                f"Tenant '{slug}' already exists ({existing.status}); slugs are never reused.",
                reason=reason,
                field="slug",
            )
        leftover_store = existing.store if existing is not None else None
        if existing is None:
            session.add(
                Tenant(
                    slug=slug,
                    legal_name=legal_name,
                    jurisdiction=jurisdiction,
                    store=store,
                    status=TenantStatus.PROVISIONING,
                )
            )
            try:
                await session.flush()
            except IntegrityError as exc:
                raise Conflict(
                    f"Tenant '{slug}' is being created by someone else.",
                    reason="DUPLICATE_TENANT",
                    field="slug",
                ) from exc
        else:
            existing.legal_name, existing.jurisdiction, existing.store = (
                legal_name,
                jurisdiction,
                store,
            )

    scope = TenantScope(slug=slug, store=store)
    try:
        if leftover_store is not None:
            await _drop_tenant_objects(runtime, TenantScope(slug=slug, store=leftover_store))
        async with runtime.stores.migrator_engine(store).begin() as conn:
            await _create_tenant_objects(conn, scope)
            if seed is not None:
                await seed(conn, scope)
            else:
                await _record(
                    conn,
                    scope,
                    action="tenant.provisioned",
                    change={"legal_name": legal_name, "jurisdiction": jurisdiction, "store": store},
                )
        async with runtime.control_session() as session:
            tenant = await tenant_service.get_for_update(session=session, slug=slug)
            tenant.status = TenantStatus.ACTIVE
            tenant.activated_at = clock.now()
        return tenant
    except BaseException:
        await _undo(runtime, scope)
        raise


async def _create_tenant_objects(conn: AsyncConnection, scope: TenantScope) -> None:
    role, schema = quote_ident(conn, scope.role), quote_ident(conn, scope.schema)
    await conn.exec_driver_sql(f"CREATE ROLE {role} NOLOGIN")
    # The API's logins switch to the tenant role; the migrator's login never does.
    await let_api_enter(conn, scope.role)
    # Owned by the owner role, not the tenant's: an owner may drop what it does not own.
    await ensure_schema_owner(conn)
    owner = quote_ident(conn, SCHEMA_OWNER)
    await conn.exec_driver_sql(f"CREATE SCHEMA {schema} AUTHORIZATION {owner}")
    await upgrade_tenant(conn, schema=scope.schema, role=scope.role)


async def _record(
    conn: AsyncConnection, scope: TenantScope, *, action: str, change: dict[str, object]
) -> None:
    bound = await conn.execution_options(
        schema_translate_map={TENANT_SCHEMA_PLACEHOLDER: scope.schema}
    )
    session = AsyncSession(bind=bound)
    try:
        await append_event(
            session,
            actor=SYSTEM_ACTOR,
            action=action,
            record_type="tenant",
            record_id=scope.slug,
            change=change,
        )
    finally:
        await session.close()


async def _drop_tenant_objects(runtime: Runtime, scope: TenantScope) -> None:
    async with runtime.stores.migrator_engine(scope.store).begin() as conn:
        await drop_tenant_objects(conn, schema=scope.schema, role=scope.role)


async def drop_tenant_objects(conn: AsyncConnection, *, schema: str, role: str) -> None:
    """Drop a tenant's schema and role, and whatever the role owns or was granted here.

    The migrator becomes a member of the role for the rest of the transaction (it may: it
    created the role): a schema left by a crash or from before the owner role may still be
    the role's, and ``DROP OWNED BY`` takes the role's privileges. ``DROP OWNED BY`` also
    revokes the role's privileges on the database itself, hence the lock.
    """
    s, r = quote_ident(conn, schema), quote_ident(conn, role)
    role_exists = await conn.scalar(
        text("select exists (select 1 from pg_roles where rolname = :r)"), {"r": role}
    )
    if role_exists:
        await lock_shared_objects(conn)
        await conn.exec_driver_sql(f"GRANT {r} TO CURRENT_USER")
    await conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {s} CASCADE")
    if role_exists:
        await conn.exec_driver_sql(f"DROP OWNED BY {r}")
        await conn.exec_driver_sql(f"DROP ROLE {r}")


async def _undo(runtime: Runtime, scope: TenantScope) -> None:
    await _drop_tenant_objects(runtime, scope)
    async with runtime.control_session() as session:
        tenant = await tenant_service.find(session=session, slug=scope.slug)
        if tenant is not None and tenant.status == TenantStatus.PROVISIONING:
            await session.delete(tenant)


async def _set_status(
    runtime: Runtime,
    slug: str,
    *,
    allowed_from: tuple[TenantStatus, ...],
    to: TenantStatus,
    actor: str,
    reason: str | None,
    stamp: Callable[[Tenant], None],
) -> Tenant:
    async with runtime.control_session() as session:
        tenant = await tenant_service.get_for_update(session=session, slug=slug)
        if tenant.status not in allowed_from:
            raise Conflict(
                f"Tenant '{slug}' is {tenant.status}; cannot become {to}.",
                reason="INVALID_TENANT_STATE",
            )
        tenant.status = to
        stamp(tenant)
        async with runtime.stores.tenant_session(tenant.scope) as tsession:
            await append_event(
                tsession,
                actor=actor,
                action=f"tenant.{to}",
                record_type="tenant",
                record_id=slug,
                change={"status": str(to), "reason": reason},
            )
    return tenant


async def suspend_tenant(
    runtime: Runtime, *, slug: str, actor: str = SYSTEM_ACTOR, reason: str | None = None
) -> Tenant:
    def stamp(t: Tenant) -> None:
        t.suspended_at = clock.now()

    return await _set_status(
        runtime,
        slug,
        allowed_from=(TenantStatus.ACTIVE,),
        to=TenantStatus.SUSPENDED,
        actor=actor,
        reason=reason,
        stamp=stamp,
    )


async def resume_tenant(
    runtime: Runtime, *, slug: str, actor: str = SYSTEM_ACTOR, reason: str | None = None
) -> Tenant:
    def stamp(t: Tenant) -> None:
        t.suspended_at = None

    return await _set_status(
        runtime,
        slug,
        allowed_from=(TenantStatus.SUSPENDED,),
        to=TenantStatus.ACTIVE,
        actor=actor,
        reason=reason,
        stamp=stamp,
    )


async def migrate_all(
    runtime: Runtime,
    *,
    on_tenant: Callable[[Tenant, float], None] | None = None,
    on_failure: Callable[[Tenant, AccordError], None] | None = None,
    only: Collection[str] | None = None,
) -> int:
    """Bring every live tenant schema (or those of the slugs in ``only``) to head; returns
    how many schemas are at head.

    One tenant at a time: Alembic's ``op``/``context`` are process-wide proxies, so two
    migrations must never interleave in one process. Each tenant's control row is held
    (shared) while its schema is migrated, so an offboarding that started meanwhile waits,
    and one that finished meanwhile is skipped. Tenants still being provisioned are not
    listed (provisioning creates the schema at head). A tenant that cannot be migrated (its
    schema is missing, its store is down) is reported through ``on_failure`` and the others
    go on. ``on_tenant`` is called after each tenant with the seconds it took.
    """
    await runtime.upgrade_catalogs()
    async with runtime.control_session() as session:
        tenants = list(await tenant_service.list_tenants(session=session, include_offboarded=False))
    if only is not None:
        tenants = [t for t in tenants if t.slug in only]
    done = 0
    for tenant in tenants:
        started = time.perf_counter()
        try:
            async with runtime.control_session() as session:
                live = await session.scalar(
                    select(Tenant.status)
                    .where(Tenant.slug == tenant.slug)
                    .with_for_update(read=True)
                )
                if live in (None, TenantStatus.OFFBOARDED):
                    continue
                async with runtime.stores.migrator_engine(tenant.store).begin() as conn:
                    await upgrade_tenant(conn, schema=tenant.scope.schema, role=tenant.scope.role)
        except AccordError as exc:
            if on_failure is None:
                raise
            on_failure(tenant, exc)
            continue
        done += 1
        if on_tenant is not None:
            on_tenant(tenant, time.perf_counter() - started)
    return done
