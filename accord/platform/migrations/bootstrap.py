"""Bootstrap a store: the logins and roles Accord runs as, set up once with an admin login.

Two logins reach a store (``docs/database-security.md`` says who needs what):

- the **API's login** (``ACCORD_DATABASE_URL``): not a superuser, cannot create roles or
  databases, a member of the NOINHERIT group ``accord_api``, which may read and write the
  control plane and switch to tenant roles and the federation role;
- the **migrator login** (``ACCORD_MIGRATOR_DATABASE_URL``): not a superuser either, may
  create roles (tenant roles), a member of ``accord_schema_owner``, which owns every schema
  Accord creates. The API process never holds it.

Bootstrapping is idempotent: it creates what is missing, sets the logins' attributes and
(SCRAM) passwords again, and takes over the schemas an earlier login (a superuser) created,
refusing a tenant schema whose tenant planted objects in it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from accord.platform.db import API_GROUP, CONTROL_SCHEMA, FEDERATION_ROLE, quote_ident
from accord.platform.errors import BadInput
from accord.platform.migrations.ownership import (
    SCHEMA_OWNER,
    TenantSchemaTampered,
    claim_schema,
    claim_tenant_schema,
)
from accord.platform.migrations.runner import (
    CATALOG_SCHEMA,
    TENANT_GROUP,
    apply_api_grants,
    let_api_enter,
    lock_shared_objects,
)
from accord.platform.settings import async_url

#: Role attributes of each login, set on every bootstrap.
APP_LOGIN_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"
MIGRATOR_LOGIN_ATTRIBUTES = (
    "LOGIN NOSUPERUSER NOCREATEDB CREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"
)
#: The NOLOGIN roles every store has, with their attributes.
GROUP_ROLES = (
    (SCHEMA_OWNER, "NOLOGIN"),
    (TENANT_GROUP, "NOLOGIN"),
    (FEDERATION_ROLE, "NOLOGIN"),
    (API_GROUP, "NOLOGIN NOINHERIT"),
)
FEDERATION_SCHEMA = "federation"


@dataclass(frozen=True, slots=True)
class Login:
    name: str
    password: str


def login_of(url: str) -> Login:
    """The login (user and password) a ``postgresql://`` URL names."""
    parsed = make_url(async_url(url))
    if not parsed.username or not parsed.password:
        raise BadInput(
            "A login URL for bootstrapping must name its user and password "
            "(postgresql://user:password@host/database).",
            reason="LOGIN_WITHOUT_PASSWORD",
        )
    return Login(parsed.username, str(parsed.password))


def with_login(url: str, login: Login) -> str:
    """``url`` (an admin's) with ``login``'s user and password instead."""
    parsed = make_url(async_url(url)).set(username=login.name, password=login.password)
    return parsed.render_as_string(hide_password=False)


@dataclass(frozen=True, slots=True)
class BootstrapReport:
    database: str
    schemas_taken_over: tuple[str, ...]
    tampered: tuple[str, ...]


async def bootstrap_store(admin_url: str, *, app: Login, migrator: Login) -> BootstrapReport:
    """Set up ``app`` and ``migrator`` on the database ``admin_url`` names, as its admin."""
    engine = create_async_engine(async_url(admin_url), hide_parameters=True)
    try:
        async with engine.begin() as conn:
            return await bootstrap(conn, app=app, migrator=migrator)
    finally:
        await engine.dispose()


async def _ensure_role(conn: AsyncConnection, name: str) -> None:
    exists = await conn.scalar(
        text("select exists (select 1 from pg_roles where rolname = :r)"), {"r": name}
    )
    if not exists:
        # Roles are cluster-wide; another database on the server may create it first.
        await conn.exec_driver_sql(
            f"DO $$ BEGIN CREATE ROLE {quote_ident(conn, name)} NOLOGIN; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )


async def _set_login(conn: AsyncConnection, login: Login, attributes: str) -> None:
    await _ensure_role(conn, login.name)
    password = await conn.scalar(text("select quote_literal(:p)"), {"p": login.password})
    await conn.exec_driver_sql(
        f"ALTER ROLE {quote_ident(conn, login.name)} {attributes} PASSWORD {password}"
    )


async def _grant_role(conn: AsyncConnection, role: str, to: str, *, admin: bool = False) -> None:
    member = await conn.scalar(
        text(
            "select exists (select 1 from pg_auth_members m "
            "join pg_roles r on r.oid = m.roleid join pg_roles u on u.oid = m.member "
            "where r.rolname = :role and u.rolname = :to and (m.admin_option or not :admin))"
        ),
        {"role": role, "to": to, "admin": admin},
    )
    if not member:
        option = " WITH ADMIN OPTION" if admin else ""
        await conn.exec_driver_sql(
            f"GRANT {quote_ident(conn, role)} TO {quote_ident(conn, to)}{option}"
        )


async def bootstrap(conn: AsyncConnection, *, app: Login, migrator: Login) -> BootstrapReport:
    """``bootstrap_store`` on an open transaction of the admin login."""
    admin = await conn.scalar(text("select current_user"))
    for login in (app, migrator):
        superuser = await conn.scalar(
            text("select rolsuper from pg_roles where rolname = :r"), {"r": login.name}
        )
        if login.name == admin or superuser:
            raise BadInput(
                f"'{login.name}' is the admin login or a superuser; the API's and the "
                "migrator's logins must be logins of their own.",
                reason="LOGIN_IS_ADMIN",
            )
    if app.name == migrator.name:
        raise BadInput(
            "The API's login and the migrator's must differ.", reason="LOGINS_NOT_SEPARATE"
        )
    await conn.exec_driver_sql("SET LOCAL password_encryption = 'scram-sha-256'")
    for role, attributes in GROUP_ROLES:
        await _ensure_role(conn, role)
        await conn.exec_driver_sql(f"ALTER ROLE {quote_ident(conn, role)} {attributes}")
    await _set_login(conn, app, APP_LOGIN_ATTRIBUTES)
    await _set_login(conn, migrator, MIGRATOR_LOGIN_ATTRIBUTES)
    await _grant_role(conn, API_GROUP, app.name)
    await _grant_role(conn, FEDERATION_ROLE, API_GROUP)
    await _grant_role(conn, SCHEMA_OWNER, migrator.name)
    # Granting the tenant group to each new tenant role takes its admin option.
    await _grant_role(conn, TENANT_GROUP, migrator.name, admin=True)

    database = str(await conn.scalar(text("select current_database()")))
    db = quote_ident(conn, database)
    await lock_shared_objects(conn)
    await conn.exec_driver_sql(f"GRANT CONNECT ON DATABASE {db} TO {API_GROUP}")
    await conn.exec_driver_sql(
        f"GRANT CONNECT ON DATABASE {db} TO {quote_ident(conn, migrator.name)}"
    )
    await conn.exec_driver_sql(f"GRANT CREATE ON DATABASE {db} TO {SCHEMA_OWNER}")
    await conn.exec_driver_sql(f"GRANT TEMPORARY ON DATABASE {db} TO {TENANT_GROUP}")

    taken: list[str] = []
    tampered: list[str] = []
    for schema in (CONTROL_SCHEMA, CATALOG_SCHEMA, FEDERATION_SCHEMA):
        if await claim_schema(conn, schema=schema):
            taken.append(schema)
    for tenant_schema, tenant_role in await _tenant_schemas(conn):
        try:
            async with conn.begin_nested():
                if await claim_tenant_schema(conn, schema=tenant_schema, role=tenant_role or ""):
                    taken.append(tenant_schema)
        except TenantSchemaTampered:
            tampered.append(tenant_schema)
            continue
        if tenant_role is not None:
            await let_api_enter(conn, tenant_role)
    await apply_api_grants(conn)
    return BootstrapReport(database, tuple(taken), tuple(tampered))


async def _tenant_schemas(conn: AsyncConnection) -> list[tuple[str, str | None]]:
    rows = await conn.execute(
        text(
            "select n.nspname, r.rolname from pg_namespace n "
            "left join pg_roles r on r.rolname = 'accord_' || n.nspname "
            "where n.nspname like 't\\_%' order by 1"
        )
    )
    return [(str(schema), role) for schema, role in rows.all()]
