"""What provisioning left in the stores: schemas, roles, the control row."""

from __future__ import annotations

from sqlalchemy import text

from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service
from accord.tenants.models import Tenant


async def schema_exists(runtime: Runtime, store: str, schema: str) -> bool:
    async with runtime.stores.engine(store).connect() as conn:
        found = await conn.scalar(
            text("select exists (select 1 from pg_namespace where nspname = :s)"), {"s": schema}
        )
        return bool(found)


async def role_exists(runtime: Runtime, store: str, role: str) -> bool:
    async with runtime.stores.engine(store).connect() as conn:
        found = await conn.scalar(
            text("select exists (select 1 from pg_roles where rolname = :r)"), {"r": role}
        )
        return bool(found)


async def control_row(runtime: Runtime, slug: str) -> Tenant | None:
    async with runtime.control_session() as session:
        return await tenant_service.find(session=session, slug=slug)
