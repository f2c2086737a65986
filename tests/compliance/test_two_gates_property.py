"""Property: every cross-tenant read passes both gates, at the best granted level, and no more.

A fixed pool of four tenants over both stores holds a few findings and incidents each
(created once). Each example writes random agreements (active, revoked, expired, not yet
valid) straight into the control plane, loads a random in-memory action gate (RACI
matrices over the pool) and reads as a random principal. The oracle is computed from the
random inputs alone — it calls neither ``grants_for`` nor ``authorize``. Then one agreement
that was used is revoked and the read repeated: the oracle must hold again at once.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, update

from accord.compliance.findings.models import Finding
from accord.compliance.incidents.models import IncidentReport
from accord.compliance.sharing.fields import AGGREGATE_DIMENSIONS
from accord.compliance.sharing.reads import SharedRead, read_records
from accord.compliance.sharing.registry import table_for
from accord.platform.runtime import Runtime
from accord.policies.compile import compile_matrix
from accord.policies.engine import PolicyEngine
from accord.policies.raci import Activity, Matrix, Party
from accord.policies.schemas import Principal
from accord.policies.vocab import Letter
from accord.tenants.agreements.models import Agreement
from accord.tenants.provisioning import create_tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, unique_slug
from tests.factories.sharing import SUMMARY_READER_SEES, raise_findings, report_incidents

POOL = 4
ROLES = ("admin", "quality_manager", "auditor", "executive", "viewer")
SUBJECTS = ("u1", "u2")
PROCESSES = ("p1", "p2")
TYPES = ("finding", "incident")
LEVELS = ("aggregate", "summary", "full")
STATES = ("active", "revoked", "expired", "pending")
PARENTS = {
    "quality_manager": {"auditor"},
    "auditor": {"contributor"},
    "executive": {"contributor"},
    "admin": {"contributor"},
    "contributor": {"viewer"},
    "viewer": set(),
}
#: per pool tenant: finding grades and incident severities (group sizes 1 to 3)
FINDINGS = (
    (("major_nonconformity", 3), ("observation", 1)),
    (("minor_nonconformity", 2),),
    (("major_nonconformity", 1), ("minor_nonconformity", 1), ("observation", 2)),
    (),
)
INCIDENTS = ((1, 1), (2, 2, 2, 1), (), (3, 3))
PLACEHOLDERS = tuple(f"t{i}" for i in range(POOL))


@dataclass
class Pool:
    slugs: tuple[str, ...]
    #: (tenant, record type) → {id: aggregate key}
    rows: dict[tuple[str, str], dict[uuid.UUID, tuple[object, ...]]] = field(default_factory=dict)


@pytest.fixture(scope="module")
async def pool(runtime: Runtime) -> AsyncIterator[Pool]:
    slugs = []
    for i in range(POOL):
        slug = unique_slug(f"p{i}")
        store = "home" if i % 2 == 0 else SECOND_STORE
        await create_tenant(
            runtime, slug=slug, legal_name="Pool Ltd", jurisdiction="DE", store=store
        )
        slugs.append(slug)
        await raise_findings(runtime, slug, *FINDINGS[i])
        await report_incidents(runtime, slug, *INCIDENTS[i])
    found = Pool(tuple(slugs))
    for slug in slugs:
        async with tenant_session(runtime, slug) as session:
            for record_type, model in (("finding", Finding), ("incident", IncidentReport)):
                dims = [getattr(model, d) for d in AGGREGATE_DIMENSIONS[record_type]]
                rows = (await session.execute(select(model.id, *dims))).all()
                found.rows[(slug, record_type)] = {r[0]: tuple(r[1:]) for r in rows}
    yield found
    async with runtime.control_session() as session:
        await session.execute(delete(Agreement).where(Agreement.grantor.in_(slugs)))


# ------------------------------------------------------------------ random inputs


@dataclass(frozen=True)
class Grant:
    grantor: int
    grantee: int
    types: frozenset[str]
    level: str
    min_group_size: int | None
    state: str
    id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True)
class Case:
    tenant: int
    subject: str
    roles: frozenset[str]
    record_type: str
    process: str | None
    grants: tuple[Grant, ...]
    matrices: tuple[Matrix, ...]


@st.composite
def grants(draw: st.DrawFn, reader: int, hot: list[int]) -> Grant:
    """Mostly to the reader's tenant from an owner the matrices govern, so that both gates
    are often open (and often only one of them)."""
    grantee = draw(st.sampled_from((reader, reader, reader, *range(POOL))))
    grantor = draw(st.sampled_from([i for i in (*hot, *hot, *range(POOL)) if i != grantee]))
    level = draw(st.sampled_from(LEVELS))
    return Grant(
        grantor=grantor,
        grantee=grantee,
        types=frozenset(draw(st.sets(st.sampled_from(TYPES), min_size=1))),
        level=level,
        min_group_size=draw(st.integers(2, 3)) if level == "aggregate" else None,
        state=draw(st.sampled_from(("active", "active", *STATES))),
    )


@st.composite
def matrices(draw: st.DrawFn, process: str, reader: int, held: list[Party]) -> Matrix:
    """Over the placeholder tenants ``t0``… (the pool's slugs are known only at run time);
    the reader's tenant is a party more often than chance would make it."""
    parties = [Party(t, role=r) for t in PLACEHOLDERS for r in ROLES]
    parties += [Party(t, subject=s) for t in PLACEHOLDERS for s in SUBJECTS]
    mine = [p for p in parties if p.tenant == PLACEHOLDERS[reader]]
    owners = tuple(
        draw(st.lists(st.sampled_from(PLACEHOLDERS), min_size=1, max_size=3, unique=True))
    )
    chosen = draw(st.lists(st.sampled_from(parties), min_size=1, max_size=3, unique=True))
    readers = [
        p
        for p in draw(st.lists(st.sampled_from(held + mine), min_size=1, max_size=2))
        if p not in chosen
    ]
    chosen += readers
    activities, cells = [], {}
    for i in range(draw(st.integers(1, 2))):
        name = f"activity {i}"
        activities.append(
            Activity(
                name=name,
                record_type=draw(st.sampled_from((*TYPES, *TYPES, "capa"))),
                actions=(),
                owners=tuple(draw(st.lists(st.sampled_from(owners), max_size=1))),
            )
        )
        accountable = draw(st.sampled_from(chosen))
        row = {}
        for party in chosen:
            letters = draw(
                st.sets(st.sampled_from((Letter.RESPONSIBLE, Letter.CONSULTED, Letter.INFORMED)))
            )
            letters |= {Letter.ACCOUNTABLE} if party == accountable else set()
            letters |= {Letter.INFORMED} if party in readers and draw(st.booleans()) else set()
            if letters:
                row[party.key] = frozenset(letters)
        cells[name] = row
    return Matrix(f"m {process}", process, owners, tuple(chosen), tuple(activities), cells)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    reader = draw(st.integers(0, POOL - 1))
    subject = draw(st.sampled_from(SUBJECTS))
    roles = draw(st.frozensets(st.sampled_from(ROLES), max_size=2))
    me = PLACEHOLDERS[reader]
    # Parties the reader holds (listed twice: likelier than the random ones).
    held = [Party(me, role=r) for r in sorted(closure(roles))] + [Party(me, subject=subject)]
    procs = draw(st.lists(st.sampled_from(PROCESSES), min_size=1, max_size=2, unique=True))
    drawn = tuple(draw(matrices(p, reader, held * 2)) for p in procs)
    hot = sorted({PLACEHOLDERS.index(o) for m in drawn for o in m.owners} - {reader})
    return Case(
        tenant=reader,
        subject=subject,
        roles=roles,
        record_type=draw(st.sampled_from(TYPES)),
        process=draw(st.sampled_from((*procs, *procs, *procs, None, "p9"))),
        grants=tuple(draw(st.lists(grants(reader, hot), min_size=1, max_size=6))),
        matrices=drawn,
    )


# ------------------------------------------------------------------ the oracle


def closure(roles: frozenset[str]) -> set[str]:
    out, todo = set(), list(roles)
    while todo:
        role = todo.pop()
        if role not in out:
            out.add(role)
            todo.extend(PARENTS[role])
    return out


def gate_reads(case: Case, me: str, owner: str) -> bool:
    """The action gate as documented: own members' baseline read, or any RACI letter."""
    mine = closure(case.roles)
    if owner == me and mine:
        return True
    for m in case.matrices:
        if m.process != case.process:
            continue
        for a in m.activities:
            if a.record_type != case.record_type or owner not in (a.owners or m.owners):
                continue
            for party in m.parties:
                holds = party.tenant == me and (
                    party.role in mine if party.role else party.subject == case.subject
                )
                if holds and m.letters(a.name, party.key):
                    return True
    return False


def expected(case: Case, slugs: tuple[str, ...]) -> dict[str, tuple[str, list[Grant]]]:
    """owner → (level, the agreements that could have granted it; [] for own records)."""
    me = PLACEHOLDERS[case.tenant]
    out: dict[str, tuple[str, list[Grant]]] = {}
    if gate_reads(case, me, me):
        out[me] = ("full", [])
    for g in case.grants:
        owner = PLACEHOLDERS[g.grantor]
        usable = g.grantee == case.tenant and g.state == "active"
        if not usable or case.record_type not in g.types or not gate_reads(case, me, owner):
            continue
        level, candidates = out.get(owner, ("", []))
        if not level or LEVELS.index(g.level) > LEVELS.index(level):
            out[owner] = (g.level, [g])
        elif g.level == level:
            candidates.append(g)
    return {slugs[PLACEHOLDERS.index(o)]: v for o, v in out.items()}


def materialize(matrix: Matrix, slugs: tuple[str, ...]) -> Matrix:
    """The matrix over the pool's slugs instead of the placeholders."""
    name = dict(zip(PLACEHOLDERS, slugs, strict=True))
    parties = {p.key: Party(name[p.tenant], p.role, p.subject) for p in matrix.parties}
    return Matrix(
        matrix.name,
        matrix.process,
        tuple(name[o] for o in matrix.owners),
        tuple(parties.values()),
        tuple(
            Activity(a.name, a.record_type, a.actions, tuple(name[o] for o in a.owners))
            for a in matrix.activities
        ),
        {a: {parties[k].key: v for k, v in row.items()} for a, row in matrix.cells.items()},
    )


def check(read: SharedRead, case: Case, pool: Pool) -> None:
    want = expected(case, pool.slugs)
    assert read.errors == []
    assert {p.owner: p.level.value for p in read.plan} == {o: lv for o, (lv, _) in want.items()}
    for planned in read.plan:
        _, candidates = want[planned.owner]
        assert planned.agreement_id in ({g.id for g in candidates} or {None})
    records = Counter(r["owner"] for r in read.records)
    groups = Counter(g.owner for g in read.aggregates)
    every = {c.key for c in table_for(case.record_type).c}
    for r in read.records:
        level, _ = want[r["owner"]]
        assert r["level"] == level != "aggregate"
        assert r["record_type"] == case.record_type
        shown = every if level == "full" else SUMMARY_READER_SEES[case.record_type]
        assert set(r["fields"]) == shown
        assert r["fields"]["id"] in pool.rows[(r["owner"], case.record_type)]
    for owner, (level, candidates) in want.items():
        rows = pool.rows[(owner, case.record_type)]
        if level != "aggregate":
            assert records[owner] == len(rows) and groups[owner] == 0
            continue
        assert records[owner] == 0
        [planned] = [p for p in read.plan if p.owner == owner]
        minimum = next(g.min_group_size for g in candidates if g.id == planned.agreement_id)
        assert minimum is not None
        # Each cell rounded to a multiple of the base (the minimum, at least 3), less
        # than one base away from its count; cells rounded to 0 left out.
        base = max(minimum, 3)
        cells = Counter(rows.values())
        got = {tuple(g.key.values()): g.count for g in read.aggregates if g.owner == owner}
        assert set(got) <= set(cells)
        for key, n in cells.items():
            released = got.get(key, 0)
            assert released % base == 0 and n - base < released < n + base, (key, n, got)
        assert {g.rounded_to for g in read.aggregates if g.owner == owner} <= {base}
    assert set(records) | set(groups) <= want.keys()


# ------------------------------------------------------------------ the property


async def write_agreements(runtime: Runtime, case: Case, pool: Pool) -> None:
    now = datetime.now(UTC)
    window = {
        "active": (now - timedelta(days=1), None),
        "revoked": (now - timedelta(days=1), None),
        "expired": (now - timedelta(days=2), now - timedelta(days=1)),
        "pending": (now + timedelta(days=1), None),
    }
    rows = [
        {
            "id": g.id,
            "grantor": pool.slugs[g.grantor],
            "grantee": pool.slugs[g.grantee],
            "record_types": sorted(g.types),
            "level": g.level,
            "min_group_size": g.min_group_size,
            "purpose": "property test",
            "valid_from": window[g.state][0],
            "valid_until": window[g.state][1],
            "state": "revoked" if g.state == "revoked" else "active",
            "proposed_by": "user:p",
            "proposed_at": now,
        }
        for g in case.grants
    ]
    async with runtime.control_session() as session:
        await session.execute(delete(Agreement).where(Agreement.grantor.in_(pool.slugs)))
        if rows:
            await session.execute(insert(Agreement), rows)


def engine_for(case: Case, pool: Pool) -> PolicyEngine:
    engine = PolicyEngine()
    rules = [r for m in case.matrices for r in compile_matrix(materialize(m, pool.slugs))]
    engine.load_all(rules, {})
    return engine


RUN = {"examples": 0, "revoked": 0}


@pytest.mark.slow
@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
async def test_every_read_passes_both_gates_at_the_granted_level(
    runtime: Runtime, pool: Pool, case: Case
) -> None:
    await write_agreements(runtime, case, pool)
    engine = engine_for(case, pool)
    principal = Principal(pool.slugs[case.tenant], case.subject, case.roles)

    async def read() -> SharedRead:
        return await read_records(
            runtime,
            authorizer=engine.for_request(),
            principal=principal,
            record_type=case.record_type,
            process=case.process,
        )

    first = await read()
    check(first, case, pool)
    RUN["examples"] += 1
    used = [p.agreement_id for p in first.plan if p.grant is not None]
    if not used:
        return
    async with runtime.control_session() as session:
        await session.execute(
            update(Agreement).where(Agreement.id == used[0]).values(state="revoked")
        )
    after = replace(
        case,
        grants=tuple(replace(g, state="revoked") if g.id == used[0] else g for g in case.grants),
    )
    second = await read()
    check(second, after, pool)
    assert used[0] not in {p.agreement_id for p in second.plan}
    RUN["revoked"] += 1


def test_the_property_ran_its_examples() -> None:
    """Runs after the property (file order): at least 500 examples, many with a revocation."""
    assert RUN["examples"] >= 500, RUN
    assert RUN["revoked"] >= 25, RUN
