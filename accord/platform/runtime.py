"""The running kernel: settings, stores and their engines, the control plane at head."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from accord.platform.db import StoreRegistry
from accord.platform.embedded import open_embedded
from accord.platform.errors import AccordError, ErrorCode
from accord.platform.migrations.runner import (
    catalog_is_current,
    control_is_current,
    upgrade_catalog,
    upgrade_control,
)
from accord.platform.settings import Settings
from accord.platform.stores import EMBEDDED_PREFIX, list_stores, upsert_store


@dataclass
class Runtime:
    """``privileged``: the process provisions and migrates, so it holds the migrator's
    logins as well as the API's; the API's own runtime is never privileged."""

    settings: Settings
    stores: StoreRegistry
    home: str
    regions: dict[str, str] = field(default_factory=dict)
    privileged: bool = True

    def control_session(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A transaction on the control plane (home store)."""
        return self.stores.control_session(self.home)

    def _configured_migrator_url(self, name: str) -> str | None:
        configured = (
            self.settings.migrator_database_url
            if name == self.settings.home_store
            else next((s.migrator_url for s in self.settings.stores if s.name == name), None)
        )
        return configured.get_secret_value() if configured is not None else None

    async def connect_store(self, name: str, url: str) -> None:
        """Register store ``name`` at ``url`` (``embedded:<cluster>`` or the API's login),
        with its migrator login when privileged."""
        migrator_url: str | None
        if url.startswith(EMBEDDED_PREFIX):
            logins = await open_embedded(self.settings.data_dir, url.removeprefix(EMBEDDED_PREFIX))
            app_url, migrator_url = logins.app_url, logins.migrator_url
        else:
            app_url, migrator_url = url, self._configured_migrator_url(name)
        self.stores.register(name, app_url, migrator_url=migrator_url if self.privileged else None)

    async def upgrade_catalogs(self) -> None:
        """Bring the ``catalog`` schema of every reachable store to head."""
        for name in self.stores.names():
            async with self.stores.engine(name).connect() as conn:
                current = await catalog_is_current(conn)
            if not current:
                async with self.stores.migrator_engine(name).begin() as conn:
                    if not await catalog_is_current(conn):
                        await upgrade_catalog(conn)

    async def add_store(self, *, name: str, region: str, url: str) -> None:
        await self.connect_store(name, url)
        await self.stores.ping(name)
        async with self.stores.migrator_engine(name).begin() as conn:
            await upgrade_catalog(conn)
        async with self.stores.control_session(self.home) as session:
            await upsert_store(session, name=name, region=region, url=url)
        self.regions[name] = region


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, migrate: bool | None = None, privileged: bool = True
) -> AsyncIterator[Runtime]:
    """Start (or attach to) the stores; bring the control plane to head unless in prod.

    ``migrate=None`` migrates in ``dev`` and only checks in ``prod``, where the Helm
    migrations Job owns schema changes. An unprivileged runtime (the API's) holds only the
    API's logins, so it never migrates: it checks.
    """
    registry = StoreRegistry(pool_size=settings.pool_size, max_overflow=settings.pool_max_overflow)
    home_url = (
        settings.database_url.get_secret_value()
        if settings.database_url is not None
        else f"{EMBEDDED_PREFIX}postgres"
    )
    runtime = Runtime(
        settings=settings, stores=registry, home=settings.home_store, privileged=privileged
    )
    may_migrate = privileged and (migrate is True or (migrate is None and settings.env != "prod"))
    try:
        await runtime.connect_store(settings.home_store, home_url)
        await registry.ping(settings.home_store)
        async with registry.engine(settings.home_store).connect() as conn:
            current = await control_is_current(conn)
        if not current:
            if not may_migrate:
                raise AccordError(
                    "The control plane is not at the current schema version; "
                    "run `accord migrate` first.",
                    reason="MIGRATIONS_PENDING",
                    code=ErrorCode.INTERNAL,
                )
            async with registry.migrator_engine(settings.home_store).begin() as conn:
                if not await control_is_current(conn):
                    await upgrade_control(conn)
        async with registry.control_session(settings.home_store) as session:
            await upsert_store(
                session,
                name=settings.home_store,
                region=settings.home_region,
                url=home_url,
                is_home=True,
            )
            for extra in settings.stores:
                await upsert_store(
                    session, name=extra.name, region=extra.region, url=extra.url.get_secret_value()
                )
            known = await list_stores(session)
        for store in known:
            runtime.regions[store.name] = store.region
            if store.name != settings.home_store:
                await runtime.connect_store(store.name, store.url)
        if may_migrate:
            await runtime.upgrade_catalogs()
        yield runtime
    finally:
        await registry.dispose()
