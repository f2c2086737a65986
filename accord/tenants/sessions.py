"""Tenant sessions by slug: the control plane decides whether the tenant may be touched."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service


@asynccontextmanager
async def tenant_session(runtime: Runtime, slug: str) -> AsyncIterator[AsyncSession]:
    """One transaction in ``slug``'s store, schema and role; refused unless it is active."""
    async with runtime.control_session() as control:
        tenant = await tenant_service.get_accessible(session=control, slug=slug)
        scope = tenant.scope
    async with runtime.stores.tenant_session(scope) as session:
        yield session
