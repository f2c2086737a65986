"""The test stores' admin logins (a superuser), for what only an attacker with the server's
keys, or an operator, could do: the product itself never runs as them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from accord.platform.embedded import open_embedded
from accord.platform.settings import async_url
from tests import conftest
from tests.conftest import SECOND_STORE, TEST_DATA_DIR


async def admin_url(store: str) -> str:
    """The admin URL of a test store (``home`` or the second store)."""
    server = conftest.test_database_url()
    if store == "home" and server is not None:
        return server
    cluster = "postgres" if store == "home" else "store2"
    assert store in ("home", SECOND_STORE), store
    return (await open_embedded(TEST_DATA_DIR, cluster)).admin_url


@asynccontextmanager
async def admin_connection(store: str) -> AsyncIterator[AsyncConnection]:
    """One transaction on ``store`` as its admin; commits on success."""
    engine = create_async_engine(async_url(await admin_url(store)), hide_parameters=True)
    try:
        async with engine.begin() as conn:
            yield conn
    finally:
        await engine.dispose()
