"""Maintained tallies (finding_tallies, capa_action_tallies) stay exactly equal to a recount
through random inserts, single and bulk updates, upserts, deletes and workflow steps."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.capa import service as capa_service
from accord.compliance.capa.models import CapaAction
from accord.compliance.findings.models import Finding
from accord.compliance.tallies import read_counts, read_tallies, recount_counts
from accord.compliance.tallies import recount as recount_tallies
from accord.compliance.workflow import service as finding_workflow
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory
from tests.factories.records import action_input, capa_input, finding_input

GRADES = ["major_nonconformity", "minor_nonconformity", "observation"]
STATES = ["open", "responded", "capa_planned", "verification", "reopened"]
CLAUSES = ["iso9001:2015/8.4", "iso9001:2015/8.7", "iso14001:2015/6.1", "iso45001:2018/8.1"]


async def tallies(session: AsyncSession) -> tuple[set[Any], set[Any], set[Any]]:
    return (*await read_tallies(session=session), await read_counts(session=session))


async def recount(session: AsyncSession) -> tuple[set[Any], set[Any], set[Any]]:
    return (*await recount_tallies(session=session), await recount_counts(session=session))


def row(rng: random.Random, **extra: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "source_system": "fuzz",
        "external_id": str(rng.randrange(60)),
        "created_by": "fuzz",
        "updated_by": "fuzz",
        "reference": f"FZ-{uuid.uuid4().hex[:10]}",
        "title": "t",
        "grade": rng.choice(GRADES),
        "severity": "medium",
        "clause_keys": rng.sample(CLAUSES, rng.randint(1, 3)),
        "condition": "c",
        "raised_at": datetime.now(UTC),
        "raised_by": "fuzz",
        "state": rng.choice(STATES),
        **extra,
    }


async def test_tallies_equal_a_recount_after_random_changes(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="tl")
    rng = random.Random(20261122)
    async with tenant_session(runtime, tenant.slug) as session:
        assert await tallies(session) == (set(), set(), set())
    table = Finding.__table__
    for _ in range(25):
        async with tenant_session(runtime, tenant.slug) as session:
            step = rng.choice(["insert", "upsert", "update_one", "update_many", "delete"])
            if step == "insert":
                await session.execute(
                    insert(table).values([row(rng, external_id=None) for _ in range(8)])
                )
            elif step == "upsert":
                # Same external ids again: some insert, some update (ON CONFLICT).
                rows = {r["external_id"]: r for r in (row(rng) for _ in range(10))}
                stmt = insert(table).values(list(rows.values()))
                stmt = stmt.on_conflict_do_update(
                    index_elements=["source_system", "external_id"],
                    set_={
                        "grade": stmt.excluded.grade,
                        "state": stmt.excluded.state,
                        "clause_keys": stmt.excluded.clause_keys,
                    },
                )
                await session.execute(stmt)
            elif step == "update_one":
                await session.execute(
                    update(table)
                    .where(table.c.id.in_(select(table.c.id).limit(1).scalar_subquery()))
                    .values(clause_keys=rng.sample(CLAUSES, 2), state=rng.choice(STATES))
                )
            elif step == "update_many":
                await session.execute(
                    update(table)
                    .where(table.c.grade == rng.choice(GRADES))
                    .values(grade=rng.choice(GRADES))
                )
            else:
                await session.execute(delete(table).where(table.c.state == rng.choice(STATES)))
        async with tenant_session(runtime, tenant.slug) as session:
            assert await tallies(session) == await recount(session), step
    async with tenant_session(runtime, tenant.slug) as session:
        counted = await tallies(session)
        assert counted[0], "the run left findings to count"
        # The workflow path: a response moves a finding between states.
        finding = await finding_workflow.raise_finding(
            session=session, data=finding_input(), actor="user:anna"
        )
        await finding_workflow.respond(
            session=session, finding=finding, actor="user:li", response="Checked"
        )
    async with tenant_session(runtime, tenant.slug) as session:
        assert await tallies(session) == await recount(session)


async def test_capa_action_tallies_follow_actions(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="ta")
    today = date.today()
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await finding_workflow.raise_finding(
            session=session, data=finding_input(), actor="user:anna"
        )
        capa = await capa_service.create_capa(
            session=session,
            data=capa_input(finding.id, actions=[action_input(), action_input(title="Second")]),
            actor="user:anna",
        )
        actions = await capa_service.list_actions(session=session, capa=capa)
    async with tenant_session(runtime, tenant.slug) as session:
        assert await tallies(session) == await recount(session)
        before = (await tallies(session))[1]
        assert sum(n for _, _, n in before) == len(actions)
        await capa_service.complete_action(
            session=session,
            action=await capa_service.get_action(session=session, action_id=actions[0].id),
            actor="user:li",
        )
        await session.execute(update(CapaAction.__table__).values(due_at=today - timedelta(days=3)))
    async with tenant_session(runtime, tenant.slug) as session:
        after = (await tallies(session))[1]
        assert after == (await recount(session))[1]
        assert {due for _, due, _ in after} == {today - timedelta(days=3)}
