"""Who owns a tenant schema: one NOLOGIN owner role per server, never the tenant's own role.

The owner of a schema may drop or replace anything in it, whoever created it, guards
included; and an object a tenant could plant there (a view in place of
``alembic_version``, a table with a trigger in place of ``access_log``) would run its
code as whichever role reads it next. So tenant schemas and everything in them belong to
``accord_schema_owner``, a role no tenant transaction can become, and migrations create
their objects as that role. The tenant role gets USAGE on its schema and the DML its
tables need (see ``apply_tenant_grants``), nothing that creates, drops or replaces.

Schemas provisioned while tenant roles still owned them are taken over by
``claim_tenant_schema`` on the next ``accord migrate``, before anything in them is read.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from accord.platform.db import quote_ident
from accord.platform.errors import Conflict

SCHEMA_OWNER = "accord_schema_owner"
#: Transaction-level advisory lock on a store's database, held by every change to what
#: all its tenants share: the database's own privileges (one row of ``pg_database``), the
#: catalog's grants, the version tables. PostgreSQL refuses two concurrent updates of one
#: catalog row ("tuple concurrently updated") instead of queueing them.
SHARED_OBJECTS_LOCK = 0x0ACC0D_0B1EC7

#: ``pg_identify_object`` types that ``ALTER <type> … OWNER TO`` takes over.
_ALTERABLE = {
    "table": "TABLE",
    "view": "VIEW",
    "materialized view": "MATERIALIZED VIEW",
    "foreign table": "FOREIGN TABLE",
    "sequence": "SEQUENCE",
    "composite type": "TYPE",
    "type": "TYPE",
    "domain": "DOMAIN",
    "function": "ROUTINE",
    "procedure": "ROUTINE",
    "aggregate": "AGGREGATE",
}

#: Every object of the schema (and the schema itself) not owned by the owner role, with
#: its type, quoted identity and owner. Indexes, the sequences of identity and serial
#: columns and the array types of tables follow their table. Objects of any other kind
#: (operators, collations, …) can only have been planted, and show up through the
#: tenant role's ownership records.
_NOT_OURS = text(
    """
    with ns as (select oid from pg_namespace where nspname = :schema),
    owner as (select coalesce((select oid from pg_roles where rolname = :owner), 0) as oid),
    objects(classid, objid, owned_by) as (
        select 'pg_namespace'::regclass, ns.oid, n.nspowner
        from ns join pg_namespace n on n.oid = ns.oid
      union all
        select 'pg_class'::regclass, c.oid, c.relowner from pg_class c, ns
        where c.relnamespace = ns.oid and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S', 'c')
          and not exists (
            select 1 from pg_depend d
            where d.classid = 'pg_class'::regclass and d.objid = c.oid
              and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')
              and c.relkind = 'S')
      union all
        select 'pg_proc'::regclass, p.oid, p.proowner from pg_proc p, ns
        where p.pronamespace = ns.oid
      union all
        select 'pg_type'::regclass, t.oid, t.typowner from pg_type t, ns
        where t.typnamespace = ns.oid and t.typrelid = 0 and t.typtype <> 'm'
          and not exists (select 1 from pg_type e where e.typarray = t.oid)
      union all
        select d.classid, d.objid, d.refobjid from pg_shdepend d
        where d.refclassid = 'pg_authid'::regclass and d.deptype = 'o'
          and d.dbid = (select oid from pg_database where datname = current_database())
          and d.refobjid = (select oid from pg_roles where rolname = :tenant_role)
          and d.classid not in ('pg_namespace'::regclass, 'pg_class'::regclass,
                                'pg_proc'::regclass, 'pg_type'::regclass)
    )
    select o.type, o.identity, pg_get_userbyid(objects.owned_by) as owned_by
    from objects cross join owner
    cross join lateral pg_identify_object(objects.classid, objects.objid, 0) o
    where objects.owned_by <> owner.oid
      and (o.schema = :schema or objects.classid = 'pg_namespace'::regclass)
    order by objects.classid = 'pg_namespace'::regclass desc, o.type, o.identity
    """
)


class TenantSchemaTampered(Conflict):
    """The tenant's role created objects in its schema (possible only before the owner role)."""

    def __init__(self, schema: str, planted: Sequence[str]) -> None:
        super().__init__(
            f"Schema {schema} holds objects its tenant role created ({', '.join(planted)}); "
            "they are neither read nor taken over. Offboard the tenant and restore it from "
            "an export, or drop them as the migrator, then migrate again.",
            reason="TENANT_SCHEMA_TAMPERED",
        )


async def ensure_schema_owner(conn: AsyncConnection) -> None:
    """The owner role of Accord's schemas, allowed to create schemas in this database, and
    the current (migrator) login a member of it (``accord db bootstrap`` sets all this up;
    a login allowed to do it itself keeps an older store working)."""
    row = (
        await conn.execute(
            text(
                "select exists (select 1 from pg_roles where rolname = :owner), "
                "(select rolsuper from pg_roles where rolname = current_user), "
                "exists (select 1 from pg_auth_members m "
                "join pg_roles r on r.oid = m.roleid join pg_roles u on u.oid = m.member "
                "where r.rolname = :owner and u.rolname = current_user)"
            ),
            {"owner": SCHEMA_OWNER},
        )
    ).one()
    exists, superuser, member = row
    if not exists:
        # Roles are cluster-wide; another store or database on the server may create it first.
        await conn.exec_driver_sql(
            f"DO $$ BEGIN CREATE ROLE {SCHEMA_OWNER} NOLOGIN; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
    if not superuser and not member:
        await conn.exec_driver_sql(
            f"DO $$ BEGIN GRANT {SCHEMA_OWNER} TO CURRENT_USER; "
            "EXCEPTION WHEN unique_violation THEN NULL; END $$"
        )
    may_create = await conn.scalar(
        text("select has_database_privilege(:owner, current_database(), 'CREATE')"),
        {"owner": SCHEMA_OWNER},
    )
    if not may_create:
        database = quote_ident(conn, await conn.scalar(text("select current_database()")))
        await conn.execute(select(func.pg_advisory_xact_lock(SHARED_OBJECTS_LOCK)))
        await conn.exec_driver_sql(f"GRANT CREATE ON DATABASE {database} TO {SCHEMA_OWNER}")


async def become_schema_owner(conn: AsyncConnection) -> str:
    """Act as the owner role for the rest of the transaction; returns the role to go back to."""
    await ensure_schema_owner(conn)
    previous = await conn.scalar(select(func.current_setting("role")))
    await conn.execute(select(func.set_config("role", SCHEMA_OWNER, True)))
    return str(previous)


async def restore_role(conn: AsyncConnection, previous: str) -> None:
    await conn.execute(select(func.set_config("role", previous, True)))


async def claim_schema(conn: AsyncConnection, *, schema: str) -> bool:
    """``claim_tenant_schema`` for a schema of Accord's own (control plane, catalog)."""
    return await claim_tenant_schema(conn, schema=schema, role="")


async def claim_tenant_schema(conn: AsyncConnection, *, schema: str, role: str) -> bool:
    """Give ``schema`` and everything in it to the owner role; whether anything changed.

    Refuses, before anything in the schema is read, when the tenant role owns objects
    there: in a schema provisioned before the owner role, migrations created everything,
    so what the tenant owns it planted. A schema the owner role already owns is left as
    it is: nothing but the owner (and superusers) can create in it since.
    """
    schema_owner = await conn.scalar(
        text("select pg_get_userbyid(nspowner) from pg_namespace where nspname = :s"),
        {"s": schema},
    )
    if schema_owner == SCHEMA_OWNER:
        return False
    rows = (
        await conn.execute(
            _NOT_OURS, {"schema": schema, "owner": SCHEMA_OWNER, "tenant_role": role}
        )
    ).all()
    planted = [
        identity for kind, identity, owned_by in rows if owned_by == role and kind != "schema"
    ]
    if planted:
        raise TenantSchemaTampered(schema, planted)
    if not rows:
        return False
    await ensure_schema_owner(conn)
    owner = quote_ident(conn, SCHEMA_OWNER)
    # Giving away what the tenant role owns (the schema itself) takes its privileges: the
    # migrator, who created the role, is its member while it does.
    borrowed = role and any(owned_by == role for _, _, owned_by in rows)
    if borrowed:
        await conn.exec_driver_sql(f"GRANT {quote_ident(conn, role)} TO CURRENT_USER")
    for kind, identity, _ in rows:
        if kind == "schema":
            await conn.exec_driver_sql(f"ALTER SCHEMA {quote_ident(conn, schema)} OWNER TO {owner}")
        elif kind in _ALTERABLE:
            # The identity is the catalog's own quoted, schema-qualified name.
            await conn.exec_driver_sql(f"ALTER {_ALTERABLE[kind]} {identity} OWNER TO {owner}")
        else:
            raise Conflict(
                f"Schema {schema} holds a {kind} ({identity}) Accord does not create.",
                reason="TENANT_SCHEMA_UNKNOWN_OBJECT",
            )
    if borrowed:
        await conn.exec_driver_sql(f"REVOKE {quote_ident(conn, role)} FROM CURRENT_USER")
    return True
