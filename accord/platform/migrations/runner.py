"""Apply the control and tenant Alembic environments on open async connections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

from accord.platform.db import CONTROL_SCHEMA, quote_ident

_HERE = Path(__file__).resolve().parent
CONTROL_LOCATION = _HERE / "control"
TENANT_LOCATION = _HERE / "tenant"
APPEND_ONLY_TRIGGER = "append_only_guard"


def _config(location: Path, **attributes: Any) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(location))
    cfg.attributes.update(attributes)
    return cfg


def head_revision(location: Path) -> str | None:
    return ScriptDirectory.from_config(_config(location)).get_current_head()


async def current_revision(conn: AsyncConnection, version_schema: str) -> str | None:
    def _current(sync: Connection) -> str | None:
        ctx = MigrationContext.configure(sync, opts={"version_table_schema": version_schema})
        return ctx.get_current_revision()

    return await conn.run_sync(_current)


async def upgrade_control(conn: AsyncConnection) -> None:
    await conn.run_sync(
        lambda sync: command.upgrade(_config(CONTROL_LOCATION, connection=sync), "head")
    )


async def control_is_current(conn: AsyncConnection) -> bool:
    exists = await conn.scalar(
        text("select exists (select 1 from pg_namespace where nspname = :s)"),
        {"s": CONTROL_SCHEMA},
    )
    if not exists:
        return False
    return await current_revision(conn, CONTROL_SCHEMA) == head_revision(CONTROL_LOCATION)


async def upgrade_tenant(conn: AsyncConnection, *, schema: str, role: str) -> None:
    """Bring one tenant schema to head and re-apply the tenant role's grants."""
    await conn.run_sync(
        lambda sync: command.upgrade(
            _config(TENANT_LOCATION, connection=sync, tenant_schema=schema), "head"
        )
    )
    await apply_tenant_grants(conn, schema=schema, role=role)


async def apply_tenant_grants(conn: AsyncConnection, *, schema: str, role: str) -> None:
    """Read/write on the tenant's tables, insert-only on append-only ones, read on catalog."""
    s, r = quote_ident(conn, schema), quote_ident(conn, role)
    await conn.exec_driver_sql(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}"
    )
    await conn.exec_driver_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}")
    append_only = await conn.scalars(
        text(
            "select distinct c.relname from pg_trigger t "
            "join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = :schema and t.tgname = :trigger"
        ),
        {"schema": schema, "trigger": APPEND_ONLY_TRIGGER},
    )
    for table in append_only:
        await conn.exec_driver_sql(
            f"REVOKE UPDATE, DELETE, TRUNCATE ON {s}.{quote_ident(conn, table)} FROM {r}"
        )
    catalog = await conn.scalar(
        text("select exists (select 1 from pg_namespace where nspname = 'catalog')")
    )
    if catalog:
        await conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA catalog TO {r}")
        await conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA catalog TO {r}")
