"""Tenant sessions by slug: the control plane decides whether the tenant may be touched."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from accord.platform.errors import StoreUnavailable
from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service

#: Seconds a caller is asked to wait before retrying a request that met a tenant's move.
MOVE_RETRY_AFTER = 2


@asynccontextmanager
async def tenant_session(runtime: Runtime, slug: str) -> AsyncIterator[AsyncSession]:
    """One transaction in ``slug``'s store, schema and role; refused unless it is active.

    A transaction that waited while the tenant moved to another store fails on the old
    copy, which is gone or read-only by then: that is ``TENANT_UNAVAILABLE`` with a retry
    hint (nothing was written; the retry reaches the new store), not an internal error.
    """
    async with runtime.control_session() as control:
        tenant = await tenant_service.get_accessible(session=control, slug=slug)
        scope = tenant.scope
    try:
        async with runtime.stores.tenant_session(scope) as session:
            yield session
    except DBAPIError as exc:
        async with runtime.control_session() as control:
            now = await tenant_service.find(session=control, slug=slug)
        if now is None or now.store == scope.store:
            raise
        raise StoreUnavailable(
            f"Tenant '{slug}' moved from store '{scope.store}' to '{now.store}' while this "
            f"request waited; nothing was written. Retry in {MOVE_RETRY_AFTER} seconds.",
            reason="TENANT_MOVED",
        ) from exc
