"""Fixtures of the compliance tests: the synced catalog and a module's own tenant."""

from __future__ import annotations

import pytest

from accord.compliance.catalog.service import sync_catalog
from accord.platform.runtime import Runtime
from accord.tenants.models import Tenant
from accord.tenants.provisioning import create_tenant
from tests.conftest import unique_slug


@pytest.fixture(scope="module")
async def synced_catalog(runtime: Runtime) -> None:
    """The standards catalog in the database (a module asks with ``usefixtures``)."""
    await sync_catalog(runtime)


@pytest.fixture(scope="module")
async def tenant(runtime: Runtime, request: pytest.FixtureRequest) -> Tenant:
    """One tenant for the module's tests, in the home store; its slug names the module."""
    label = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")[:6]
    return await create_tenant(
        runtime,
        slug=unique_slug(label),
        legal_name="Globex Components Inc.",
        jurisdiction="US",
        store="home",
    )
