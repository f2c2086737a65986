"""What an operator and the chart's migrations Job do on a fresh production database: an
admin bootstraps the two logins once (`accord db bootstrap`), then `accord migrate` runs as
the migrator; nothing else migrates and every other command refuses until it has run."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from accord.platform.db import ensure_database
from accord.platform.migrations.bootstrap import with_login
from tests.conftest import TEST_APP_LOGIN, TEST_MIGRATOR_LOGIN, subprocess_env
from tests.factories.admin import admin_url
from tests.factories.cli import accord


@pytest.fixture
async def fresh_database() -> AsyncIterator[str]:
    """The admin URL of a new, empty database on the home store's server (dropped after)."""
    home = make_url(await admin_url("home"))
    name = f"accord_prod_{secrets.token_hex(4)}"
    url = home.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    await ensure_database(url)
    try:
        yield url
    finally:
        admin = create_async_engine(home.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            await admin.dispose()


@pytest.mark.slow
def test_migrate_brings_a_fresh_production_database_to_head(
    fresh_database: str, tmp_path: Path
) -> None:
    env = subprocess_env(
        ACCORD_ENV="prod",
        ACCORD_DATABASE_URL=with_login(fresh_database, TEST_APP_LOGIN),
        ACCORD_MIGRATOR_DATABASE_URL=with_login(fresh_database, TEST_MIGRATOR_LOGIN),
        ACCORD_DATA_DIR=str(tmp_path),
    )
    env.pop("ACCORD_STORES")
    bootstrapped = accord("db", "bootstrap", "--admin-url", fresh_database, env=env)
    assert bootstrapped.returncode == 0, bootstrapped.stderr
    before = accord("tenant", "list", env=env)
    assert before.returncode == 1
    assert "MIGRATIONS_PENDING" in before.stderr
    migrated = accord("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "control plane at head" in migrated.stdout
    after = accord("tenant", "list", "--json", env=env)
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip() == "[]"
    again = accord("migrate", env=env)
    assert again.returncode == 0, again.stderr
    # A production process keeps nothing in its data directory (the chart's is an emptyDir).
    assert list(tmp_path.iterdir()) == []
