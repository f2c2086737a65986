"""Database engines per store, control-plane and tenant-plane model bases, tenant sessions.

One model set serves every tenant: tenant tables are declared in the placeholder schema
``tenant`` and bound per transaction with ``schema_translate_map``. A tenant transaction
also switches to the tenant's NOLOGIN role with a transaction-local setting, so even a
bug cannot read another tenant's schema and nothing outlives the transaction.

Each store is reached by two logins (see ``docs/database-security.md``): the API's login,
for the control plane and tenant transactions, and the migrator's, for provisioning and
migrations, held only by processes that do those (``migrator_engine``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import MetaData, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.util import await_only, greenlet_spawn

from accord.platform import telemetry
from accord.platform.errors import AccordError, ErrorCode, NotFound, StoreUnavailable
from accord.platform.naming import role_name, schema_name
from accord.platform.settings import async_url, mask_url

CONTROL_SCHEMA = "accord"
TENANT_SCHEMA_PLACEHOLDER = "tenant"
#: The NOLOGIN role a federated read runs as (created and granted by the migration runner).
FEDERATION_ROLE = "accord_federation"
#: The NOLOGIN, NOINHERIT group of the API's logins: privileges on the control plane, and
#: the tenant roles and the federation role it may switch to (never inherits theirs).
API_GROUP = "accord_api"

_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class ControlBase(DeclarativeBase):
    metadata = MetaData(schema=CONTROL_SCHEMA, naming_convention=_NAMING)


class TenantBase(DeclarativeBase):
    metadata = MetaData(schema=TENANT_SCHEMA_PLACEHOLDER, naming_convention=_NAMING)


@dataclass(frozen=True, slots=True)
class TenantScope:
    """What a tenant session needs to know about a tenant: its slug and its store."""

    slug: str
    store: str

    @property
    def schema(self) -> str:
        return schema_name(self.slug)

    @property
    def role(self) -> str:
        return role_name(self.slug)


def quote_ident(conn: AsyncConnection, name: str) -> str:
    """Always-quoted identifier for DDL that cannot take bind parameters (roles, schemas)."""
    return conn.dialect.identifier_preparer.quote_identifier(name)


@lru_cache(maxsize=4096)
def _begin_as(role: str, *, generic_plans: bool = False) -> bytes:
    # One simple-protocol message opens the transaction and switches role (SET LOCAL, via
    # set_config(..., true)), saving a round trip per tenant transaction. The role name is a
    # validated slug-derived name, quoted as a literal by psycopg itself.
    statement = sql.SQL("BEGIN; SELECT set_config('role', {}, true)").format(sql.Literal(role))
    if generic_plans:
        # Federated statements span a branch per owner (hundreds of tables): parsing and
        # planning them costs more than running them. psycopg prepares a statement run
        # five times on a connection; a generic plan then serves every later run. Their
        # parameters (owners, cursors, group sizes) never change which plan is best.
        statement += sql.SQL(", set_config('plan_cache_mode', 'force_generic_plan', true)")
    return statement.as_bytes(None)


def _checkout_and_begin(engine: Engine, statement: bytes) -> Connection:
    """Check a connection out and open the tenant transaction, in one bridge crossing.

    With the driver in autocommit mode SQLAlchemy's ``begin`` does no I/O; it only makes
    the later commit (or the rollback on close) reach the driver. The one statement sent
    opens the transaction and switches role, and doubles as the liveness check.
    """
    connection = engine.connect()
    try:
        connection.begin()
        driver: psycopg.AsyncConnection[Any] = connection.connection.driver_connection  # type: ignore[assignment]
        await_only(driver.execute(statement))
    except psycopg.OperationalError:
        connection.invalidate()
        connection.close()
        raise
    except BaseException:
        connection.close()
        raise
    return connection


def _commit_and_release(connection: Connection) -> None:
    try:
        connection.commit()
    finally:
        connection.close()


def _drop_unless_idle(dbapi_connection: Any, record: Any) -> None:
    """A pooled tenant connection must come back outside any transaction, or not at all."""
    if dbapi_connection is None:  # already invalidated (e.g. the server went away)
        return
    status = dbapi_connection.driver_connection.info.transaction_status
    if status != psycopg.pq.TransactionStatus.IDLE:
        record.invalidate()


class StoreRegistry:
    """Pooled async engines per store (PostgreSQL server), created on first use.

    Each store has two pools: ``engine(name)`` for Accord itself (control plane, DDL,
    migrations; pre-ping on checkout) and a tenant pool behind ``tenant_session`` whose
    driver connections are in autocommit mode, so that the transaction is opened
    explicitly together with the role switch. The tenant pool needs no pre-ping: that
    first statement is the ping, and a dead connection (a restarted server) makes the
    pool start afresh and the transaction is retried once.
    """

    def __init__(self, *, pool_size: int = 5, max_overflow: int = 10) -> None:
        self._urls: dict[str, str] = {}
        self._migrator_urls: dict[str, str] = {}
        self._engines: dict[str, AsyncEngine] = {}
        self._migrator_engines: dict[str, AsyncEngine] = {}
        self._tenant_engines: dict[str, AsyncEngine] = {}
        self._scoped: dict[tuple[str, str], AsyncEngine] = {}
        self._pool_size = pool_size
        self._max_overflow = max_overflow

    def register(self, name: str, url: str, *, migrator_url: str | None = None) -> None:
        """Reach ``name`` at ``url`` (the API's login) and, in a process that provisions or
        migrates, at ``migrator_url`` (the migrator's login)."""
        url = async_url(url)
        migrator = async_url(migrator_url) if migrator_url is not None else None
        if self._urls.get(name) == url and self._migrator_urls.get(name) == migrator:
            return
        self._urls[name] = url
        if migrator is None:
            self._migrator_urls.pop(name, None)
        else:
            self._migrator_urls[name] = migrator
        for engine in self._drop_engines(name):
            asyncio.get_running_loop().create_task(engine.dispose())

    def _drop_engines(self, name: str) -> list[AsyncEngine]:
        self._scoped = {k: v for k, v in self._scoped.items() if k[0] != name}
        pools = (self._engines, self._tenant_engines, self._migrator_engines)
        return [e for e in (pool.pop(name, None) for pool in pools) if e is not None]

    async def forget(self, name: str) -> None:
        """Stop using ``name`` (its pooled connections are closed)."""
        self._urls.pop(name, None)
        self._migrator_urls.pop(name, None)
        for engine in self._drop_engines(name):
            await engine.dispose()

    def names(self) -> list[str]:
        return sorted(self._urls)

    def url(self, name: str) -> str:
        try:
            return self._urls[name]
        except KeyError:
            raise NotFound(
                f"No store named '{name}'.", reason="UNKNOWN_STORE", field="store"
            ) from None

    def migrator_url(self, name: str) -> str | None:
        self.url(name)
        return self._migrator_urls.get(name)

    def migrator_engine(self, name: str) -> AsyncEngine:
        """The store as its migrator login: creating, migrating and dropping schemas and
        roles. Only a process given the migrator's URL has one."""
        url = self.migrator_url(name)
        if url is None:
            raise AccordError(
                f"Store '{name}' has no migrator login in this process; provisioning and "
                "migrations run where ACCORD_MIGRATOR_DATABASE_URL (or the store's "
                "migrator_url) is set, e.g. `accord migrate`.",
                reason="MIGRATOR_UNAVAILABLE",
                code=ErrorCode.INTERNAL,
            )
        engine = self._migrator_engines.get(name)
        if engine is None:
            engine = create_async_engine(
                url, pool_pre_ping=True, hide_parameters=True, pool_size=2, max_overflow=2
            )
            self._migrator_engines[name] = engine
        return engine

    @asynccontextmanager
    async def migrator_session(self, store: str) -> AsyncIterator[AsyncSession]:
        """A transaction on ``store`` as the migrator login; commits on success."""
        session = AsyncSession(self.migrator_engine(store), expire_on_commit=False)
        async with session, session.begin():
            yield session

    def engine(self, name: str) -> AsyncEngine:
        """The store as the API's login: the control plane (never tenant schemas)."""
        engine = self._engines.get(name)
        if engine is None:
            engine = create_async_engine(
                self.url(name),
                pool_pre_ping=True,
                hide_parameters=True,
                pool_size=self._pool_size,
                max_overflow=self._max_overflow,
                pool_reset_on_return="rollback",
            )
            self._engines[name] = engine
            telemetry.watch_engine(engine.sync_engine, store=name, pool="control")
        return engine

    def _base_tenant_engine(self, store: str) -> AsyncEngine:
        base = self._tenant_engines.get(store)
        if base is None:
            base = create_async_engine(
                self.url(store),
                isolation_level="AUTOCOMMIT",
                hide_parameters=True,
                pool_size=self._pool_size,
                max_overflow=self._max_overflow,
                # Every tenant transaction ends in an explicit COMMIT or ROLLBACK; the
                # check-in guard below drops any connection that is not idle anyway.
                pool_reset_on_return=None,
            )
            event.listen(base.sync_engine, "checkin", _drop_unless_idle)
            telemetry.watch_engine(base.sync_engine, store=store, pool="tenant")
            self._tenant_engines[store] = base
        return base

    def _tenant_engine(self, tenant: TenantScope) -> AsyncEngine:
        key = (tenant.store, tenant.slug)
        scoped = self._scoped.get(key)
        if scoped is None:
            scoped = self._base_tenant_engine(tenant.store).execution_options(
                schema_translate_map={TENANT_SCHEMA_PLACEHOLDER: tenant.schema}
            )
            self._scoped[key] = scoped
        return scoped

    async def _restart_tenant_pool(self, store: str) -> None:
        base = self._tenant_engines.pop(store, None)
        self._scoped = {k: v for k, v in self._scoped.items() if k[0] != store}
        if base is not None:
            await base.dispose()

    async def ping(self, name: str, *, within: float = 3.0) -> None:
        """Raise ``StoreUnavailable`` unless the store answers within ``within`` seconds."""
        engine = self.engine(name)  # an unknown store is NotFound, not "unreachable"
        try:
            async with asyncio.timeout(within):
                async with engine.connect() as conn:
                    await conn.execute(text("select 1"))
        except Exception as exc:
            raise StoreUnavailable(
                f"Store '{name}' ({mask_url(self._urls[name])}) is unreachable: "
                f"{type(exc).__name__}.",
                reason="STORE_UNREACHABLE",
                field="store",
            ) from exc

    async def _open_tenant_transaction(self, tenant: TenantScope) -> AsyncConnection:
        return await self._open_as(
            tenant.store, lambda: self._tenant_engine(tenant), _begin_as(tenant.role)
        )

    async def _open_as(
        self, store: str, engine_of: Callable[[], AsyncEngine], begin: bytes
    ) -> AsyncConnection:
        for attempt in (1, 2):
            engine = engine_of()
            try:
                sync = await greenlet_spawn(_checkout_and_begin, engine.sync_engine, begin)
            except psycopg.OperationalError:
                if attempt == 2:
                    raise
                await self._restart_tenant_pool(store)
                continue
            return AsyncConnection(engine, sync)
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def federation_connection(self, store: str) -> AsyncIterator[AsyncConnection]:
        """One transaction on ``store`` as the federation role; commits on success.

        The role reads the shareable record tables (and tallies) of the store's tenant
        schemas and appends to their access logs, nothing more: a federated read names
        each tenant's table explicitly, one ``UNION ALL`` branch per owner the planner
        admitted. Tenant sessions remain the only way to write records.
        """
        conn = await self._open_as(
            store,
            lambda: self._base_tenant_engine(store),
            _begin_as(FEDERATION_ROLE, generic_plans=True),
        )
        try:
            yield conn
        except BaseException:
            await conn.close()
            raise
        sync = conn.sync_connection
        assert sync is not None
        await greenlet_spawn(_commit_and_release, sync)

    @asynccontextmanager
    async def tenant_session(self, tenant: TenantScope) -> AsyncIterator[AsyncSession]:
        """One transaction in ``tenant``'s store, schema and role; commits on success."""
        conn = await self._open_tenant_transaction(tenant)
        try:
            session = AsyncSession(bind=conn, expire_on_commit=False)
            try:
                yield session
                if session.new or session.dirty or session.deleted:
                    await session.flush()
            finally:
                # Bound to our connection, closing the session only releases its state
                # (no I/O), so it is done without a trip through the greenlet bridge.
                session.sync_session.close()
        except BaseException:
            await conn.close()  # rolls the transaction back
            raise
        sync = conn.sync_connection
        assert sync is not None
        # Commit and return the connection to the pool in one trip through the bridge.
        await greenlet_spawn(_commit_and_release, sync)

    @asynccontextmanager
    async def control_session(self, store: str) -> AsyncIterator[AsyncSession]:
        """A transaction on ``store`` as Accord itself (control plane); commits on success."""
        session = AsyncSession(self.engine(store), expire_on_commit=False)
        async with session, session.begin():
            yield session

    async def dispose(self) -> None:
        engines = [
            *self._engines.values(),
            *self._tenant_engines.values(),
            *self._migrator_engines.values(),
        ]
        self._engines.clear()
        self._tenant_engines.clear()
        self._migrator_engines.clear()
        self._scoped.clear()
        await asyncio.gather(*(e.dispose() for e in engines))


async def ensure_database(url: str) -> None:
    """Create the database named in ``url`` on its server if it does not exist yet."""
    parsed = make_url(async_url(url))
    admin = create_async_engine(
        parsed.set(database="postgres"), isolation_level="AUTOCOMMIT", hide_parameters=True
    )
    try:
        async with admin.connect() as conn:
            exists = await conn.scalar(
                text("select exists (select 1 from pg_database where datname = :d)"),
                {"d": parsed.database},
            )
            if not exists:
                await conn.exec_driver_sql(
                    f"CREATE DATABASE {quote_ident(conn, parsed.database or '')}"
                )
    finally:
        await admin.dispose()
