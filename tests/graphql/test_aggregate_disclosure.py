"""Disclosure control for aggregate sharing, attacked through the API.

An aggregate-level owner's findings are read by a partner through every path that
releases numbers about it (``findingAggregates`` and ``networkDashboard``), twice before
and twice after one change; the attacker (``tests.attacker``) must pin no cell below the
minimum group size. Random populations (hypothesis), the published example of the leak
(9 minor findings and 3 hidden in two small cells), and a group of exactly the minimum
size, which is released as itself.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.compliance.findings.models import Finding
from accord.compliance.workflow import service as finding_workflow
from accord.policies import service as policy_service
from accord.tenants.models import Tenant
from accord.tenants.sessions import tenant_session
from tests.attacker import Released, linked_numbers_are_sums, pinned_cells
from tests.conftest import SECOND_STORE, TenantFactory
from tests.factories.records import finding_input
from tests.factories.sharing import grant
from tests.graphql.conftest import Api, follow_findings, new_process

GRADES = (
    "major_nonconformity",
    "minor_nonconformity",
    "observation",
    "opportunity_for_improvement",
)
NO_CAPA = {"observation", "opportunity_for_improvement"}
READ = """
query($p: String) {
  findingAggregates(process: $p) { groups { tenant grade state count roundedTo } }
  networkDashboard(process: $p) {
    tenants {
      tenant openByGrade openByState openByClause overdueCapaActions roundedTo
      suppressedGroups
    }
  }
}
"""

Cell = tuple[str, str]


@dataclass
class Reader:
    tenant: Tenant
    token: str


@pytest.fixture
async def reader(api: Api, make_tenant: TenantFactory) -> Reader:
    tenant = await make_tenant(label="rd")
    return Reader(tenant, await api.sign_in(tenant, "nadia", "quality_manager"))


async def populate(api: Api, owner: str, cells: list[Cell]) -> dict[Cell, list[Finding]]:
    """Findings of ``owner`` in these (grade, state) cells, through the finding protocol."""
    made: dict[Cell, list[Finding]] = {}
    async with tenant_session(api.runtime, owner) as session:
        for grade, state in cells:
            finding = await finding_workflow.raise_finding(
                session=session,
                data=finding_input(grade=grade, **({"criteria": None} if grade in NO_CAPA else {})),
                actor="user:anna.keller",
            )
            if state != "open":
                await finding_workflow.respond(
                    session=session, finding=finding, actor="user:li.wei", response="Noted."
                )
            if state == "closed":
                await finding_workflow.transition(
                    session=session, finding=finding, target="closed", actor="user:anna.keller"
                )
            made.setdefault((grade, state), []).append(finding)
    return made


async def change(
    api: Api, owner: str, made: dict[Cell, list[Finding]], kind: str, grade: str
) -> dict[Cell, int]:
    """One change to ``owner``'s findings; how each cell moved."""
    if kind == "raise":
        await populate(api, owner, [(grade, "open")])
        return {(grade, "open"): 1}
    source, target = ("open", "responded") if kind == "respond" else ("responded", "closed")
    finding = made[(grade, source)][0]
    async with tenant_session(api.runtime, owner) as session:
        current = await session.get(Finding, finding.id)
        assert current is not None
        if kind == "respond":
            await finding_workflow.respond(
                session=session, finding=current, actor="user:li.wei", response="Noted."
            )
        else:
            await finding_workflow.transition(
                session=session, finding=current, target="closed", actor="user:anna.keller"
            )
    return {(grade, source): -1, (grade, target): 1}


async def read(api: Api, reader: Reader, owner: str, process: str) -> Released:
    body = await api.post(READ, {"p": process}, token=reader.token)
    assert "errors" not in body, body
    return Released.of(owner, body["data"]["findingAggregates"], body["data"]["networkDashboard"])


async def settled(api: Api, reader: Reader, owner: str, process: str, base: int) -> Released:
    """A read once the dashboard's cache has heard of the last change (until then it shows
    the previous population, which the attacker has already seen), read twice: the same."""
    deadline = time.monotonic() + 10
    while True:
        seen = await read(api, reader, owner, process)
        try:
            linked_numbers_are_sums(seen, base)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
    assert await read(api, reader, owner, process) == seen, "a repeated read differs"
    return seen


async def attack(
    api: Api,
    reader: Reader,
    make_tenant: TenantFactory,
    *,
    cells: list[Cell],
    minimum: int,
    kind: str,
    grade: str,
) -> list[str]:
    owner = (await make_tenant(SECOND_STORE, label="ag")).slug
    await grant(api.runtime, owner, reader.tenant.slug, "aggregate", min_group_size=minimum)
    made = await populate(api, owner, cells)
    process = new_process()
    name = await api.import_matrix(follow_findings(process, owner, reader.tenant.slug))
    base = max(minimum, 3)
    try:
        before = await settled(api, reader, owner, process, base)
        delta = await change(api, owner, made, kind, grade)
        after = await settled(api, reader, owner, process, base)
    finally:
        async with api.runtime.control_session() as session:
            await policy_service.delete_matrix(session=session, name=name)
    truth = {cell: len(found) for cell, found in made.items()}
    return pinned_cells(before, after, truth, delta, minimum, base)


@st.composite
def populations(draw: st.DrawFn) -> tuple[list[Cell], int, str, str]:
    grades = st.sampled_from(GRADES)
    cells: list[Cell] = []
    for grade in draw(st.lists(grades, max_size=12)):
        states = ["open", "responded", *(["closed"] if grade in NO_CAPA else [])]
        cells.append((grade, draw(st.sampled_from(states))))
    minimum = draw(st.integers(2, 5))
    changes = [("raise", g) for g in GRADES]
    changes += [("respond", g) for g, s in cells if s == "open"]
    changes += [("close", g) for g, s in cells if s == "responded" and g in NO_CAPA]
    kind, grade = draw(st.sampled_from(sorted(set(changes))))
    return cells, minimum, kind, grade


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=populations())
async def test_no_released_number_pins_a_small_cell_of_a_random_population(
    api: Api, reader: Reader, make_tenant: TenantFactory, case: tuple[list[Cell], int, str, str]
) -> None:
    cells, minimum, kind, grade = case
    problems = await attack(
        api, reader, make_tenant, cells=cells, minimum=minimum, kind=kind, grade=grade
    )
    assert problems == []


async def test_the_published_leak_no_longer_pins_the_hidden_cells(
    api: Api, reader: Reader, make_tenant: TenantFactory
) -> None:
    """9 minor findings, and 3 in two cells below the minimum of 3 (1 major, 2
    observations): per-table suppression released grade {minor: 9}, state {open: 12} and
    two withheld cells, so the hidden cells were 1 and 2. Then one more major is raised."""
    cells = [
        *[("minor_nonconformity", "open")] * 9,
        ("major_nonconformity", "open"),
        *[("observation", "open")] * 2,
    ]
    problems = await attack(
        api, reader, make_tenant, cells=cells, minimum=3, kind="raise", grade="major_nonconformity"
    )
    assert problems == []


async def test_a_group_of_exactly_the_minimum_size_is_released_as_itself(
    api: Api, reader: Reader, make_tenant: TenantFactory
) -> None:
    """Whatever a cell's offset, a group of exactly the minimum size rounds to itself: on the
    dashboard, in its counts per grade and per state, and in findingAggregates."""
    for minimum in (3, 4):
        owner = (await make_tenant(SECOND_STORE, label="ex")).slug
        await grant(api.runtime, owner, reader.tenant.slug, "aggregate", min_group_size=minimum)
        await populate(
            api,
            owner,
            [("minor_nonconformity", "open")] * minimum + [("observation", "responded")] * minimum,
        )
        process = new_process()
        name = await api.import_matrix(follow_findings(process, owner, reader.tenant.slug))
        try:
            seen = await settled(api, reader, owner, process, minimum)
        finally:
            async with api.runtime.control_session() as session:
                await policy_service.delete_matrix(session=session, name=name)
        assert seen.cells == {
            ("minor_nonconformity", "open"): minimum,
            ("observation", "responded"): minimum,
        }
        assert seen.by_grade == {"minor_nonconformity": minimum, "observation": minimum}
        assert seen.by_state == {"open": minimum, "responded": minimum}
