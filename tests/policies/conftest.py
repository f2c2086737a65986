"""Fixtures of the action-gate tests: the demo partners as real tenants, and the DEMO RACI
matrices written against their (unique, per test run) slugs."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import delete, text

from accord.platform.naming import role_name, schema_name
from accord.platform.runtime import Runtime
from accord.policies.models import PolicyDomain, RaciMatrix
from accord.tenants.provisioning import create_tenant, drop_tenant_objects
from tests.conftest import unique_slug


@dataclass(frozen=True)
class Partners:
    globex: str
    northwind: str
    meridian: str
    initech: str
    tag: str  # makes matrix names and processes unique to one module run

    def process(self, name: str) -> str:
        return f"{name}-{self.tag}"


@pytest.fixture(scope="module")
async def partners(runtime: Runtime) -> AsyncIterator[Partners]:
    slugs = {}
    for label in ("globex", "northwind", "meridian", "initech"):
        slug = unique_slug(label)
        await create_tenant(
            runtime, slug=slug, legal_name=f"{label.title()} Ltd", jurisdiction="DE", store="home"
        )
        slugs[label] = slug
    found = Partners(**slugs, tag=secrets.token_hex(3))
    yield found
    async with runtime.control_session() as session:
        await session.execute(delete(RaciMatrix).where(RaciMatrix.name.like(f"%{found.tag}%")))
        await session.execute(delete(PolicyDomain).where(PolicyDomain.domain.in_(slugs.values())))
    await drop_tenants(runtime, list(slugs.values()))


async def drop_tenants(runtime: Runtime, slugs: list[str]) -> None:
    """Drop test tenants one transaction each (the session clean-up drops all at once)."""
    for slug in slugs:
        async with runtime.stores.migrator_engine(runtime.home).begin() as conn:
            await drop_tenant_objects(conn, schema=schema_name(slug), role=role_name(slug))
        async with runtime.control_session() as session:
            await session.execute(text("delete from accord.members where tenant = :s"), {"s": slug})
            await session.execute(text("delete from accord.tenants where slug = :s"), {"s": slug})


def supplier_quality(p: Partners) -> str:
    g, n, m = p.globex, p.northwind, p.meridian
    return f"""
name: Supplier quality 2027 {p.tag}
process: {p.process("supplier-quality-2027")}
owners: [{g}]
parties:
  - role:{g}/quality_manager
  - role:{n}/quality_manager
  - user:{n}/nadia
  - role:{m}/quality_manager
activities:
  - {{name: Respond to findings, record_type: finding, actions: [respond, propose_capa]}}
  - {{name: Carry out CAPA actions, record_type: capa_action,
      actions: [complete_action, verify, close]}}
  - {{name: Verify and close findings, record_type: finding, actions: [verify, close]}}
raci:
  Respond to findings:
    role:{g}/quality_manager: R
    role:{n}/quality_manager: A
    role:{m}/quality_manager: I
  Carry out CAPA actions:
    role:{g}/quality_manager: R
    role:{n}/quality_manager: A
    role:{m}/quality_manager: I
  Verify and close findings:
    role:{g}/quality_manager: C
    role:{n}/quality_manager: A
    user:{n}/nadia: C
    role:{m}/quality_manager: I
"""


def joint_emergency(p: Partners) -> str:
    i, m, n = p.initech, p.meridian, p.northwind
    return f"""
name: Joint emergency response {p.tag}
process: {p.process("joint-emergency-response")}
owners: [{i}, {m}]
parties: [role:{i}/quality_manager, role:{m}/executive, role:{n}/quality_manager]
activities:
  - {{name: IT recovery, record_type: incident, actions: [respond, complete_action]}}
  - {{name: Continuity decisions, record_type: incident, actions: [approve, close]}}
raci:
  IT recovery: {{role:{i}/quality_manager: R, role:{m}/executive: A, role:{n}/quality_manager: C}}
  Continuity decisions:
    role:{i}/quality_manager: R
    role:{m}/executive: A
    role:{n}/quality_manager: C
"""


def management_review(p: Partners) -> str:
    n, g, m, i = p.northwind, p.globex, p.meridian, p.initech
    rows = "\n".join(
        f"  - {{name: Sign off {t} part, record_type: management_review, actions: [sign], "
        f"owners: [{t}]}}"
        for t in (n, g, m, i)
    )
    signs = "\n".join(f"  Sign off {t} part: {{role:{t}/executive: A}}" for t in (n, g, m, i))
    return f"""
name: Network management review Q4 2026 {p.tag}
process: {p.process("network-mr-q4-2026")}
owners: [{n}, {g}, {m}, {i}]
parties: [role:{n}/quality_manager, role:{n}/executive, role:{g}/executive,
          role:{m}/executive, role:{i}/executive]
activities:
  - {{name: Compile the review, record_type: management_review, actions: [respond],
      owners: [{n}]}}
{rows}
raci:
  Compile the review:
    role:{n}/quality_manager: R
    role:{n}/executive: A
    role:{g}/executive: C
    role:{m}/executive: C
    role:{i}/executive: C
{signs}
"""
