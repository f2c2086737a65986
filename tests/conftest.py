"""Shared fixtures: a real PostgreSQL home store and a second, separate server.

``ACCORD_TEST_DATABASE_URL`` names the home server (CI: the system PostgreSQL); without
it the home store is an embedded PostgreSQL. The second store is always an embedded
cluster, so "two stores on two servers" is real in both modes. Tests create tenants with
unique ``tst_`` slugs instead of recreating databases; the session drops them at the end.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, text

from accord.compliance.catalog.service import sync_catalog
from accord.platform import clock
from accord.platform.db import ensure_database, quote_ident
from accord.platform.migrations.bootstrap import Login, bootstrap_store, with_login
from accord.platform.runtime import Runtime, open_runtime
from accord.platform.settings import Settings, StoreConfig
from accord.platform.stores import Store, upsert_store
from accord.tenants.agreements import service as agreements
from accord.tenants.models import Tenant, TenantStatus
from accord.tenants.provisioning import create_tenant, drop_tenant_objects
from tests.cleanup import delete_cascading

REPO = Path(__file__).resolve().parents[1]
TEST_DATA_DIR = Path(os.environ.get("ACCORD_TEST_DATA_DIR", REPO / ".accord" / "test"))
SECOND_STORE = "second"
# Per test run, so that runs sharing a database (developers, CI) never drop each other's tenants.
TEST_PREFIX = f"tst{secrets.token_hex(2)}_"


#: The logins the tests' server is bootstrapped with (``ACCORD_TEST_DATABASE_URL`` is an
#: admin's, used for nothing else); the product runs as them.
TEST_APP_LOGIN = Login("accord_app", "accord-test-app-login")
TEST_MIGRATOR_LOGIN = Login("accord_migrator", "accord-test-migrator-login")


def test_database_url() -> str | None:
    """The test server's admin URL (a superuser on CI), or None for embedded stores."""
    return os.environ.get("ACCORD_TEST_DATABASE_URL") or None


def test_login_urls() -> tuple[str, str] | None:
    """The URLs of the API's and the migrator's logins on the test server."""
    admin = test_database_url()
    if admin is None:
        return None
    return with_login(admin, TEST_APP_LOGIN), with_login(admin, TEST_MIGRATOR_LOGIN)


def make_test_settings(**overrides: object) -> Settings:
    logins = test_login_urls()
    values: dict[str, object] = {
        "database_url": logins[0] if logins else None,
        "migrator_database_url": logins[1] if logins else None,
        "data_dir": TEST_DATA_DIR,
        "home_store": "home",
        "home_region": "test-1",
        "stores": [StoreConfig(name=SECOND_STORE, region="test-2", url="embedded:store2")],
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def unique_slug(label: str = "t") -> str:
    return f"{TEST_PREFIX}{label}_{secrets.token_hex(4)}"


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for running the ``accord`` command against the test stores."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env["ACCORD_DATA_DIR"] = str(TEST_DATA_DIR)
    env["ACCORD_HOME_REGION"] = "test-1"
    env["ACCORD_STORES"] = '[{"name": "second", "region": "test-2", "url": "embedded:store2"}]'
    logins = test_login_urls()
    if logins:
        env["ACCORD_DATABASE_URL"], env["ACCORD_MIGRATOR_DATABASE_URL"] = logins
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def settings() -> Settings:
    TEST_DATA_DIR.mkdir(parents=True, exist_ok=True)
    return make_test_settings()


@pytest.fixture(scope="session")
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    admin = test_database_url()
    if admin is not None:
        await ensure_database(admin)
        await bootstrap_store(admin, app=TEST_APP_LOGIN, migrator=TEST_MIGRATOR_LOGIN)
    async with open_runtime(settings) as rt:
        await sync_catalog(rt)
        yield rt
        await _drop_test_tenants(rt)


async def _drop_test_tenants(rt: Runtime) -> None:
    """Drop test schemas (one transaction each: lock limits) and their roles where unused.

    Roles are server-wide; a role still owning objects in another database (another test
    run on the same server) is left for that run to drop.
    """
    from sqlalchemy.exc import DBAPIError

    for store in rt.stores.names():
        if rt.stores.migrator_url(store) is None:
            continue
        async with rt.stores.migrator_engine(store).connect() as conn:
            schemas = list(
                await conn.scalars(
                    text("select nspname from pg_namespace where nspname like :p"),
                    {"p": f"t\\_{TEST_PREFIX.replace('_', chr(92) + '_')}%"},
                )
            )
        for schema in schemas:
            try:
                async with rt.stores.migrator_engine(store).begin() as conn:
                    await drop_tenant_objects(conn, schema=schema, role=f"accord_{schema}")
            except DBAPIError:
                # The role owns objects in another database (another run on the server).
                async with rt.stores.migrator_engine(store).begin() as conn:
                    await conn.exec_driver_sql(f"DROP SCHEMA {quote_ident(conn, schema)} CASCADE")
    async with rt.control_session() as session:
        await delete_cascading(
            session, "tenants", '"slug" like :p', TEST_PREFIX.replace("_", "\\_") + "%"
        )


TenantFactory = Callable[..., Awaitable[Tenant]]


@pytest.fixture
def make_tenant(runtime: Runtime) -> TenantFactory:
    async def make(store: str = "home", label: str = "t", **kwargs: str) -> Tenant:
        return await create_tenant(
            runtime,
            slug=kwargs.pop("slug", unique_slug(label)),
            legal_name=kwargs.pop("legal_name", "Test Partner Ltd"),
            jurisdiction=kwargs.pop("jurisdiction", "DE"),
            store=store,
        )

    return make


@pytest.fixture
def fixed_clock(request: pytest.FixtureRequest) -> Iterator[clock.FixedClock]:
    """The product's clock standing still for one test: at ``request.param`` when the test
    is parametrized indirectly with an aware datetime, else at a fixed instant."""
    at = getattr(request, "param", datetime(2026, 11, 16, 9, 30, tzinfo=UTC))
    with clock.use(clock.FixedClock(at)) as fixed:
        assert isinstance(fixed, clock.FixedClock)
        yield fixed


@pytest.fixture
async def dead_tenant(runtime: Runtime) -> AsyncIterator[str]:
    store, slug = f"down_{secrets.token_hex(3)}", unique_slug("down")
    url = "postgresql://postgres@127.0.0.1:1/none"
    async with runtime.control_session() as session:
        await upsert_store(session, name=store, region="nowhere", url=url)
        session.add(
            Tenant(
                slug=slug,
                legal_name="Offline Partner Ltd",
                jurisdiction="DE",
                store=store,
                status=TenantStatus.ACTIVE,
                activated_at=datetime.now(UTC),
            )
        )
    runtime.stores.register(store, url)
    try:
        yield slug
    finally:
        await runtime.stores.forget(store)
        async with runtime.control_session() as session:
            await session.execute(
                delete(agreements.Agreement).where(agreements.Agreement.grantor == slug)
            )
            await session.execute(delete(Tenant).where(Tenant.slug == slug))
            await session.execute(delete(Store).where(Store.name == store))


@pytest.fixture
def prod_secret_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """``ACCORD_SECRET_KEY`` as a production deployment sets it (prod has no data-dir key;
    the web sessions refuse to start without one)."""
    key = base64.urlsafe_b64encode(b"accord-test-production-secret-k!").decode()
    monkeypatch.setenv("ACCORD_SECRET_KEY", key)
    return key
