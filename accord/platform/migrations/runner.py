"""Apply the control and tenant Alembic environments on open async connections."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from accord.platform.db import API_GROUP, CONTROL_SCHEMA, FEDERATION_ROLE, quote_ident
from accord.platform.errors import AccordError, ErrorCode
from accord.platform.migrations.ownership import (
    SHARED_OBJECTS_LOCK,
    become_schema_owner,
    claim_tenant_schema,
    restore_role,
)

_HERE = Path(__file__).resolve().parent
CONTROL_LOCATION = _HERE / "control"
TENANT_LOCATION = _HERE / "tenant"
CATALOG_LOCATION = _HERE / "catalog"
CATALOG_SCHEMA = "catalog"
APPEND_ONLY_TRIGGER = "append_only_guard"
VERSION_TABLE = "alembic_version"


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
    """Bring the control plane to head as the owner role, then grant the API its DML."""
    await lock_shared_objects(conn)
    previous_role = await become_schema_owner(conn)
    await conn.run_sync(
        lambda sync: command.upgrade(_config(CONTROL_LOCATION, connection=sync), "heads")
    )
    await restore_role(conn, previous_role)
    await apply_api_grants(conn)


async def _schema_exists(conn: AsyncConnection, schema: str) -> bool:
    return bool(
        await conn.scalar(
            text("select exists (select 1 from pg_namespace where nspname = :s)"), {"s": schema}
        )
    )


async def apply_api_grants(conn: AsyncConnection) -> None:
    """What the API's logins may do outside tenant schemas: read and write the control
    plane's tables, read the catalog and the version tables, nothing that changes them."""
    group = quote_ident(conn, API_GROUP)
    if await _schema_exists(conn, CONTROL_SCHEMA):
        await conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {CONTROL_SCHEMA} TO {group}")
        await conn.exec_driver_sql(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {CONTROL_SCHEMA} "
            f"TO {group}"
        )
        await conn.exec_driver_sql(
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {CONTROL_SCHEMA} TO {group}"
        )
        await conn.exec_driver_sql(
            f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {CONTROL_SCHEMA}.{VERSION_TABLE} "
            f"FROM {group}"
        )
    if await _schema_exists(conn, CATALOG_SCHEMA):
        await conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {CATALOG_SCHEMA} TO {group}")
        await conn.exec_driver_sql(
            f"GRANT SELECT ON ALL TABLES IN SCHEMA {CATALOG_SCHEMA} TO {group}"
        )


async def let_api_enter(conn: AsyncConnection, role: str) -> None:
    """Let the API's logins switch to ``role`` (a tenant's), without inheriting from it."""
    member = await conn.scalar(
        text(
            "select exists (select 1 from pg_auth_members m "
            "join pg_roles r on r.oid = m.roleid join pg_roles g on g.oid = m.member "
            "where r.rolname = :role and g.rolname = :group)"
        ),
        {"role": role, "group": API_GROUP},
    )
    if not member:
        await conn.exec_driver_sql(
            f"GRANT {quote_ident(conn, role)} TO {quote_ident(conn, API_GROUP)}"
        )


async def lock_shared_objects(conn: AsyncConnection) -> None:
    """Wait for, then hold until commit, the store's lock on its shared objects."""
    await conn.execute(select(func.pg_advisory_xact_lock(SHARED_OBJECTS_LOCK)))


TENANT_GROUP = "accord_tenant"
#: Tenant tables the federation role may read (the shareable records and their tallies).
FEDERATED_TABLES = frozenset(
    {
        "audits",
        "findings",
        "evidence",
        "capas",
        "management_reviews",
        "kpis",
        "risks",
        "incident_reports",
        "finding_tallies",
        "finding_counts",
        "capa_action_tallies",
    }
)


#: SQLSTATE of "permission denied".
INSUFFICIENT_PRIVILEGE = "42501"


async def ensure_tenant_group(conn: AsyncConnection) -> None:
    """The NOLOGIN group every tenant role belongs to: read access to the catalog."""
    exists = await conn.scalar(
        text("select exists (select 1 from pg_roles where rolname = :r)"), {"r": TENANT_GROUP}
    )
    if not exists:
        # Roles are cluster-wide; another store on the same server may create it first.
        await conn.exec_driver_sql(
            "DO $$ BEGIN CREATE ROLE accord_tenant NOLOGIN; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )


async def ensure_federation_role(conn: AsyncConnection) -> None:
    """The federation role (created, and granted to the API's group, by ``accord db
    bootstrap``; a store bootstrapped before it had one gets it here)."""
    exists = await conn.scalar(
        text("select exists (select 1 from pg_roles where rolname = :r)"), {"r": FEDERATION_ROLE}
    )
    if not exists:
        await conn.exec_driver_sql(
            "DO $$ BEGIN CREATE ROLE accord_federation NOLOGIN; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
        await let_api_enter(conn, FEDERATION_ROLE)


async def upgrade_catalog(conn: AsyncConnection) -> None:
    """Bring the store's ``catalog`` schema (reference data) to head, read-only to tenants."""
    await lock_shared_objects(conn)
    previous_role = await become_schema_owner(conn)
    await conn.run_sync(
        lambda sync: command.upgrade(_config(CATALOG_LOCATION, connection=sync), "heads")
    )
    await restore_role(conn, previous_role)
    await apply_api_grants(conn)
    await ensure_tenant_group(conn)
    await conn.exec_driver_sql("GRANT USAGE ON SCHEMA catalog TO accord_tenant")
    await conn.exec_driver_sql("GRANT SELECT ON ALL TABLES IN SCHEMA catalog TO accord_tenant")
    await ensure_group_temporary_tables(conn)


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


@lru_cache(maxsize=1)
def _tenant_script() -> ScriptDirectory:
    # Read the tenant revisions once per process, not once per tenant schema.
    return ScriptDirectory.from_config(_config(TENANT_LOCATION))


@lru_cache(maxsize=1)
def _fresh_schema_sql() -> str:
    """The whole tenant plane as one SQL script, base → heads, rendered once per process.

    Tenant scripts create unqualified objects, so the same text serves every schema under
    a transaction-local search_path; sending it as one message saves a round trip per
    statement when many schemas are created (provisioning, restores, new deployments).
    """
    script = _tenant_script()
    buffer = io.StringIO()
    config = _config(TENANT_LOCATION)
    config.output_buffer = buffer

    def upgrade(rev: Any, context: Any) -> Any:
        return script._upgrade_revs("heads", rev)

    env = EnvironmentContext(config, script, fn=upgrade, as_sql=True, destination_rev="heads")
    with env:
        env.configure(
            url="postgresql://",
            dialect_name="postgresql",
            # "named" so that a literal % (e.g. in a RAISE format) is not doubled: the
            # script is sent without parameters.
            dialect_opts={"paramstyle": "named"},
            output_buffer=buffer,
            transactional_ddl=False,
        )
        with env.begin_transaction():
            env.run_migrations()
    return buffer.getvalue()


def _current_heads(sync: Connection, schema: str) -> tuple[str, ...]:
    ctx = MigrationContext.configure(sync, opts={"version_table_schema": schema})
    return tuple(sorted(ctx.get_current_heads()))


def _upgrade_tenant_sync(sync: Connection, schema: str) -> None:
    """Apply the pending tenant revisions to ``schema`` (the same steps as ``env.py``)."""
    script = _tenant_script()

    def upgrade(rev: Any, context: Any) -> Any:
        return script._upgrade_revs("heads", rev)

    env = EnvironmentContext(_config(TENANT_LOCATION), script, fn=upgrade, destination_rev="heads")
    with env:
        env.configure(connection=sync, version_table_schema=schema)
        with env.begin_transaction():
            env.run_migrations()


async def upgrade_tenant(conn: AsyncConnection, *, schema: str, role: str) -> bool:
    """Give one tenant schema to the owner role, bring it to head, re-apply the grants.

    Returns whether anything was applied (grants are re-applied only then). Not safe to
    run concurrently in one process: Alembic's ``op`` and ``context`` are process-wide.
    """
    exists = await conn.scalar(
        text("select exists (select 1 from pg_namespace where nspname = :s)"), {"s": schema}
    )
    if not exists:
        raise AccordError(
            f"Schema {schema} is missing from its store; restore the tenant from its export "
            "or offboard it.",
            reason="TENANT_SCHEMA_MISSING",
            code=ErrorCode.NOT_FOUND,
        )
    # Before anything in the schema is read: what its tenant could replace, it must not own.
    claimed = await claim_tenant_schema(conn, schema=schema, role=role)
    await let_api_enter(conn, role)
    await conn.execute(select(func.set_config("search_path", schema, True)))
    current = await conn.run_sync(lambda sync: _current_heads(sync, schema))
    if set(current) == set(_tenant_script().get_heads()):
        if claimed:
            await apply_tenant_grants(conn, schema=schema, role=role)
        return claimed
    # Objects are created as the schema's owner role, so they belong to it from the start.
    previous_role = await become_schema_owner(conn)
    if not current:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.execute(_fresh_schema_sql().encode())  # type: ignore[union-attr]
    else:
        await conn.run_sync(lambda sync: _upgrade_tenant_sync(sync, schema))
    await restore_role(conn, previous_role)
    await apply_tenant_grants(conn, schema=schema, role=role)
    return True


async def apply_tenant_grants(conn: AsyncConnection, *, schema: str, role: str) -> None:
    """Read/write on the tenant's tables, insert-only on append-only ones, read on catalog.

    The role may use its schema but not create in it, and has no access to the version
    table: only migrations, as the schema's owner, change what the schema holds.
    """
    s, r = quote_ident(conn, schema), quote_ident(conn, role)
    await conn.exec_driver_sql(f"REVOKE CREATE ON SCHEMA {s} FROM {r}")
    await conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {s} TO {r}")
    await conn.exec_driver_sql(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}"
    )
    await conn.exec_driver_sql(f"REVOKE ALL ON {s}.{VERSION_TABLE} FROM {r}")
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
    await ensure_group_temporary_tables(conn)
    await apply_federation_grants(conn, schema=schema)


async def _group_may_create_temporary_tables(conn: AsyncConnection) -> bool:
    granted = await conn.scalar(
        text(
            "select exists (select 1 from pg_database d, aclexplode(d.datacl) a "
            "where d.datname = current_database() and a.privilege_type = 'TEMPORARY' "
            "and a.grantee = (select oid from pg_roles where rolname = :group))"
        ),
        {"group": TENANT_GROUP},
    )
    return bool(granted)


async def ensure_group_temporary_tables(conn: AsyncConnection) -> None:
    """Let the tenant group create temporary tables in this database, granted once.

    Connector syncs stage each page in a temporary table. PUBLIC may create them by
    default, but a hardened database may have revoked that. The grant is the group's, not
    each tenant role's: a grant rewrites the database's row, which concurrent provisionings
    and offboardings (``DROP OWNED BY`` revokes it) would otherwise fight over. A login that
    may not grant it leaves the database's own setting.
    """
    if await _group_may_create_temporary_tables(conn):
        return
    may_grant = await conn.scalar(
        text(
            "select has_database_privilege(current_user, current_database(), "
            "'TEMPORARY WITH GRANT OPTION')"
        )
    )
    if not may_grant:
        return
    await lock_shared_objects(conn)
    if await _group_may_create_temporary_tables(conn):
        return
    database = quote_ident(conn, await conn.scalar(text("select current_database()")))
    try:
        async with conn.begin_nested():
            await conn.exec_driver_sql(f"GRANT TEMPORARY ON DATABASE {database} TO {TENANT_GROUP}")
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
            raise


async def apply_federation_grants(conn: AsyncConnection, *, schema: str) -> None:
    """Let federated reads see the schema's shareable tables and log to its access log."""
    await ensure_federation_role(conn)
    s, f = quote_ident(conn, schema), quote_ident(conn, FEDERATION_ROLE)
    present = set(
        await conn.scalars(
            text("select tablename from pg_tables where schemaname = :s"), {"s": schema}
        )
    )
    await conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {s} TO {f}")
    for table in sorted(present & FEDERATED_TABLES):
        await conn.exec_driver_sql(f"GRANT SELECT ON {s}.{quote_ident(conn, table)} TO {f}")
    if "access_log" in present:
        await conn.exec_driver_sql(f"GRANT INSERT ON {s}.access_log TO {f}")
