"""A tenant schema ends up the same whether it is created fresh or upgraded step by step."""

from __future__ import annotations

from sqlalchemy import text

from accord.platform.db import quote_ident
from accord.platform.migrations.runner import (
    TENANT_LOCATION,
    _config,
    _tenant_script,
    upgrade_tenant,
)
from accord.platform.runtime import Runtime
from tests.conftest import TenantFactory, unique_slug
from tests.factories.admin import admin_connection

SHAPE = text(
    "select c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull "
    "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
    "left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped "
    "where n.nspname = :s order by 1, 3"
)
CONSTRAINTS = text(
    "select conname, pg_get_constraintdef(k.oid) from pg_constraint k "
    "join pg_namespace n on n.oid = k.connamespace where n.nspname = :s order by 1"
)


async def _shape(runtime: Runtime, schema: str) -> tuple[list[tuple[object, ...]], ...]:
    async with runtime.stores.engine("home").connect() as conn:
        columns = [tuple(r) for r in (await conn.execute(SHAPE, {"s": schema})).all()]
        constraints = [
            (name, definition.replace(f"{schema}.", "<schema>."))
            for name, definition in (await conn.execute(CONSTRAINTS, {"s": schema})).all()
        ]
    return columns, constraints


async def test_step_by_step_upgrade_equals_the_fresh_script(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    fresh = await make_tenant(label="fresh")
    slug = unique_slug("steps")
    schema, role = f"t_{slug}", f"accord_t_{slug}"
    from alembic import command

    async with runtime.stores.migrator_engine("home").begin() as conn:
        await conn.exec_driver_sql(f"CREATE ROLE {quote_ident(conn, role)} NOLOGIN")
        # As provisioning did before the owner role: the schema the tenant role's.
        await conn.exec_driver_sql(f"GRANT {quote_ident(conn, role)} TO CURRENT_USER")
        await conn.exec_driver_sql(
            f"CREATE SCHEMA {quote_ident(conn, schema)} AUTHORIZATION {quote_ident(conn, role)}"
        )
        # The first revision only, through Alembic's own env.py: an "old" tenant schema.
        await conn.run_sync(
            lambda sync: command.upgrade(
                _config(TENANT_LOCATION, connection=sync, tenant_schema=schema), "t0001"
            )
        )
    async with runtime.stores.migrator_engine("home").begin() as conn:
        assert await upgrade_tenant(conn, schema=schema, role=role) is True
    async with runtime.stores.migrator_engine("home").begin() as conn:
        assert await upgrade_tenant(conn, schema=schema, role=role) is False

    stepped, created = await _shape(runtime, schema), await _shape(runtime, fresh.scope.schema)
    assert set(stepped[0]) ^ set(created[0]) == set()
    assert set(stepped[1]) ^ set(created[1]) == set()
    async with runtime.stores.migrator_engine("home").connect() as conn:
        versions = set(
            await conn.scalars(text(f'select version_num from "{schema}".alembic_version'))
        )
    assert versions == set(_tenant_script().get_heads())


async def test_tenant_roles_may_stage_in_temporary_tables_when_public_may_not(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    """Connector syncs stage pages in temporary tables; a database hardened by revoking
    TEMPORARY from PUBLIC still lets tenant roles have them."""
    engine = runtime.stores.engine("home")
    async with admin_connection("home") as conn:
        database = quote_ident(conn, await conn.scalar(text("select current_database()")))
        await conn.exec_driver_sql(f"REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC")
    try:
        tenant = await make_tenant(label="tmp")
        async with engine.connect() as conn:
            allowed = await conn.scalar(
                text("select has_database_privilege(:r, current_database(), 'TEMPORARY')"),
                {"r": f"accord_t_{tenant.slug}"},
            )
            public = await conn.scalar(
                text(
                    "select exists (select 1 from pg_database d, aclexplode(d.datacl) a "
                    "where d.datname = current_database() and a.grantee = 0 "
                    "and a.privilege_type = 'TEMPORARY')"
                )
            )
    finally:
        async with admin_connection("home") as conn:
            await conn.exec_driver_sql(f"GRANT TEMPORARY ON DATABASE {database} TO PUBLIC")
    assert public is False  # the revocation held: the role has it through its group
    assert allowed is True
