"""Cross-tenant reads: the declared field lists, both gates, levels, the log, partial data.

The DEMO story in miniature: northwind's quality manager reads the findings of globex
(second store, ``full``), meridian (``summary``) and initech (second store, ``aggregate``
with a minimum group size of 3), holding an Informed role in the supplier-quality process
that governs those owners' findings.

An unreachable owner is a real one: a store ``down_…`` registered at a closed port
(postgresql://postgres@127.0.0.1:1/none), in the control plane and the runtime, and an
active tenant row pinned to it.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Text, select
from sqlalchemy.dialects.postgresql import JSONB

from accord.compliance.sharing.fields import (
    AGGREGATE_DIMENSIONS,
    REDACTED_FIELDS,
    SUMMARY_FIELDS,
    Redacted,
)
from accord.compliance.sharing.reads import read_records
from accord.compliance.sharing.registry import MODELS, table_for
from accord.platform.runtime import Runtime
from accord.policies.compile import compile_matrix
from accord.policies.engine import PolicyEngine
from accord.policies.raci import Activity, Matrix, Party
from accord.policies.schemas import Principal
from accord.policies.vocab import Letter
from accord.tenants.agreements import service as agreements
from accord.tenants.agreements.access import read_access_log
from accord.tenants.agreements.models import SHAREABLE_RECORD_TYPES, AccessLogEntry
from accord.tenants.models import Tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, TenantFactory
from tests.factories.sharing import (
    SUMMARY_READER_SEES,
    grant,
    raise_findings,
    report_incidents,
)

pytestmark = pytest.mark.usefixtures("synced_catalog")

PROCESS = f"supplier-quality-{secrets.token_hex(3)}"

# ------------------------------------------------------------------ the declared fields

#: Columns a ``summary`` reader of a finding must never see: its prose, its people, the
#: owner's provenance and evidence hashes.
NEVER_IN_A_FINDING_SUMMARY = {
    "title",
    "criteria",
    "condition",
    "cause",
    "response",
    "reopened_reason",
    "raised_by",
    "owner",
    "verified_by",
    "reopened_by",
    "closed_by",
    "created_by",
    "updated_by",
    "source_system",
    "external_id",
    "fetched_at",
    "content_hash",
    "deleted_at",
}


@pytest.mark.parametrize("record_type", sorted(SUMMARY_READER_SEES))
def test_the_summary_whitelist_is_what_a_summary_reader_may_see(record_type: str) -> None:
    assert set(SUMMARY_FIELDS[record_type]) == SUMMARY_READER_SEES[record_type]


def test_no_prose_people_or_provenance_on_the_finding_whitelist() -> None:
    assert not NEVER_IN_A_FINDING_SUMMARY & SUMMARY_FIELDS["finding"]


#: The noun a column name ends with, when it says the column is personal, free text or
#: evidence whatever the model: an independent check on the declared lists.
PERSONAL_NOUNS = {"by", "owner", "subject", "signatories"}
FREE_TEXT_NOUNS = {"title", "description", "condition", "criteria", "cause", "response"}
FREE_TEXT_NOUNS |= {"minutes", "analysis", "containment", "scope", "definition", "plan"}
FREE_TEXT_NOUNS |= {"reason", "inputs", "decisions", "name", "programme", "dependencies"}
EVIDENCE_NOUNS = {"uri", "sha256", "hash", "digest"}
#: Text columns that are identifiers or units, not prose.
TEXT_IDENTIFIERS = {"reference", "key", "unit", "media_type"}


@pytest.mark.parametrize("record_type", sorted(SHAREABLE_RECORD_TYPES))
def test_every_column_is_whitelisted_or_redacted_with_a_reason(record_type: str) -> None:
    columns = {c.key: c for c in table_for(record_type).c}
    shown, redacted = SUMMARY_FIELDS[record_type], REDACTED_FIELDS[record_type]
    assert shown <= columns.keys(), f"whitelisted but no such column: {shown - columns.keys()}"
    assert redacted.keys() <= columns.keys()
    assert not shown & redacted.keys(), "a column is both shown and redacted"
    unclassified = columns.keys() - shown - redacted.keys()
    assert not unclassified, f"classify {sorted(unclassified)} in sharing/fields.py"
    for name in shown:
        noun = name.rsplit("_", 1)[-1]
        assert noun not in PERSONAL_NOUNS | FREE_TEXT_NOUNS | EVIDENCE_NOUNS, name
        kind = columns[name].type
        assert not isinstance(kind, JSONB), f"free-form document {name!r} whitelisted"
        if type(kind) is Text:  # plain text: only identifiers and tenant slugs
            assert name in TEXT_IDENTIFIERS or name.endswith("_tenant"), name
    for name, why in redacted.items():
        noun = name.rsplit("_", 1)[-1]
        if noun in PERSONAL_NOUNS:
            assert why is Redacted.PERSONAL, name
        elif noun in EVIDENCE_NOUNS:
            assert why is Redacted.EVIDENCE, name
    assert set(AGGREGATE_DIMENSIONS[record_type]) <= shown


def test_the_registry_covers_every_shareable_type() -> None:
    assert set(MODELS) == SHAREABLE_RECORD_TYPES == set(SUMMARY_FIELDS) == set(REDACTED_FIELDS)
    assert MODELS["incident"].__name__ == "IncidentReport"


# ------------------------------------------------------------------ fixtures and helpers


@dataclass(frozen=True)
class Network:
    northwind: Tenant
    globex: Tenant
    meridian: Tenant
    initech: Tenant
    agreements: dict[str, uuid.UUID]

    def engine(self, *extra_owners: str) -> PolicyEngine:
        return engine_for(self.northwind.slug, [t.slug for t in self.owners] + list(extra_owners))

    @property
    def owners(self) -> tuple[Tenant, ...]:
        return (self.globex, self.meridian, self.initech)


def engine_for(reader: str, owners: list[str], process: str = PROCESS) -> PolicyEngine:
    """northwind's quality managers are Informed on the owners' findings in ``process``."""
    informed, accountable = Party(reader, role="quality_manager"), Party(owners[0], role="admin")
    matrix = Matrix(
        name=f"matrix {process}",
        process=process,
        owners=tuple(owners),
        parties=(informed, accountable),
        activities=(Activity(name="Follow findings", record_type="finding", actions=()),),
        cells={
            "Follow findings": {
                informed.key: frozenset({Letter.INFORMED}),
                accountable.key: frozenset({Letter.ACCOUNTABLE}),
            }
        },
    )
    engine = PolicyEngine()
    engine.load_all(compile_matrix(matrix), {})
    return engine


async def log_of(runtime: Runtime, slug: str) -> list[AccessLogEntry]:
    async with tenant_session(runtime, slug) as session:
        return list(await read_access_log(session=session))


@pytest.fixture
async def network(runtime: Runtime, make_tenant: TenantFactory, synced_catalog: None) -> Network:
    northwind = await make_tenant(label="nw")
    globex = await make_tenant(SECOND_STORE, label="gx")
    meridian = await make_tenant(label="md")
    initech = await make_tenant(SECOND_STORE, label="it")
    await raise_findings(runtime, northwind.slug, ("observation", 1))
    await raise_findings(runtime, globex.slug, ("major_nonconformity", 2))
    await raise_findings(runtime, meridian.slug, ("minor_nonconformity", 2))
    await raise_findings(runtime, initech.slug, ("major_nonconformity", 3), ("observation", 1))
    ids = {
        globex.slug: await grant(runtime, globex.slug, northwind.slug, "full"),
        meridian.slug: await grant(runtime, meridian.slug, northwind.slug, "summary"),
        initech.slug: await grant(
            runtime, initech.slug, northwind.slug, "aggregate", min_group_size=3
        ),
    }
    return Network(northwind, globex, meridian, initech, ids)


def nadia(network: Network, *roles: str) -> Principal:
    return Principal.of(network.northwind.slug, "nadia", *(roles or ("quality_manager",)))


# ------------------------------------------------------------------ the reads


async def test_each_owner_at_its_level_and_each_grantor_logs_the_read(
    runtime: Runtime, network: Network
) -> None:
    read = await read_records(
        runtime,
        authorizer=network.engine().for_request(),
        principal=nadia(network),
        record_type="finding",
        process=PROCESS,
        request_id="req-1",
    )
    assert read.errors == []
    nw, gx, md, it = (t.slug for t in (network.northwind, *network.owners))
    assert [(p.owner, p.level.value) for p in read.plan] == sorted(
        [(nw, "full"), (gx, "full"), (md, "summary"), (it, "aggregate")],
        key=lambda p: (p[0] != nw, p[0]),
    )
    by_owner: dict[str, list[dict[str, Any]]] = {}
    for record in read.records:
        by_owner.setdefault(record["owner"], []).append(dict(record))
    assert sorted(by_owner) == sorted([nw, gx, md])
    every_column = {c.key for c in table_for("finding").c}
    for owner in (nw, gx):
        assert len(by_owner[owner]) == (1 if owner == nw else 2)
        for record in by_owner[owner]:
            assert record["level"] == "full" and set(record["fields"]) == every_column
            assert record["fields"]["title"] and record["fields"]["owner"] == "user:li.wei"
    assert len(by_owner[md]) == 2
    for record in by_owner[md]:
        assert record["level"] == "summary"
        assert set(record["fields"]) == SUMMARY_READER_SEES["finding"]
        assert not NEVER_IN_A_FINDING_SUMMARY & set(record["fields"])
        assert record["fields"]["grade"] == "minor_nonconformity"
    # initech (aggregate, minimum 3): each cell rounded to a multiple of 3 with its own
    # secret offset. 3 major/open are 3 whatever the offset; the single observation is
    # 0 (left out) or 3, never 1.
    assert {(g.owner, g.rounded_to) for g in read.aggregates} == {(it, 3)}
    got = {(g.key["grade"], g.key["state"]): g.count for g in read.aggregates}
    assert got[("major_nonconformity", "open")] == 3
    assert got.get(("observation", "open"), 0) in (0, 3)
    assert set(got) <= {("major_nonconformity", "open"), ("observation", "open")}

    # The aggregate grantor's log counts every finding the released cells cover.
    for tenant, level, count in ((gx, "full", 2), (md, "summary", 2), (it, "aggregate", 4)):
        [entry] = await log_of(runtime, tenant)
        assert (entry.level, entry.records, entry.record_type) == (level, count, "finding")
        assert entry.agreement_id == network.agreements[tenant]
        assert (entry.grantee, entry.principal, entry.request_id) == (nw, f"{nw}/nadia", "req-1")
    assert await log_of(runtime, nw) == [], "own reads are not cross-tenant and not logged"


async def test_revocation_holds_from_the_next_call(runtime: Runtime, network: Network) -> None:
    engine = network.engine()

    async def owners() -> set[str]:
        read = await read_records(
            runtime,
            authorizer=engine.for_request(),
            principal=nadia(network),
            record_type="finding",
            process=PROCESS,
        )
        return {r["owner"] for r in read.records} | {g.owner for g in read.aggregates}

    assert network.globex.slug in await owners()
    async with runtime.control_session() as session:
        await agreements.revoke(
            session=session,
            agreement_id=network.agreements[network.globex.slug],
            tenant=network.globex.slug,
            actor="user:anna",
            reason="project over",
        )
    assert await owners() == {t.slug for t in (network.northwind, network.meridian)} | {
        network.initech.slug
    }
    assert len(await log_of(runtime, network.globex.slug)) == 1, "no log for a revoked grant"


async def test_the_action_gate_denies_even_with_an_agreement(
    runtime: Runtime, network: Network
) -> None:
    engine = network.engine()
    for principal, process in (
        (nadia(network, "viewer"), PROCESS),  # no RACI role: own records only
        (nadia(network), None),  # outside the process the RACI grant is scoped to
        (nadia(network), "another-process"),
    ):
        read = await read_records(
            runtime,
            authorizer=engine.for_request(),
            principal=principal,
            record_type="finding",
            process=process,
        )
        assert {r["owner"] for r in read.records} == {network.northwind.slug}
        assert read.aggregates == [] and read.errors == []
    for owner in network.owners:
        assert await log_of(runtime, owner.slug) == []
    # An agreement without a RACI role is nothing either: meridian shares its incidents,
    # but the process governs findings only.
    await grant(
        runtime, network.meridian.slug, network.northwind.slug, "full", record_types=["incident"]
    )
    await report_incidents(runtime, network.meridian.slug, 1)
    read = await read_records(
        runtime,
        authorizer=engine.for_request(),
        principal=nadia(network),
        record_type="incident",
        process=PROCESS,
    )
    assert [p.owner for p in read.plan] == [network.northwind.slug]
    assert read.records == [] and await log_of(runtime, network.meridian.slug) == []


async def test_an_unreachable_owner_is_an_error_beside_the_others_data(
    runtime: Runtime, network: Network, dead_tenant: str
) -> None:
    await grant(runtime, dead_tenant, network.northwind.slug, "full")
    read = await read_records(
        runtime,
        authorizer=network.engine(dead_tenant).for_request(),
        principal=nadia(network),
        record_type="finding",
        process=PROCESS,
        owner_timeout=5,
    )
    assert [(e.tenant, e.code) for e in read.errors] == [(dead_tenant, "TENANT_UNAVAILABLE")]
    assert dead_tenant in read.errors[0].message
    assert {r["owner"] for r in read.records} == {
        t.slug for t in (network.northwind, network.globex, network.meridian)
    }
    # Its released cells (how many depends on the deployment's cell keys), initech's only.
    assert {g.owner for g in read.aggregates} == {network.initech.slug}
    assert dead_tenant in {p.owner for p in read.plan}
    async with runtime.control_session() as session:
        assert await session.scalar(select(Tenant.store).where(Tenant.slug == dead_tenant))
