"""Moving a tenant to another store: copy, verify, switch the placement, drop the source.

One transaction on the source holds the tenant's tables in SHARE mode from the copy to
the switch: reads go on, writes wait (none can slip between the copy and the switch).
Inside it the schema is exported (the offboarding export: NDJSON per table with row
counts and SHA-256), loaded into a new schema on the target in one target transaction,
exported again from the target and compared table by table, and the target's event-log
chain is verified. The placement then changes in one control-plane transaction; the
source transaction revokes writes on the old copy and drops it before it commits, so a
writer that waited fails (``TENANT_UNAVAILABLE``, retry) instead of writing to the old
copy, and its retry reaches the new store.

A move interrupted before the switch leaves at most a copy on the target, which the next
``move`` drops before starting again (the source was never changed). Interrupted after
the switch, it leaves the old copy, which the next ``move`` of the tenant (to the store
it is now on) drops, once it has checked that the copy still holds exactly what was
moved; a copy that differs (a write that landed in the instant between the switch and
the source's commit) is kept and reported, never dropped.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from accord.platform import clock
from accord.platform.db import FEDERATION_ROLE, TenantScope, quote_ident
from accord.platform.errors import AccordError, Conflict, ErrorCode
from accord.platform.eventlog import EventLogEntry, append_event, verify_chain
from accord.platform.migrations.ownership import SCHEMA_OWNER, ensure_schema_owner
from accord.platform.migrations.runner import let_api_enter, lock_shared_objects, upgrade_tenant
from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service
from accord.tenants.archive import (
    _export_into,
    _tables_in_dependency_order,
    load_export,
    verify_export,
)
from accord.tenants.models import Tenant, TenantStatus
from accord.tenants.provisioning import SYSTEM_ACTOR

MOVED_ACTION = "tenant.moved"
#: How long one try to take a tenant's table locks waits, and how long the move keeps trying.
LOCK_TRY_MS = 200
LOCK_PATIENCE = 60.0
#: lock_not_available, deadlock_detected
_LOCK_FAILURES = {"55P03", "40P01"}


@dataclass
class MoveResult:
    slug: str
    source: str
    target: str
    rows: dict[str, int] = field(default_factory=dict)
    content_hash: str = ""
    events: int = 0
    #: Copies left by an interrupted move that this run dropped (store names).
    cleaned: list[str] = field(default_factory=list)
    moved: bool = True


Step = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


async def move_tenant(
    runtime: Runtime,
    *,
    slug: str,
    store: str,
    work_root: Path,
    actor: str = SYSTEM_ACTOR,
    on_step: Step = _quiet,
) -> MoveResult:
    """Move ``slug``'s schema to ``store`` (see the module's description)."""
    runtime.stores.url(store)  # an unknown store is NOT_FOUND/UNKNOWN_STORE
    async with _move_lock(runtime, slug):
        async with runtime.control_session() as session:
            tenant = await tenant_service.get(session=session, slug=slug)
            if tenant.status not in (TenantStatus.ACTIVE, TenantStatus.SUSPENDED):
                raise Conflict(
                    f"Tenant '{slug}' is {tenant.status}; only an active or suspended "
                    "tenant can move.",
                    reason="INVALID_TENANT_STATE",
                )
            source = tenant.store
            session.expunge(tenant)
        await runtime.stores.ping(store)
        cleaned = await _clean_leftovers(runtime, tenant, on_step)
        if source == store:
            return MoveResult(slug=slug, source=source, target=store, cleaned=cleaned, moved=False)
        if await _same_database(runtime, source, store):
            raise Conflict(
                f"Stores '{source}' and '{store}' are the same database; nothing to move.",
                reason="SAME_DATABASE",
                field="store",
            )
        work = work_root / f"move-{slug}-{clock.now():%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
        try:
            result = await _move(runtime, tenant, store, work, actor, on_step)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        result.cleaned = cleaned
        return result


async def _move(
    runtime: Runtime, tenant: Tenant, store: str, work: Path, actor: str, on_step: Step
) -> MoveResult:
    source, target = tenant.scope, TenantScope(slug=tenant.slug, store=store)
    async with runtime.stores.migrator_engine(source.store).connect() as src, src.begin():
        s = quote_ident(src, source.schema)
        tables = [
            f"{s}.{quote_ident(src, t)}"
            for t in await _tables_in_dependency_order(src, source.schema)
        ]
        # Writers of this tenant wait from here until the source commits; readers go on.
        await _retrying(src, f"LOCK TABLE {', '.join(tables)} IN SHARE MODE")
        on_step(f"copying {tenant.slug} from {source.store} (writes wait)")
        exported = await _export_into(src, tenant, work / "source")
        switched = False
        try:
            async with runtime.stores.migrator_engine(store).begin() as tgt:
                await _create_copy_objects(tgt, target)
                await load_export(tgt, target, exported.directory)
            on_step(f"verifying the copy on {store}")
            copy = Tenant(
                slug=tenant.slug,
                legal_name=tenant.legal_name,
                jurisdiction=tenant.jurisdiction,
                store=store,
            )
            async with runtime.stores.migrator_engine(store).connect() as tgt, tgt.begin():
                copied = await _export_into(tgt, copy, work / "target")
            _compare(exported.directory, copied.directory)
            async with runtime.stores.tenant_session(target) as session:
                verdict = await verify_chain(session)
                if not verdict.ok:
                    raise AccordError(
                        f"The copied event log of '{tenant.slug}' does not verify at entry "
                        f"{verdict.first_broken_seq}: {verdict.reason}. Nothing was switched.",
                        reason="MOVE_VERIFY_FAILED",
                        code=ErrorCode.INTERNAL,
                    )
                await append_event(
                    session,
                    actor=actor,
                    action=MOVED_ACTION,
                    record_type="tenant",
                    record_id=tenant.slug,
                    change={
                        "from": source.store,
                        "to": store,
                        "content_hash": exported.content_hash,
                        "rows": exported.rows,
                    },
                )
            # Committed with the lock's release: a writer that waited finds the old copy
            # read-only (and the placement changed, so it is told to retry).
            await _revoke_writes(src, source)
            async with runtime.control_session() as session:
                row = await tenant_service.get_for_update(session=session, slug=tenant.slug)
                if row.store != source.store:
                    raise Conflict(
                        f"Tenant '{tenant.slug}' was moved by someone else meanwhile.",
                        reason="MOVE_CONFLICT",
                    )
                row.store = store
            switched = True
            on_step(f"switched {tenant.slug} to {store}; dropping the old copy")
        except BaseException:
            if not switched:
                await _drop_schema_and_role(runtime, target)
            raise
    try:
        await _drop_schema_and_role(runtime, source)
    except DBAPIError:
        # Read-only already; the next `tenant move` of this tenant drops it.
        on_step(f"the old copy on {source.store} is still in use; run the move again to drop it")
    return MoveResult(
        slug=tenant.slug,
        source=source.store,
        target=store,
        rows=exported.rows,
        content_hash=exported.content_hash,
        events=verdict.entries + 1,
    )


def _compare(source: Path, target: Path) -> None:
    """Row counts and SHA-256 per table must be the same on both sides."""
    verify_export(target)
    sides = [
        {
            t["table"]: (t["rows"], t["sha256"])
            for t in json.loads(d.joinpath("manifest.json").read_bytes())["tables"]
        }
        for d in (source, target)
    ]
    differing = sorted(
        t for t in sides[0].keys() | sides[1].keys() if sides[0].get(t) != sides[1].get(t)
    )
    if differing:
        raise AccordError(
            f"The copy differs from the source in {', '.join(differing)}. Nothing was switched.",
            reason="MOVE_VERIFY_FAILED",
            code=ErrorCode.INTERNAL,
        )


async def _create_copy_objects(conn: AsyncConnection, scope: TenantScope) -> None:
    """Role (unless the target's server has it: roles are server-wide), schema at head."""
    role, schema = quote_ident(conn, scope.role), quote_ident(conn, scope.schema)
    await lock_shared_objects(conn)
    has_role = await conn.scalar(
        text("select exists (select 1 from pg_roles where rolname = :r)"), {"r": scope.role}
    )
    if not has_role:
        await conn.exec_driver_sql(f"CREATE ROLE {role} NOLOGIN")
    await let_api_enter(conn, scope.role)
    await ensure_schema_owner(conn)
    await conn.exec_driver_sql(
        f"CREATE SCHEMA {schema} AUTHORIZATION {quote_ident(conn, SCHEMA_OWNER)}"
    )
    await upgrade_tenant(conn, schema=scope.schema, role=scope.role)


async def _revoke_writes(conn: AsyncConnection, scope: TenantScope) -> None:
    s = quote_ident(conn, scope.schema)
    roles = f"{quote_ident(conn, scope.role)}, {quote_ident(conn, FEDERATION_ROLE)}"
    await conn.exec_driver_sql(
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA {s} FROM {roles}"
    )


async def _schema_exists(runtime: Runtime, scope: TenantScope) -> bool:
    async with runtime.stores.migrator_engine(scope.store).connect() as conn:
        return bool(
            await conn.scalar(
                text("select exists (select 1 from pg_namespace where nspname = :s)"),
                {"s": scope.schema},
            )
        )


async def _drop_schema_and_role(runtime: Runtime, scope: TenantScope) -> None:
    async with runtime.stores.migrator_engine(scope.store).begin() as conn:
        schema = quote_ident(conn, scope.schema)
        await _retrying(conn, f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    await _drop_role(runtime, scope)


async def _retrying(conn: AsyncConnection, statement: str) -> None:
    """Run a statement that takes many table locks without ever waiting long while holding
    some (a transaction holding one and waiting for another deadlocks with it): each try
    gives up after a short lock timeout and releases what it took (a savepoint) before the
    next."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LOCK_PATIENCE
    while True:
        await conn.exec_driver_sql("SAVEPOINT take_locks")
        await conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TRY_MS}ms'")
        try:
            await conn.exec_driver_sql(statement)
        except DBAPIError as exc:
            await conn.exec_driver_sql("ROLLBACK TO SAVEPOINT take_locks")
            sqlstate = getattr(exc.orig, "sqlstate", None)
            if sqlstate not in _LOCK_FAILURES or loop.time() > deadline:
                raise
            await asyncio.sleep(secrets.randbelow(LOCK_TRY_MS) / 1000)
            continue
        await conn.exec_driver_sql("RELEASE SAVEPOINT take_locks")
        await conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
        return


async def _drop_role(runtime: Runtime, scope: TenantScope) -> None:
    """Drop the tenant role's grants in this store's database, and the role itself unless
    it still holds grants elsewhere on the server (another store in the same server)."""
    async with runtime.stores.migrator_engine(scope.store).begin() as conn:
        role = quote_ident(conn, scope.role)
        exists = await conn.scalar(
            text("select exists (select 1 from pg_roles where rolname = :r)"), {"r": scope.role}
        )
        if not exists:
            return
        await lock_shared_objects(conn)
        # DROP OWNED BY takes the role's privileges; the migrator created it.
        await conn.exec_driver_sql(f"GRANT {role} TO CURRENT_USER")
        await conn.exec_driver_sql(f"DROP OWNED BY {role}")
        await conn.exec_driver_sql("SAVEPOINT drop_role")
        try:
            await conn.exec_driver_sql(f"DROP ROLE {role}")
        except DBAPIError:
            await conn.exec_driver_sql("ROLLBACK TO SAVEPOINT drop_role")


async def _clean_leftovers(runtime: Runtime, tenant: Tenant, on_step: Step) -> list[str]:
    """Drop the copies of ``tenant`` an interrupted move left on stores it is not on.

    A copy whose event log holds the placement's last move entry was made from the current
    placement: an unfinished target, dropped. Any other is an old source, dropped only if
    it still holds exactly what that move recorded; one that differs is kept and reported.
    """
    last = await _last_move(runtime, tenant)
    cleaned: list[str] = []
    for name in runtime.stores.names():
        if name == tenant.store:
            continue
        scope = TenantScope(slug=tenant.slug, store=name)
        try:
            if not await _schema_exists(runtime, scope):
                continue
        except (DBAPIError, OSError):
            continue  # an unreachable store is cleaned by a later move
        if await _same_database(runtime, name, tenant.store):
            continue
        old_source = last is not None and last.change.get("from") == name
        if old_source and last is not None and not await _holds_entry(runtime, scope, last.hash):
            await _check_unchanged(runtime, tenant, scope, str(last.change["content_hash"]))
        on_step(f"dropping the copy of {tenant.slug} left on {name} by an interrupted move")
        await _drop_schema_and_role(runtime, scope)
        cleaned.append(name)
    return cleaned


async def _last_move(runtime: Runtime, tenant: Tenant) -> EventLogEntry | None:
    async with runtime.stores.tenant_session(tenant.scope) as session:
        entry: EventLogEntry | None = await session.scalar(
            select(EventLogEntry)
            .where(EventLogEntry.action == MOVED_ACTION)
            .order_by(EventLogEntry.seq.desc())
            .limit(1)
        )
    return entry


async def _holds_entry(runtime: Runtime, scope: TenantScope, entry_hash: str) -> bool:
    async with runtime.stores.migrator_engine(scope.store).connect() as conn:
        table = f"{quote_ident(conn, scope.schema)}.event_log"
        return bool(
            await conn.scalar(
                text(f"select exists (select 1 from {table} where hash = :h)"),  # noqa: S608
                {"h": entry_hash},
            )
        )


async def _check_unchanged(
    runtime: Runtime, tenant: Tenant, scope: TenantScope, moved_hash: str
) -> None:
    stray = Tenant(
        slug=tenant.slug,
        legal_name=tenant.legal_name,
        jurisdiction=tenant.jurisdiction,
        store=scope.store,
    )
    snapshot = runtime.settings.data_dir / "moves" / f"check-{secrets.token_hex(4)}"
    try:
        async with runtime.stores.migrator_engine(scope.store).connect() as conn, conn.begin():
            found = await _export_into(conn, stray, snapshot)
    finally:
        shutil.rmtree(snapshot, ignore_errors=True)
    if found.content_hash != moved_hash:
        raise Conflict(
            f"The old copy of '{tenant.slug}' on store '{scope.store}' changed after the "
            f"tenant moved to '{tenant.store}'; it is kept for you to compare (schema "
            f"{scope.schema}): export what differs, then drop the schema by hand.",
            reason="MOVE_DIVERGED",
        )


async def _same_database(runtime: Runtime, a: str, b: str) -> bool:
    """Whether two store names reach one database: an advisory lock taken through one is
    seen through the other only then (advisory locks are per database)."""
    key = {"k": secrets.randbits(62)}
    async with runtime.stores.engine(a).connect() as first:
        await first.execute(text("select pg_advisory_lock(:k)"), key)
        try:
            async with runtime.stores.engine(b).connect() as second:
                free = await second.scalar(text("select pg_try_advisory_lock(:k)"), key)
                if free:
                    await second.execute(text("select pg_advisory_unlock(:k)"), key)
                return not free
        finally:
            await first.execute(text("select pg_advisory_unlock(:k)"), key)


@asynccontextmanager
async def _move_lock(runtime: Runtime, slug: str) -> AsyncIterator[None]:
    """One move of a tenant at a time: a session lock on the control plane, released when
    the move ends or its process dies."""
    key = {"k": f"accord.move:{slug}"}
    async with runtime.stores.engine(runtime.home).connect() as conn:
        got = await conn.scalar(text("select pg_try_advisory_lock(hashtextextended(:k, 0))"), key)
        await conn.commit()
        if not got:
            raise Conflict(
                f"Tenant '{slug}' is being moved by another process.", reason="MOVE_IN_PROGRESS"
            )
        try:
            yield
        finally:
            await conn.execute(text("select pg_advisory_unlock(hashtextextended(:k, 0))"), key)
            await conn.commit()
