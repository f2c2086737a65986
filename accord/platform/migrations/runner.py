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
CATALOG_LOCATION = _HERE / "catalog"
CATALOG_SCHEMA = "catalog"
APPEND_ONLY_TRIGGER = "append_only_guard"


def _config(location: Path, **attributes: Any) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(location))
    cfg.attributes.update(attributes)
    return cfg


def head_revision(location: Path) -> str | None:
    """The head(s) of an environment, comma-joined when branches have several."""
    heads = ScriptDirectory.from_config(_config(location)).get_heads()
    return ",".join(sorted(heads)) or None


async def current_revision(conn: AsyncConnection, version_schema: str) -> str | None:
    def _current(sync: Connection) -> str | None:
        ctx = MigrationContext.configure(sync, opts={"version_table_schema": version_schema})
        return ",".join(sorted(ctx.get_current_heads())) or None

    return await conn.run_sync(_current)


async def upgrade_control(conn: AsyncConnection) -> None:
    await conn.run_sync(
        lambda sync: command.upgrade(_config(CONTROL_LOCATION, connection=sync), "heads")
    )


TENANT_GROUP = "accord_tenant"


async def ensure_tenant_group(conn: AsyncConnection) -> None:
    """The NOLOGIN group every tenant role belongs to: read access to the catalog."""
    exists = await conn.scalar(
        text("select exists (select 1 from pg_roles where rolname = :r)"), {"r": TENANT_GROUP}
    )
    if not exists:
        # Roles are cluster-wide; another store on the same server may create it first.
        await conn.exec_driver_sql(
            "DO $$ BEGIN CREATE ROLE accord_tenant NOLOGIN; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )


async def upgrade_catalog(conn: AsyncConnection) -> None:
    """Bring the store's ``catalog`` schema (reference data) to head, read-only to tenants."""
    await conn.run_sync(
        lambda sync: command.upgrade(_config(CATALOG_LOCATION, connection=sync), "heads")
    )
    await ensure_tenant_group(conn)
    await conn.exec_driver_sql("GRANT USAGE ON SCHEMA catalog TO accord_tenant")
    await conn.exec_driver_sql("GRANT SELECT ON ALL TABLES IN SCHEMA catalog TO accord_tenant")


async def catalog_is_current(conn: AsyncConnection) -> bool:
    exists = await conn.scalar(
        text("select exists (select 1 from pg_namespace where nspname = :s)"),
        {"s": CATALOG_SCHEMA},
    )
    if not exists:
        return False
    return await current_revision(conn, CATALOG_SCHEMA) == head_revision(CATALOG_LOCATION)


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
            _config(TENANT_LOCATION, connection=sync, tenant_schema=schema), "heads"
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
    await ensure_tenant_group(conn)
    await conn.exec_driver_sql(f"GRANT {TENANT_GROUP} TO {r}")
