"""CAPA across organisations: approval, actions by partners' people, the independent
effectiveness check, and coverage per finding under several standards."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.capa import flows as capa_flows
from accord.compliance.capa import service as capa_service
from accord.compliance.capa.flows import Person
from accord.compliance.capa.models import ActionStatus, Capa, CapaAction, EffectivenessResult
from accord.compliance.capa.states import CapaState
from accord.compliance.crosswalk import MappingEdge
from accord.compliance.findings.models import Finding
from accord.compliance.mappings import service as mapping_service
from accord.compliance.vocab import Coverage, MappingMethod, MappingStatus, Relationship
from accord.compliance.workflow import service as finding_workflow
from accord.platform.clock import today
from accord.platform.errors import AccordError, BadInput, Conflict, Forbidden
from accord.platform.eventlog import verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.models import Tenant
from accord.tenants.provisioning import create_tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import unique_slug
from tests.factories.records import (
    AUDITOR,
    FIVE_WHYS,
    action_input,
    assert_refused,
    capa_input,
    events,
    finding_input,
)

pytestmark = pytest.mark.usefixtures("synced_catalog")

PARTNER = "northwind"
KAI = f"user:{PARTNER}/kai"  # a partner's person who owns an action
MARIA = f"user:{PARTNER}/maria"  # the partner's Accountable party
Q84, Q102 = "iso9001:2015/8.4", "iso9001:2015/10.2"
E81, E75, E102 = "iso14001:2015/8.1", "iso14001:2015/7.5", "iso14001:2015/10.2"

Call = Callable[[AsyncSession], Awaitable[object]]


@pytest.fixture(scope="module")
async def tenant(runtime: Runtime) -> Tenant:
    tenant = await create_tenant(
        runtime,
        slug=unique_slug("xcapa"),
        legal_name="Globex Components Inc.",
        jurisdiction="US",
        store="home",
    )
    async with tenant_session(runtime, tenant.slug) as session:
        for target, relationship, status in (
            (E81, Relationship.INTERSECTS, MappingStatus.APPROVED),
            (E75, Relationship.EQUAL, MappingStatus.DRAFT),  # not reviewed: claims nothing
        ):
            await mapping_service.add_tenant_mapping(
                session=session,
                actor=AUDITOR,
                source_key=Q84,
                target_key=target,
                relationship=relationship,
                status=status,
            )
    return tenant


def of(tenant: Tenant, subject: str) -> str:
    return f"user:{tenant.slug}/{subject}"


async def planned(runtime: Runtime, tenant: Tenant, **overrides: Any) -> uuid.UUID:
    """A finding and a CAPA for it proposed by globex's li: one action of li, one of kai."""
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await finding_workflow.raise_finding(
            session=session, data=finding_input(), actor=AUDITOR
        )
        values: dict[str, Any] = {
            "root_cause": FIVE_WHYS,
            "actions": [
                action_input(owner="user:li", owner_tenant=tenant.slug),
                action_input(title="Add review dates", owner="user:kai", owner_tenant=PARTNER),
            ],
        }
        values.update(overrides)
        capa = await capa_service.create_capa(
            session=session, data=capa_input(finding.id, **values), actor=of(tenant, "li")
        )
        return capa.id


async def actions_of(session: AsyncSession, capa_id: uuid.UUID) -> list[CapaAction]:
    """The CAPA's actions, the owner's before the partner's."""
    capa = await capa_service.get_capa(session=session, capa_id=capa_id)
    actions = await capa_service.list_actions(session=session, capa=capa)
    return sorted(actions, key=lambda a: a.owner_tenant == PARTNER)


async def state_of(runtime: Runtime, tenant: Tenant, capa_id: uuid.UUID) -> CapaState:
    async with tenant_session(runtime, tenant.slug) as session:
        return (await capa_service.get_capa(session=session, capa_id=capa_id)).state


async def run(runtime: Runtime, tenant: Tenant, call: Call) -> object:
    async with tenant_session(runtime, tenant.slug) as session:
        return await call(session)


def on_capa(capa_id: uuid.UUID, step: Callable[[AsyncSession, Capa], Awaitable[object]]) -> Call:
    async def call(session: AsyncSession) -> object:
        return await step(session, await capa_service.get_capa(session=session, capa_id=capa_id))

    return call


def approve(capa_id: uuid.UUID, actor: str) -> Call:
    async def step(session: AsyncSession, capa: Capa) -> object:
        return await capa_flows.approve_plan(session=session, capa=capa, actor=actor)

    return on_capa(capa_id, step)


def complete(action_id: uuid.UUID, actor: str) -> Call:
    async def call(session: AsyncSession) -> object:
        action = await capa_service.get_action(session=session, action_id=action_id)
        return await capa_flows.complete_action_as(session=session, action=action, actor=actor)

    return call


def plan_check(capa_id: uuid.UUID, tenant: Tenant, after_days: int, verifier: str) -> Call:
    person = Person.of(verifier)

    async def step(session: AsyncSession, capa: Capa) -> object:
        return await capa_flows.plan_effectiveness_check(
            session=session,
            capa=capa,
            owner=tenant.slug,
            check={
                "after_days": after_days,
                "verifier": {"tenant": person.tenant, "subject": person.subject},
            },
            actor=of(tenant, "li"),
        )

    return on_capa(capa_id, step)


def judge(
    capa_id: uuid.UUID, tenant: Tenant, actor: str, result: str = "effective", **kw: Any
) -> Call:
    async def step(session: AsyncSession, capa: Capa) -> object:
        return await capa_flows.record_effectiveness(
            session=session, capa=capa, owner=tenant.slug, result=result, actor=actor, **kw
        )

    return on_capa(capa_id, step)


# --------------------------------------------------------------------------- people


@pytest.mark.parametrize(
    ("name", "tenant", "expected"),
    [
        ("user:globex/li", None, Person("globex", "li")),
        ("globex/li", "other", Person("globex", "li")),
        ("user:li", "globex", Person("globex", "li")),
        (" li ", None, Person(None, "li")),
        ("system:sap-sync", None, Person(None, "system:sap-sync")),
    ],
)
def test_people_are_named_with_or_without_their_tenant(
    name: str, tenant: str | None, expected: Person
) -> None:
    assert Person.of(name, tenant) == expected


def test_a_person_without_a_tenant_may_be_anyone_of_that_name() -> None:
    assert Person(None, "li").may_be(Person("globex", "li"))
    assert Person("globex", "li").may_be(Person("globex", "li"))
    assert not Person("globex", "li").may_be(Person("northwind", "li"))
    assert not Person(None, "li").may_be(Person(None, "kai"))


# --------------------------------------------------------------------------- approval


async def test_the_plan_is_approved_once_and_never_by_its_proposer(
    runtime: Runtime, tenant: Tenant
) -> None:
    capa_id = await planned(runtime, tenant)
    for proposer in (of(tenant, "li"), "user:li", "li"):
        call = approve(capa_id, proposer)
        await assert_refused(runtime, tenant.slug, call, error=Forbidden, reason="OWN_PLAN")
    await run(runtime, tenant, approve(capa_id, MARIA))
    again = approve(capa_id, MARIA)
    await assert_refused(runtime, tenant.slug, again, error=Conflict, reason="ALREADY_APPROVED")
    async with tenant_session(runtime, tenant.slug) as session:
        log = await events(session, capa_id)
    assert await state_of(runtime, tenant, capa_id) is CapaState.APPROVED
    assert [(e.action, e.actor, e.change) for e in log[1:]] == [
        ("capa.transition", MARIA, {"from": "planned", "to": "approved"})
    ]


async def test_a_plan_without_root_cause_or_actions_is_not_approved(
    runtime: Runtime, tenant: Tenant
) -> None:
    for overrides, reason in (
        ({"root_cause": None}, "ROOT_CAUSE_REQUIRED"),
        ({"actions": []}, "CAPA_WITHOUT_ACTIONS"),
    ):
        capa_id = await planned(runtime, tenant, **overrides)
        call = approve(capa_id, MARIA)
        await assert_refused(runtime, tenant.slug, call, error=Conflict, reason=reason)


# --------------------------------------------------------------------------- actions


async def test_each_action_is_completed_by_its_owner_even_from_a_partner(
    runtime: Runtime, tenant: Tenant
) -> None:
    capa_id = await planned(runtime, tenant)
    async with tenant_session(runtime, tenant.slug) as session:
        mine, partners = await actions_of(session, capa_id)
    assert (partners.owner, partners.owner_tenant) == ("user:kai", PARTNER)

    for actor, error, reason in (
        (of(tenant, "kai"), Forbidden, "NOT_ACTION_OWNER"),  # a kai, but of the owner
        (MARIA, Forbidden, "NOT_ACTION_OWNER"),  # the owner tenant, someone else
        ("user:kai", Forbidden, "ACTOR_WITHOUT_TENANT"),
        (KAI, Conflict, "PLAN_NOT_APPROVED"),
    ):
        call = complete(partners.id, actor)
        await assert_refused(runtime, tenant.slug, call, error=error, reason=reason)

    await run(runtime, tenant, approve(capa_id, MARIA))
    await run(runtime, tenant, complete(partners.id, KAI))
    assert await state_of(runtime, tenant, capa_id) is CapaState.IN_PROGRESS
    call = complete(partners.id, KAI)
    await assert_refused(runtime, tenant.slug, call, error=Conflict, reason="ACTION_ALREADY_DONE")
    await run(runtime, tenant, complete(mine.id, of(tenant, "li")))

    async with tenant_session(runtime, tenant.slug) as session:
        done = await actions_of(session, capa_id)
        log = await events(session, capa_id)
        assert (await verify_chain(session)).ok
    assert [(a.status, a.completed_by) for a in done] == [
        (ActionStatus.DONE, of(tenant, "li")),
        (ActionStatus.DONE, KAI),
    ]
    assert [(e.action, e.actor, e.change.get("to")) for e in log[2:]] == [
        ("capa.transition", KAI, "in_progress"),
        ("capa.action_completed", KAI, None),
        ("capa.action_completed", of(tenant, "li"), None),
        ("capa.transition", of(tenant, "li"), "implemented"),
    ]
    assert await state_of(runtime, tenant, capa_id) is CapaState.IMPLEMENTED


# --------------------------------------------------------------------------- effectiveness


async def implemented(runtime: Runtime, tenant: Tenant) -> uuid.UUID:
    capa_id = await planned(runtime, tenant)
    await run(runtime, tenant, approve(capa_id, MARIA))
    async with tenant_session(runtime, tenant.slug) as session:
        mine, partners = await actions_of(session, capa_id)
    await run(runtime, tenant, complete(mine.id, of(tenant, "li")))
    await run(runtime, tenant, complete(partners.id, KAI))
    return capa_id


@pytest.mark.parametrize(
    ("after_days", "verifier", "error", "reason", "field"),
    [
        (30, "user:{owner}/ops", BadInput, "VERIFIER_IS_OWNER", "verifier.tenant"),
        (30, KAI, BadInput, "VERIFIER_NOT_INDEPENDENT", "verifier.tenant"),  # owns an action
        (0, "user:meridian/tom", BadInput, "OUT_OF_RANGE", "after_days"),
        (1096, "user:meridian/tom", BadInput, "OUT_OF_RANGE", "after_days"),
    ],
)
async def test_the_check_is_planned_days_ahead_by_another_party(
    runtime: Runtime,
    tenant: Tenant,
    after_days: int,
    verifier: str,
    error: type[AccordError],
    reason: str,
    field: str,
) -> None:
    capa_id = await implemented(runtime, tenant)
    call = plan_check(capa_id, tenant, after_days, verifier.format(owner=tenant.slug))
    await assert_refused(runtime, tenant.slug, call, error=error, reason=reason, field=field)


async def test_only_the_planned_verifier_judges_and_only_once_due(
    runtime: Runtime, tenant: Tenant
) -> None:
    capa_id = await implemented(runtime, tenant)
    verifier = "user:meridian/tom"
    await run(runtime, tenant, plan_check(capa_id, tenant, 30, verifier))
    async with tenant_session(runtime, tenant.slug) as session:
        capa = await capa_service.get_capa(session=session, capa_id=capa_id)
    assert capa.state is CapaState.EFFECTIVENESS_CHECK  # implemented: the check is under way
    assert capa.effectiveness_due_at == today() + timedelta(days=30)
    assert (capa.effectiveness_verifier_subject, capa.effectiveness_verifier_tenant) == (
        "tom",
        "meridian",
    )
    replan = plan_check(capa_id, tenant, 10, "user:meridian/tom")
    await assert_refused(runtime, tenant.slug, replan, error=Conflict, reason="CHECK_UNDER_WAY")

    due = today() + timedelta(days=30)
    for actor, on, error, reason in (
        (of(tenant, "ops"), due, Forbidden, "OWNER_CANNOT_VERIFY"),
        ("user:meridian/ann", due, Forbidden, "NOT_THE_VERIFIER"),
        (MARIA, due, Forbidden, "NOT_THE_VERIFIER"),
        ("user:tom", due, Forbidden, "ACTOR_WITHOUT_TENANT"),
        (verifier, due - timedelta(days=1), Conflict, "EFFECTIVENESS_NOT_DUE"),
    ):
        call = judge(capa_id, tenant, actor, today=on)
        await assert_refused(runtime, tenant.slug, call, error=error, reason=reason)

    await run(runtime, tenant, judge(capa_id, tenant, verifier, today=due))
    async with tenant_session(runtime, tenant.slug) as session:
        capa = await capa_service.get_capa(session=session, capa_id=capa_id)
        log = await events(session, capa_id)
    assert (capa.state, capa.effectiveness_result) == (
        CapaState.CLOSED,
        EffectivenessResult.EFFECTIVE,
    )
    assert (capa.effectiveness_checked_by, capa.closed_by) == (verifier, verifier)
    assert [e.action for e in log][-2:] == ["capa.effectiveness_recorded", "capa.transition"]


async def test_not_effective_sends_the_capa_back_to_work(runtime: Runtime, tenant: Tenant) -> None:
    capa_id = await planned(runtime, tenant)
    await run(runtime, tenant, plan_check(capa_id, tenant, 1, "user:meridian/tom"))
    assert await state_of(runtime, tenant, capa_id) is CapaState.PLANNED  # planned early
    await run(runtime, tenant, approve(capa_id, MARIA))
    async with tenant_session(runtime, tenant.slug) as session:
        mine, partners = await actions_of(session, capa_id)
    await run(runtime, tenant, complete(mine.id, of(tenant, "li")))
    await run(runtime, tenant, complete(partners.id, KAI))
    assert await state_of(runtime, tenant, capa_id) is CapaState.EFFECTIVENESS_CHECK
    late = today() + timedelta(days=5)
    await run(runtime, tenant, judge(capa_id, tenant, "meridian/tom", "not_effective", today=late))
    assert await state_of(runtime, tenant, capa_id) is CapaState.IN_PROGRESS


# --------------------------------------------------------------------------- coverage


def edge(source: str, target: str, rel: Relationship) -> MappingEdge:
    return MappingEdge(source, target, rel, 7, "global", MappingMethod.HUMAN, None, "approved")


def finding(reference: str, *keys: str) -> Finding:
    return Finding(id=uuid.uuid4(), reference=reference, clause_keys=list(keys))


def test_coverage_is_given_per_finding_and_per_clause() -> None:
    quality, environment, mixed = (
        finding("NC-Q", Q84),
        finding("NC-E", E81),
        finding("NC-M", Q84, E75),
    )
    covered = capa_flows.coverage_of(
        scope=[Q84],
        findings=[quality, environment, mixed],
        edges=[edge(Q84, E81, Relationship.INTERSECTS), edge(E75, Q84, Relationship.EQUAL)],
    )
    assert [
        (c.finding.reference, c.coverage, [(k.clause, k.coverage) for k in c.clauses])
        for c in covered
    ] == [
        ("NC-Q", Coverage.FULL, [(Q84, Coverage.FULL)]),
        ("NC-E", Coverage.PARTIAL, [(E81, Coverage.PARTIAL)]),
        ("NC-M", Coverage.PARTIAL, [(Q84, Coverage.FULL), (E75, Coverage.NONE)]),
    ]


async def test_a_capa_covers_findings_of_several_standards_as_the_crosswalk_says(
    runtime: Runtime, tenant: Tenant
) -> None:
    async with tenant_session(runtime, tenant.slug) as session:
        raised = [
            await finding_workflow.raise_finding(
                session=session, data=finding_input(clause_keys=keys), actor=AUDITOR
            )
            for keys in ([Q84], [E81], [E102], [Q84, E75])
        ]
        capa = await capa_service.create_capa(
            session=session,
            data=capa_input(*(f.id for f in raised), clause_keys=[Q84, Q102]),
            actor=of(tenant, "li"),
        )
    async with tenant_session(runtime, tenant.slug) as session:
        capa = await capa_service.get_capa(session=session, capa_id=capa.id)
        covered = await capa_flows.coverage_by_finding(
            session=session, capa=capa, owner=tenant.slug
        )
    by_finding = {c.finding.id: c for c in covered}
    assert [c.finding.reference for c in covered] == sorted(f.reference for f in raised)
    expected = [
        (Coverage.FULL, [(Q84, Coverage.FULL)]),  # in the CAPA's clauses
        (Coverage.PARTIAL, [(E81, Coverage.PARTIAL)]),  # the tenant's `intersects` mapping
        (Coverage.FULL, [(E102, Coverage.FULL)]),  # the Harmonized Structure: `equal`
        (Coverage.PARTIAL, [(Q84, Coverage.FULL), (E75, Coverage.NONE)]),  # a draft: nothing
    ]
    assert [
        (by_finding[f.id].coverage, [(k.clause, k.coverage) for k in by_finding[f.id].clauses])
        for f in raised
    ] == expected
