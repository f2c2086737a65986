"""Property: a mutation given the id of a record its caller may not see learns nothing and
changes nothing.

Every mutation of the schema that takes an ``ID`` or a ``UUID`` (found in the committed
SDL, so a new one is covered without being listed) is called over HTTP by a random member
of a random tenant of a fixed pool (three tenants over both stores, each holding a finding,
an audit, a CAPA with an action, a management review and a proposed transfer), on a random
network of agreements, with a random RACI process. Each record the caller may not see —
as the read API answers it for the same process — is probed next to an id of the same type
and owner that names nothing: the two answers must be equal once the ids are replaced by a
placeholder, and no table of any pool tenant nor of the control plane may change.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select

from accord.compliance.audits import service as audit_service
from accord.compliance.capa import service as capa_service
from accord.compliance.capa.models import CapaAction
from accord.compliance.reviews import service as review_service
from accord.compliance.workflow.transfers import flows as transfer_flows
from accord.platform import clock
from accord.platform.runtime import Runtime
from accord.policies import service as policy_service
from accord.tenants.agreements.models import Agreement
from accord.tenants.models import Tenant
from accord.tenants.provisioning import create_tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, unique_slug
from tests.factories import raci
from tests.graphql.conftest import Api, raise_findings
from tests.graphql.operations import RootField, global_id, id_slots, operation, root_fields
from tests.graphql.probes import changed, normalised, snapshot

POOL = 3
ROLES = ("admin", "quality_manager", "auditor", "executive", "viewer")
RECORD_TYPES = ("finding", "audit", "capa", "management_review")
LEVELS = ("aggregate", "summary", "full")
#: Record kind → the query that reads one by id (None: transfers, listed per party).
READERS = {
    "Finding": "finding",
    "Audit": "audit",
    "Capa": "capa",
    "ManagementReview": "managementReview",
    "Transfer": None,
}
#: Words in a mutation's or argument's name that say which kind of record an id names.
KEYWORDS = {
    "finding": "Finding",
    "audit": "Audit",
    "capa": "Capa",
    "review": "ManagementReview",
    "transfer": "Transfer",
}
TENANT_ARGUMENTS = frozenset(
    {"tenant", "auditedTenant", "ownerTenant", "verifierTenant", "leadTenant"}
)
PROBED = [r for r in root_fields() if r.operation == "mutation" and id_slots(r)]


@dataclass(frozen=True)
class Record:
    kind: str
    owner: str
    id: uuid.UUID
    #: the UUID a ``UUID`` argument gets alongside (a CAPA's action); default: ``id``
    inner: uuid.UUID | None = None

    @property
    def gid(self) -> str:
        if self.kind == "Transfer":  # named by its sender, the owner here
            return global_id(f"FindingTransfer:{self.owner}:{self.id}")
        return global_id(f"{self.kind}:{self.owner}:{self.id}")

    @property
    def raw(self) -> uuid.UUID:
        return self.inner or self.id

    def fabricated(self) -> Record:
        """An id of the same kind and owner that names nothing."""
        return Record(self.kind, self.owner, uuid.uuid4(), uuid.uuid4() if self.inner else None)


@dataclass
class Pool:
    tenants: tuple[Tenant, ...]
    records: list[Record] = field(default_factory=list)
    tokens: dict[tuple[int, frozenset[str]], str] = field(default_factory=dict)
    process: str = ""

    @property
    def slugs(self) -> tuple[str, ...]:
        return tuple(t.slug for t in self.tenants)


async def _records(runtime: Runtime, slug: str, receiver: str) -> list[Record]:
    kept, moving, linked = await raise_findings(runtime, slug, 3)
    actor = f"user:{slug}/anna"
    async with tenant_session(runtime, slug) as session:
        audit = await audit_service.create_audit(
            session=session,
            actor=actor,
            data={
                "programme": "Supplier quality",
                "type": "joint",
                "title": "Joint audit",
                "scope": "Purchasing",
                "clause_keys": ["iso9001:2015/8.4"],
                "lead_tenant": slug,
                "audited_tenant": slug,
                "window_start": date(2026, 5, 1),
                "window_end": date(2026, 5, 5),
            },
        )
        capa = await capa_service.create_capa(
            session=session,
            actor=actor,
            data={
                "reference": "CAPA-1",
                "title": "Restore supplier monitoring",
                "finding_ids": [uuid.UUID(linked)],
                "clause_keys": ["iso9001:2015/8.4"],
                "actions": [
                    {
                        "title": "Re-evaluate suppliers",
                        "owner": "anna",
                        "owner_tenant": slug,
                        "due_at": date(2030, 1, 1),
                    }
                ],
            },
        )
        action = await session.scalar(select(CapaAction.id).where(CapaAction.capa_id == capa.id))
        review = await review_service.create_review(
            session=session,
            actor=actor,
            data={
                "title": "Management review",
                "period_start": date(2026, 1, 1),
                "period_end": date(2026, 3, 31),
                "standards": ["iso9001:2015"],
                "minutes": "Minutes.",
            },
        )
    transfer = await transfer_flows.propose_transfer(
        runtime,
        finding_id=uuid.UUID(moving),
        from_tenant=slug,
        to_tenant=receiver,
        reason="The supplier's nonconformity.",
        tenant=slug,
        actor=actor,
    )
    return [
        Record("Finding", slug, uuid.UUID(kept)),
        Record("Finding", slug, uuid.UUID(linked)),
        Record("Audit", slug, audit.id),
        Record("Capa", slug, capa.id, action),
        Record("ManagementReview", slug, review.id),
        Record("Transfer", slug, transfer.id),
    ]


def matrix(process: str, slugs: tuple[str, ...]) -> str:
    """The first tenant's quality managers are Accountable for every record type of the
    pool, the second's Informed, the third's auditors Responsible."""
    a, i, r = (
        f"role:{slugs[0]}/quality_manager",
        f"role:{slugs[1]}/quality_manager",
        f"role:{slugs[2]}/auditor",
    )
    return raci.matrix(
        name=f"Probes {process}",
        process=process,
        owners=slugs,
        activities=[
            raci.Activity(f"Work on {t}", t, ["close", "verify", "respond"]) for t in RECORD_TYPES
        ],
        raci={f"Work on {t}": {a: "A", i: "I", r: "R"} for t in RECORD_TYPES},
    )


@pytest.fixture(scope="module")
async def pool(runtime: Runtime) -> AsyncIterator[Pool]:
    slugs = [unique_slug(f"mp{i}") for i in range(POOL)]
    for i, slug in enumerate(slugs):
        store = SECOND_STORE if i == 1 else "home"
        await create_tenant(
            runtime, slug=slug, legal_name="Probe Ltd", jurisdiction="DE", store=store
        )
    async with runtime.control_session() as session:
        tenants = (await session.scalars(select(Tenant).where(Tenant.slug.in_(slugs)))).all()
    found = Pool(tuple(sorted(tenants, key=lambda t: slugs.index(t.slug))))
    with clock.use(clock.FixedClock(datetime(2026, 6, 1, 9, tzinfo=UTC))):
        for i, slug in enumerate(slugs):
            found.records += await _records(runtime, slug, slugs[(i + 1) % POOL])
    yield found
    async with runtime.control_session() as session:
        await session.execute(delete(Agreement).where(Agreement.grantor.in_(slugs)))
        if found.process:
            await policy_service.delete_matrix(session=session, name=f"Probes {found.process}")


# ------------------------------------------------------------------ random inputs


@st.composite
def agreements(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for grantor, grantee in draw(
        st.lists(st.tuples(st.integers(0, POOL - 1), st.integers(0, POOL - 1)), max_size=5)
    ):
        if grantor == grantee:
            continue
        level = draw(st.sampled_from(LEVELS))
        rows.append(
            {
                "grantor": grantor,
                "grantee": grantee,
                "record_types": sorted(draw(st.sets(st.sampled_from(RECORD_TYPES), min_size=1))),
                "level": level,
                "min_group_size": 2 if level == "aggregate" else None,
            }
        )
    return rows


async def write_agreements(runtime: Runtime, pool: Pool, drawn: list[dict[str, Any]]) -> None:
    now = clock.now()
    rows = [
        {
            **row,
            "id": uuid.uuid4(),
            "grantor": pool.slugs[row["grantor"]],
            "grantee": pool.slugs[row["grantee"]],
            "purpose": "probe test",
            "valid_from": now - timedelta(days=1),
            "valid_until": None,
            "state": "active",
            "proposed_by": "user:p",
            "proposed_at": now,
        }
        for row in drawn
    ]
    async with runtime.control_session() as session:
        await session.execute(delete(Agreement).where(Agreement.grantor.in_(pool.slugs)))
        if rows:
            await session.execute(insert(Agreement), rows)


def kind_of(root: RootField) -> str | None:
    """The kind of record a mutation's ids name, by its names (the slot's first)."""
    for path, _ in id_slots(root):
        for word, kind in KEYWORDS.items():
            if word in path[-1].lower():
                return kind
    last = None
    for word, kind in KEYWORDS.items():
        at = root.name.lower().rfind(word)
        if at >= 0 and (last is None or at > last[0]):
            last = (at, kind)
    return last[1] if last else None


# ------------------------------------------------------------------ the property


async def visible(api: Api, token: str, record: Record, process: str | None) -> bool:
    reader = READERS[record.kind]
    assert reader is not None
    body = await api.post(
        f"query($id: ID!, $p: String) {{ {reader}(id: $id, process: $p) {{ id }} }}",
        {"id": record.gid, "p": process},
        token=token,
    )
    return bool((body.get("data") or {}).get(reader))


async def transfers_seen(api: Api, token: str) -> set[str]:
    body = await api.post("{ findingTransfers { id } }", token=token)
    return {t["id"] for t in ((body.get("data") or {}).get("findingTransfers") or [])}


def arguments(root: RootField, record: Record, caller: str, process: str | None) -> Any:
    def choose(path: tuple[str, ...], type_name: str) -> Any:
        name = path[-1]
        if type_name == "ID":
            return record.gid
        if type_name == "UUID":
            return str(record.raw)
        if name == "process" and process is not None:
            return process
        if name == "to":
            return caller
        if name in TENANT_ARGUMENTS:
            return record.owner
        return ...

    return operation(root, choose)


RUN: Counter[str] = Counter()


@pytest.mark.slow
@settings(
    max_examples=8,
    deadline=None,
    phases=(Phase.explicit, Phase.generate),  # a failing example is reported as found
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_a_mutation_on_a_record_the_caller_may_not_see_learns_and_changes_nothing(
    api: Api, pool: Pool, data: st.DataObject
) -> None:
    if not pool.process:
        pool.process = f"probes-{uuid.uuid4().hex[:8]}"
        await api.import_matrix(matrix(pool.process, pool.slugs))
    caller = data.draw(st.integers(0, POOL - 1), label="caller")
    roles = data.draw(st.frozensets(st.sampled_from(ROLES), max_size=2), label="roles")
    process = data.draw(st.sampled_from((pool.process, pool.process, None)), label="process")
    await write_agreements(api.runtime, pool, data.draw(agreements(), label="agreements"))
    own = pool.slugs[caller]
    if (caller, roles) not in pool.tokens:
        subject = f"u{len(pool.tokens)}"
        pool.tokens[(caller, roles)] = await api.sign_in(pool.tenants[caller], subject, *roles)
    token = pool.tokens[(caller, roles)]

    listed = await transfers_seen(api, token)
    hidden = []
    for record in pool.records:
        if record.kind == "Transfer":
            seen = record.gid in listed
        else:
            seen = await visible(api, token, record, process)
        if not seen:
            hidden.append(record)
    if not hidden:
        return

    for root in PROBED:
        kind = kind_of(root)
        matching = [r for r in hidden if r.kind == kind]
        candidates = matching if matching and data.draw(st.integers(0, 4)) else hidden
        record = data.draw(st.sampled_from(candidates), label=root.name)
        answers = []
        before = await snapshot(api.runtime, pool.slugs)
        for probe in (record, record.fabricated()):
            document, variables = arguments(root, probe, own, process)
            body = await api.post(document, variables, token=token)
            answers.append(normalised(body, probe.gid, probe.raw, probe.id))
        assert answers[0] == answers[1], f"{root.name} {record}: {answers}"
        after = await snapshot(api.runtime, pool.slugs)
        assert changed(before, after) == [], f"{root.name} {record} {own} {roles} {process}"
        RUN[root.name] += record.kind == kind
    RUN["examples"] += 1


def test_every_mutation_with_ids_was_probed() -> None:
    """Runs after the property (file order): each mutation that takes an id was probed
    with a record of the kind it names, and the property ran its examples."""
    assert PROBED
    assert RUN["examples"] >= 4, RUN
    missing = [r.name for r in PROBED if kind_of(r) is not None and not RUN[r.name]]
    assert missing == [], RUN
