"""The gateway over HTTP: the real app (lifespan, policy engine and its listener, the
authentication middleware) on httpx's ASGI transport, callers signed in with tokens from
the development issuer, and partners wired with real agreements and RACI matrices."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from accord.app import create_app
from accord.compliance.workflow import service as finding_workflow
from accord.platform.runtime import Runtime
from accord.platform.settings import Settings
from accord.policies import service as policy_service
from accord.policies.engine import PolicyEngine
from accord.tenants.models import Tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, TenantFactory
from tests.factories.records import finding_input
from tests.factories.sharing import grant
from tests.factories.tokens import sign_in


@dataclass
class Api:
    app: Starlette
    client: httpx.AsyncClient
    runtime: Runtime
    settings: Settings

    @property
    def engine(self) -> PolicyEngine:
        engine: PolicyEngine = self.app.state.policy_engine
        return engine

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        sent = dict(headers or {})
        if token is not None:
            sent["authorization"] = f"Bearer {token}"
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=sent
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def sign_in(self, tenant: Tenant, subject: str, *roles: str) -> str:
        """A member of ``tenant`` with ``roles``, and a dev-issuer token for them."""
        return await sign_in(self.runtime, self.settings, tenant, subject, roles)

    async def import_matrix(self, text: str) -> str:
        """Import a RACI matrix and wait until this app's engine has reloaded it."""
        async with self.runtime.control_session() as session:
            result = await policy_service.import_matrix(session=session, text=text, fmt="yaml")
        started = time.monotonic()
        while any(self.engine.loaded_versions.get(d, -1) < v for d, v in result.domains.items()):
            assert time.monotonic() - started < 10, "the policy listener did not reload"
            await asyncio.sleep(0.01)
        return result.matrix.name


@pytest.fixture
async def api(settings: Settings, runtime: Runtime) -> AsyncIterator[Api]:
    app = create_app(settings, runtime=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://accord.test") as c:
            yield Api(app, c, runtime, settings)


def follow_findings(process: str, owner: str, *readers: str) -> str:
    """A matrix in which ``readers``' quality managers are Informed on ``owner``'s findings."""
    informed = "\n".join(f"    role:{r}/quality_manager: I" for r in readers)
    parties = ", ".join(f"role:{t}/quality_manager" for t in (owner, *readers))
    return f"""
name: Follow findings {process}
process: {process}
owners: [{owner}]
parties: [{parties}]
activities:
  - {{name: Follow findings, record_type: finding, actions: [close]}}
raci:
  Follow findings:
    role:{owner}/quality_manager: A
{informed}
"""


def new_process() -> str:
    return f"supplier-quality-{secrets.token_hex(4)}"


async def raise_findings(runtime: Runtime, slug: str, count: int, **overrides: Any) -> list[str]:
    """``count`` findings of ``slug`` with a title and a named owner; their ids."""
    async with tenant_session(runtime, slug) as session:
        raised = [
            await finding_workflow.raise_finding(
                session=session,
                data=finding_input(owner="user:li.wei", **overrides),
                actor="user:anna.keller",
            )
            for _ in range(count)
        ]
        return [str(f.id) for f in raised]


@dataclass(frozen=True)
class Partners:
    """northwind reads; meridian (second store) shares its findings with it at ``summary``
    and makes its quality managers Informed in ``process``; initech is Informed too but has
    no agreement; globex has an agreement but no role."""

    northwind: Tenant
    meridian: Tenant
    initech: Tenant
    globex: Tenant
    process: str
    agreement: uuid.UUID
    meridian_findings: list[str]


@pytest.fixture
async def partners(api: Api, make_tenant: TenantFactory) -> AsyncIterator[Partners]:
    northwind = await make_tenant(label="nw")
    meridian = await make_tenant(SECOND_STORE, label="md")
    initech = await make_tenant(label="it")
    globex = await make_tenant(label="gx")
    await raise_findings(api.runtime, northwind.slug, 1)
    ids = await raise_findings(api.runtime, meridian.slug, 2)
    agreement = await grant(api.runtime, meridian.slug, northwind.slug, "summary")
    await grant(api.runtime, meridian.slug, globex.slug, "summary")
    process = new_process()
    name = await api.import_matrix(
        follow_findings(process, meridian.slug, northwind.slug, initech.slug)
    )
    yield Partners(northwind, meridian, initech, globex, process, agreement, ids)
    async with api.runtime.control_session() as session:
        await policy_service.delete_matrix(session=session, name=name)
