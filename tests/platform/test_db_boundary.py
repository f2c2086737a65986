"""The database holds the tenant boundary on its own, against SQL injected into a tenant
transaction.

Every case runs real statements on a real PostgreSQL, on a tenant in each store (the home
server and the embedded second one), the way an attacker with one injected statement
would: inside a tenant transaction, as the tenant's role. Each attempt must be refused by
the database with its SQLSTATE, and afterwards the guards must still hold. Attacks on
other logins and roles (the API's login, the federation role) join ``ATTACKS`` as cases
of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from accord.platform.errors import AccordError
from accord.platform.migrations.ownership import SCHEMA_OWNER
from accord.platform.migrations.runner import INSUFFICIENT_PRIVILEGE, _tenant_script
from accord.platform.runtime import Runtime
from accord.tenants.models import Tenant
from accord.tenants.provisioning import create_tenant, migrate_all
from tests.conftest import SECOND_STORE, unique_slug
from tests.factories.admin import admin_connection

STORES = ("home", SECOND_STORE)
APPEND_ONLY = ("event_log", "access_log", "webhook_deliveries")
GUARDED_TRUNCATE = (*APPEND_ONLY, "review_signatures")


@dataclass(frozen=True, slots=True)
class Attack:
    """Statements run in one tenant transaction; ``{s}`` is the tenant's quoted schema and
    ``{role}`` its role. The first refusal must carry ``sqlstate``."""

    statements: tuple[str, ...]
    sqlstate: str = INSUFFICIENT_PRIVILEGE


def _attack(*statements: str) -> Attack:
    return Attack(statements)


ATTACKS: dict[str, Attack] = {
    # The guards themselves.
    "drop the guard function": _attack("DROP FUNCTION {s}.refuse_mutation() CASCADE"),
    "replace the guard function": _attack(
        "CREATE OR REPLACE FUNCTION {s}.refuse_mutation() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$"
    ),
    "drop a guard trigger": _attack("DROP TRIGGER append_only_guard ON {s}.event_log"),
    "disable a guard trigger": _attack(
        "ALTER TABLE {s}.event_log DISABLE TRIGGER append_only_guard"
    ),
    "disable every trigger": _attack("ALTER TABLE {s}.access_log DISABLE TRIGGER ALL"),
    "add a trigger": _attack(
        "CREATE TRIGGER planted BEFORE INSERT ON {s}.event_log "
        "FOR EACH ROW EXECUTE FUNCTION {s}.refuse_mutation()"
    ),
    # The append-only tables and their rows.
    "drop the event log": _attack("DROP TABLE {s}.event_log"),
    "rename the event log away": _attack("ALTER TABLE {s}.event_log RENAME TO event_log_old"),
    "drop the access log": _attack("DROP TABLE {s}.access_log CASCADE"),
    **{
        f"{verb} {table}": _attack(statement.replace("{t}", table).replace("{c}", column))
        for table, column in zip(APPEND_ONLY, ("actor", "principal", "partner"), strict=True)
        for verb, statement in (
            ("update", "UPDATE {s}.{t} SET {c} = 'mallory'"),
            ("delete from", "DELETE FROM {s}.{t}"),
            ("truncate", "TRUNCATE {s}.{t}"),
        )
    },
    # Planting objects that other roles (the migrator, the federation role) would run.
    "create a table": _attack("CREATE TABLE {s}.planted (x int)"),
    "create a view": _attack("CREATE VIEW {s}.planted AS SELECT 1 AS x"),
    "create a function": _attack(
        "CREATE FUNCTION {s}.planted() RETURNS int LANGUAGE sql AS 'select 1'"
    ),
    "grant itself create, then create": _attack(
        "GRANT CREATE ON SCHEMA {s} TO {role}", "CREATE TABLE {s}.planted (x int)"
    ),
    "replace alembic_version with a view": _attack(
        "DROP TABLE {s}.alembic_version",
        "CREATE VIEW {s}.alembic_version AS SELECT 't0001'::varchar(32) AS version_num",
    ),
    "replace the access log with a table of its own": _attack(
        "ALTER TABLE {s}.access_log RENAME TO access_log_old",
        "CREATE TABLE {s}.access_log (LIKE {s}.access_log_old)",
    ),
    # The version table and the schema itself.
    "read alembic_version": _attack("SELECT * FROM {s}.alembic_version"),
    "write alembic_version": _attack("UPDATE {s}.alembic_version SET version_num = 't0001'"),
    "add to alembic_version": _attack("INSERT INTO {s}.alembic_version VALUES ('t9999')"),
    "empty alembic_version": _attack("DELETE FROM {s}.alembic_version"),
    "rename the schema": _attack("ALTER SCHEMA {s} RENAME TO planted"),
    "take the schema over": _attack("ALTER SCHEMA {s} OWNER TO {role}"),
    "drop the schema": _attack("DROP SCHEMA {s} CASCADE"),
}

#: A few of the above, run again on a schema taken over from its tenant by ``migrate``.
TAKEOVER_ATTACKS = (
    "drop the guard function",
    "drop the event log",
    "create a function",
    "replace alembic_version with a view",
    "write alembic_version",
    "truncate access_log",
)


class _Undo(Exception):
    """Raised to roll a tenant transaction back after it went through."""


def _sql(statement: str, tenant: Tenant) -> str:
    return statement.format(s=f'"{tenant.scope.schema}"', role=f'"{tenant.scope.role}"')


async def attempt(
    runtime: Runtime, tenant: Tenant, statements: Sequence[str], *, keep: bool = True
) -> str | None:
    """Run ``statements`` in one tenant transaction: the SQLSTATE of the first refusal, or
    None when all went through (then committed, so that the damage shows, unless not
    ``keep``)."""
    try:
        async with runtime.stores.tenant_session(tenant.scope) as session:
            for statement in statements:
                await session.execute(text(_sql(statement, tenant)))
            if not keep:
                raise _Undo
    except _Undo:
        pass
    except DBAPIError as exc:
        return str(getattr(exc.orig, "sqlstate", None))
    return None


async def _as_migrator(runtime: Runtime, tenant: Tenant, statement: str) -> DBAPIError | None:
    try:
        async with runtime.stores.migrator_engine(tenant.store).begin() as conn:
            await conn.execute(text(_sql(statement, tenant)))
    except DBAPIError as exc:
        return exc
    return None


async def assert_guards_hold(runtime: Runtime, tenant: Tenant) -> None:
    """The schema and all in it belong to the owner role, guards in place and enabled, and
    the guards refuse rewrites even on the path that needs no privilege."""
    schema = tenant.scope.schema
    async with runtime.stores.engine(tenant.store).connect() as conn:
        schema_owner = await conn.scalar(
            text("select nspowner::regrole::text from pg_namespace where nspname = :s"),
            {"s": schema},
        )
        owners = dict(
            (
                await conn.execute(
                    text(
                        "select c.relname, c.relowner::regrole::text from pg_class c "
                        "join pg_namespace n on n.oid = c.relnamespace "
                        "where n.nspname = :s and c.relkind = 'r'"
                    ),
                    {"s": schema},
                )
            ).all()
        )
        guards = set(
            (
                await conn.execute(
                    text(
                        "select c.relname, t.tgname, t.tgenabled, p.proname, "
                        "p.proowner::regrole::text from pg_trigger t "
                        "join pg_class c on c.oid = t.tgrelid "
                        "join pg_namespace n on n.oid = c.relnamespace "
                        "join pg_proc p on p.oid = t.tgfoid and p.pronamespace = n.oid "
                        "where n.nspname = :s and p.proname = 'refuse_mutation'"
                    ),
                    {"s": schema},
                )
            ).all()
        )
        tenant_owns = await conn.scalar(
            text(
                "select count(*) from pg_shdepend d join pg_roles r on r.oid = d.refobjid "
                "where r.rolname = :r and d.deptype = 'o'"
            ),
            {"r": tenant.scope.role},
        )
    assert schema_owner == SCHEMA_OWNER
    assert set(owners.values()) == {SCHEMA_OWNER}
    assert {"alembic_version", *APPEND_ONLY} <= set(owners)
    assert tenant_owns == 0
    for table in APPEND_ONLY:
        assert (table, "append_only_guard", "O", "refuse_mutation", SCHEMA_OWNER) in guards
    for table in GUARDED_TRUNCATE:
        truncate_guard = {g for g in guards if g[0] == table and g[1].endswith("_truncate")}
        assert {g[2] for g in truncate_guard} == {"O"}, table
    for statement in (
        "UPDATE {s}.event_log SET actor = 'mallory'",
        "DELETE FROM {s}.access_log",
        *(f"TRUNCATE {{s}}.{table}" for table in GUARDED_TRUNCATE),
    ):
        refused = await _as_migrator(runtime, tenant, statement)
        assert refused is not None, statement
        assert getattr(refused.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE, statement


async def _provision(runtime: Runtime, store: str) -> Tenant:
    tenant = await create_tenant(
        runtime,
        slug=unique_slug("wall"),
        legal_name="Boundary Test Ltd",
        jurisdiction="DE",
        store=store,
    )
    # A row in the access log, so that row guards have something to refuse.
    refused = await attempt(
        runtime,
        tenant,
        [
            "INSERT INTO {s}.access_log (at, grantee, principal, agreement_id, record_type, "
            "level, records) VALUES (now(), 'partner', 'user:eve', gen_random_uuid(), "
            "'finding', 'full', 1)"
        ],
    )
    assert refused is None
    return tenant


@pytest.fixture(scope="module", params=STORES)
async def victim(request: pytest.FixtureRequest, runtime: Runtime) -> Tenant:
    return await _provision(runtime, request.param)


@pytest.mark.parametrize("name", list(ATTACKS))
async def test_a_tenant_transaction_cannot_rewrite_its_schema(
    runtime: Runtime, victim: Tenant, name: str
) -> None:
    attack = ATTACKS[name]
    assert await attempt(runtime, victim, attack.statements) == attack.sqlstate
    await assert_guards_hold(runtime, victim)


@pytest.mark.parametrize("store", STORES)
async def test_a_tenant_owns_nothing_the_migrator_would_run(runtime: Runtime, store: str) -> None:
    """With nothing of its own in its schema, a tenant has nothing to plant for the
    migrator; and migrating leaves it so."""
    tenant = await _provision(runtime, store)
    for name in ("create a function", "create a view", "replace alembic_version with a view"):
        assert await attempt(runtime, tenant, ATTACKS[name].statements) == INSUFFICIENT_PRIVILEGE
    failures: dict[str, AccordError] = {}
    await migrate_all(
        runtime, on_failure=lambda t, exc: failures.setdefault(t.slug, exc), only=[tenant.slug]
    )
    assert tenant.slug not in failures
    await assert_guards_hold(runtime, tenant)


async def as_provisioned_before_the_owner_role(runtime: Runtime, tenant: Tenant) -> None:
    """Turn ``tenant``'s schema back into what provisioning made before the owner role: the
    schema the tenant role's, its objects the migrator login's, the version table writable
    by the tenant, no TRUNCATE guards but the event log's."""
    script = _tenant_script()
    before = script.get_revision("t0016")
    assert before is not None
    async with runtime.stores.migrator_engine(tenant.store).begin() as conn:
        s, r = f'"{tenant.scope.schema}"', f'"{tenant.scope.role}"'
        await conn.exec_driver_sql(f"GRANT {r} TO CURRENT_USER")
        await conn.exec_driver_sql(f"ALTER SCHEMA {s} OWNER TO {r}")
        objects = await conn.execute(
            text(
                "select o.type, o.identity from pg_class c "
                "join pg_namespace n on n.oid = c.relnamespace "
                "cross join lateral pg_identify_object('pg_class'::regclass, c.oid, 0) o "
                "where n.nspname = :s and c.relkind in ('r', 'v') "
                "union all select 'function', o.identity from pg_proc p "
                "join pg_namespace n on n.oid = p.pronamespace "
                "cross join lateral pg_identify_object('pg_proc'::regclass, p.oid, 0) o "
                "where n.nspname = :s"
            ),
            {"s": tenant.scope.schema},
        )
        for kind, identity in objects.all():
            await conn.exec_driver_sql(f"ALTER {kind.upper()} {identity} OWNER TO CURRENT_USER")
        await conn.exec_driver_sql(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {s}.alembic_version TO {r}"
        )
        for table, trigger in (
            ("access_log", "append_only_guard_truncate"),
            ("webhook_deliveries", "append_only_guard_truncate"),
            ("review_signatures", "review_signature_guard_truncate"),
        ):
            await conn.exec_driver_sql(f"DROP TRIGGER {trigger} ON {s}.{table}")
        await conn.exec_driver_sql(f"DELETE FROM {s}.alembic_version WHERE version_num = 't0016'")
        parents = before.down_revision
        for revision in (parents,) if isinstance(parents, str) else parents or ():
            await conn.exec_driver_sql(f"INSERT INTO {s}.alembic_version VALUES ('{revision}')")
        await conn.exec_driver_sql(f"REVOKE {r} FROM CURRENT_USER")


@pytest.mark.parametrize("store", STORES)
async def test_migrate_takes_a_schema_over_from_its_tenant(runtime: Runtime, store: str) -> None:
    tenant = await _provision(runtime, store)
    await as_provisioned_before_the_owner_role(runtime, tenant)
    # The hole the takeover closes: the schema's owner may create (and drop) anything.
    assert await attempt(runtime, tenant, ATTACKS["create a table"].statements, keep=False) is None

    failures: dict[str, AccordError] = {}
    await migrate_all(
        runtime, on_failure=lambda t, exc: failures.setdefault(t.slug, exc), only=[tenant.slug]
    )
    assert tenant.slug not in failures
    await assert_guards_hold(runtime, tenant)
    for name in TAKEOVER_ATTACKS:
        attack = ATTACKS[name]
        assert await attempt(runtime, tenant, attack.statements) == attack.sqlstate, name
    async with runtime.stores.tenant_session(tenant.scope) as session:
        # What the tenant's own transactions need still works.
        logged = await session.scalar(text(_sql("select count(*) from {s}.event_log", tenant)))
    assert logged == 1

    # Migrating again changes nothing.
    await migrate_all(
        runtime, on_failure=lambda t, exc: failures.setdefault(t.slug, exc), only=[tenant.slug]
    )
    assert tenant.slug not in failures
    await assert_guards_hold(runtime, tenant)


@pytest.mark.parametrize("store", STORES)
async def test_migrate_runs_no_code_a_tenant_planted_before_the_takeover(
    runtime: Runtime, store: str
) -> None:
    """A view the tenant put in place of ``alembic_version`` (possible while it owned its
    schema) would run the tenant's function as the migrator; migrate refuses the schema
    without reading it."""
    tenant = await _provision(runtime, store)
    await as_provisioned_before_the_owner_role(runtime, tenant)
    planted = await attempt(
        runtime,
        tenant,
        [
            "CREATE FUNCTION {s}.planted_version() RETURNS varchar LANGUAGE plpgsql AS $$ "
            "BEGIN IF current_user <> '" + tenant.scope.role + "' THEN "
            "RAISE EXCEPTION USING MESSAGE = 'planted code ran as ' || current_user; END IF; "
            "RETURN 't0015'; END $$",
            "DROP TABLE {s}.alembic_version",
            "CREATE VIEW {s}.alembic_version AS SELECT {s}.planted_version() AS version_num",
        ],
    )
    assert planted is None

    failures: dict[str, AccordError] = {}
    await migrate_all(
        runtime, on_failure=lambda t, exc: failures.setdefault(t.slug, exc), only=[tenant.slug]
    )
    refused = failures[tenant.slug]
    assert refused.reason == "TENANT_SCHEMA_TAMPERED"
    assert "planted_version()" in refused.message and "alembic_version" in refused.message


#: What the API's login itself (outside any tenant role) tries, and the SQLSTATE refusing it.
APP_LOGIN_ATTACKS: dict[str, tuple[str, str]] = {
    "run a program": ("COPY (SELECT 1) TO PROGRAM 'id'", INSUFFICIENT_PRIVILEGE),
    "read a server file": ("SELECT pg_read_file('PG_VERSION')", INSUFFICIENT_PRIVILEGE),
    "bypass triggers": ("SET session_replication_role = replica", INSUFFICIENT_PRIVILEGE),
    "become the owner role": (f"SET ROLE {SCHEMA_OWNER}", INSUFFICIENT_PRIVILEGE),
    "read a tenant schema directly": ("SELECT count(*) FROM {s}.event_log", INSUFFICIENT_PRIVILEGE),
    "write a tenant's event log directly": (
        "DELETE FROM {s}.event_log",
        INSUFFICIENT_PRIVILEGE,
    ),
    "disable a guard trigger": (
        "ALTER TABLE {s}.event_log DISABLE TRIGGER append_only_guard",
        INSUFFICIENT_PRIVILEGE,
    ),
    "create a role": ("CREATE ROLE planted LOGIN", INSUFFICIENT_PRIVILEGE),
    "give itself more": ("ALTER ROLE CURRENT_USER CREATEDB CREATEROLE", INSUFFICIENT_PRIVILEGE),
    "join the owner role": (f"GRANT {SCHEMA_OWNER} TO CURRENT_USER", INSUFFICIENT_PRIVILEGE),
    "create a schema": ("CREATE SCHEMA planted", INSUFFICIENT_PRIVILEGE),
    "write the catalog's version": (
        "UPDATE catalog.alembic_version SET version_num = 'k0001'",
        INSUFFICIENT_PRIVILEGE,
    ),
    "write the catalog": ("DELETE FROM catalog.standards", INSUFFICIENT_PRIVILEGE),
}


@pytest.mark.parametrize("name", list(APP_LOGIN_ATTACKS))
async def test_the_api_login_holds_no_power_of_its_own(
    runtime: Runtime, victim: Tenant, name: str
) -> None:
    statement, sqlstate = APP_LOGIN_ATTACKS[name]
    with pytest.raises(DBAPIError) as refused:
        async with runtime.stores.engine(victim.store).begin() as conn:
            await conn.execute(text(_sql(statement, victim)))
    assert getattr(refused.value.orig, "sqlstate", None) == sqlstate
    await assert_guards_hold(runtime, victim)


@pytest.mark.parametrize("store", STORES)
async def test_the_api_login_is_a_login_of_its_own(runtime: Runtime, store: str) -> None:
    """Not a superuser, no CREATEROLE/CREATEDB, SCRAM-hashed, a member of nothing but the
    NOINHERIT API group; and the migrator's login is not a superuser either."""
    async with runtime.stores.engine(store).connect() as conn:
        me = (
            await conn.execute(
                text(
                    "select rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, "
                    "rolbypassrls from pg_roles where rolname = current_user"
                )
            )
        ).one()
        groups = set(
            await conn.scalars(
                text(
                    "select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid "
                    "where m.member = (select oid from pg_roles where rolname = current_user)"
                )
            )
        )
        api_inherits = await conn.scalar(
            text("select rolinherit from pg_roles where rolname = 'accord_api'")
        )
    assert me[1:] == (False, False, False, False, False)
    assert groups == {"accord_api"}
    assert api_inherits is False
    async with runtime.stores.migrator_engine(store).connect() as conn:
        migrator = (
            await conn.execute(
                text(
                    "select rolname, rolsuper, rolcreatedb, rolcreaterole from pg_roles "
                    "where rolname = current_user"
                )
            )
        ).one()
    assert migrator[0] != me[0]
    assert migrator[1:] == (False, False, True)
    async with admin_connection(store) as conn:
        hashes = set(
            await conn.scalars(
                text("select left(rolpassword, 14) from pg_authid where rolname = any(:r)"),
                {"r": [me[0], migrator[0]]},
            )
        )
    assert hashes == {"SCRAM-SHA-256$"}


async def test_resetting_the_role_in_a_tenant_transaction_lands_on_the_api_login(
    runtime: Runtime, victim: Tenant
) -> None:
    """``set_config('role', 'none', …)`` and ``RESET ROLE`` once returned to a superuser; now
    they return to the API's login, which can run no program and read no tenant schema."""
    for escape in ("SELECT set_config('role', 'none', true)", "RESET ROLE"):
        refused = await attempt(
            runtime, victim, [escape, "COPY (SELECT 1) TO PROGRAM 'id'"], keep=False
        )
        assert refused == INSUFFICIENT_PRIVILEGE, escape
        refused = await attempt(
            runtime, victim, [escape, "SELECT count(*) FROM {s}.event_log"], keep=False
        )
        assert refused == INSUFFICIENT_PRIVILEGE, escape
