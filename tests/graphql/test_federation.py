"""Federated listings over HTTP: owners in two stores, one statement per store, the global
order kept across pages, levels, filters pushed down, unreachable stores, access logs."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import event

from accord.compliance.sharing.federation import (
    Condition,
    Ordering,
    Position,
    Prepared,
    store_statement,
)
from accord.compliance.sharing.reads import PlannedOwner
from accord.compliance.tallies import recount, recount_counts
from accord.platform.clock import today
from accord.platform.naming import schema_name
from accord.platform.runtime import Runtime
from accord.policies import service as policy_service
from accord.tenants.agreements.access import read_access_log
from accord.tenants.agreements.models import SharingLevel
from accord.tenants.models import Tenant, TenantStatus
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, TenantFactory
from tests.factories import raci
from tests.factories.sharing import grant
from tests.graphql.conftest import Api, raise_findings

LISTING = """
query($first: Int!, $after: String, $filter: FindingFilter, $order: FindingOrder!,
      $process: String) {
  findings(first: $first, after: $after, filter: $filter, orderBy: $order, process: $process) {
    edges { cursor node { id tenant level reference responseDueAt createdAt title owner } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def network_matrix(process: str, owners: list[str], reader: str) -> str:
    return raci.follow_findings(
        name=f"Network {process}",
        process=process,
        owners=owners,
        accountable=owners[0],
        informed=[reader],
        parties=[f"role:{t}/quality_manager" for t in (*owners, reader)],
    )


@dataclass
class Network:
    reader: Tenant
    #: owner slug → level it grants the reader ("full" for the reader itself)
    levels: dict[str, str]
    stores: dict[str, str]
    process: str
    token: str
    #: the first due date of the network's findings (the day it was built)
    first_due: date


@pytest.fixture
async def network(api: Api, make_tenant: TenantFactory) -> AsyncIterator[Network]:
    """A reader (home store) and five partners over two stores, at full and summary, each
    owner with findings due on interleaved dates (and some undated)."""
    reader = await make_tenant(label="rd")
    partners = [
        (await make_tenant(label="fa"), "full"),
        (await make_tenant(SECOND_STORE, label="fb"), "full"),
        (await make_tenant(SECOND_STORE, label="sc"), "summary"),
        (await make_tenant(label="sd"), "summary"),
        (await make_tenant(SECOND_STORE, label="fe"), "full"),
    ]
    levels = {reader.slug: "full"}
    stores = {reader.slug: reader.store}
    for tenant, level in partners:
        await grant(api.runtime, tenant.slug, reader.slug, level)
        levels[tenant.slug] = level
        stores[tenant.slug] = tenant.store
    first_due = today()
    for n, slug in enumerate(levels):
        for day in range(4):
            # Same due dates across owners (ties broken by owner, then id).
            await raise_findings(
                api.runtime, slug, 1, response_due_at=first_due + timedelta(days=day * 2 + n % 2)
            )
        await raise_findings(api.runtime, slug, 1)  # undated: sorts last
    process = f"network-{secrets.token_hex(4)}"
    name = await api.import_matrix(
        network_matrix(process, [t.slug for t, _ in partners], reader.slug)
    )
    token = await api.sign_in(reader, "rita", "quality_manager")
    yield Network(reader, levels, stores, process, token, first_due)
    async with api.runtime.control_session() as session:
        await policy_service.delete_matrix(session=session, name=name)


async def listing(
    api: Api, network: Network, first: int, order: str = "DUE_AT", **more: Any
) -> dict[str, Any]:
    """One page of the federated listing as the network's reader (``more``: ``after``)."""
    variables = {"first": first, "order": order, "process": network.process, **more}
    body: dict[str, Any] = await api.post(LISTING, variables, token=network.token)
    return body


async def walk(
    api: Api, network: Network, order: str, first: int, filter: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    after = None
    for _ in range(100):
        body = await api.post(
            LISTING,
            {
                "first": first,
                "after": after,
                "order": order,
                "filter": filter,
                "process": network.process,
            },
            token=network.token,
        )
        assert "errors" not in body, body
        listing = body["data"]["findings"]
        seen.extend(e["node"] for e in listing["edges"])
        if not listing["pageInfo"]["hasNextPage"]:
            return seen
        after = listing["pageInfo"]["endCursor"]
    raise AssertionError("paging did not end")


def owner_and_id(node: dict[str, Any]) -> tuple[str, str]:
    from accord.graphql.relay import GlobalId

    gid = GlobalId.decode(node["id"], expected="Finding")
    return gid.tenant, str(gid.record_id)


async def test_due_date_order_holds_across_owners_stores_and_pages(
    api: Api, network: Network
) -> None:
    seen = await walk(api, network, "DUE_AT", first=4)
    assert len(seen) == 6 * 5
    assert len({n["id"] for n in seen}) == 30, "a record appeared twice"
    assert {n["tenant"] for n in seen} == set(network.levels)
    # The total order: due date (undated last), then owner, then id.
    keys = [
        (
            n["responseDueAt"] is None,
            n["responseDueAt"] or "",
            *owner_and_id(n),
        )
        for n in seen
    ]
    assert keys == sorted(keys)
    assert all(n["responseDueAt"] is None for n in seen[-6:])


async def test_newest_first_pages_equal_one_big_page(api: Api, network: Network) -> None:
    small = await walk(api, network, "CREATED_AT", first=3)
    [big] = [await walk(api, network, "CREATED_AT", first=100)]
    assert [n["id"] for n in small] == [n["id"] for n in big]
    stamps = [n["createdAt"] for n in big]
    assert stamps == sorted(stamps, reverse=True)


async def test_each_owner_is_seen_at_its_level(api: Api, network: Network) -> None:
    seen = await walk(api, network, "DUE_AT", first=50)
    for node in seen:
        level = network.levels[node["tenant"]]
        assert node["level"] == level.upper()
        if level == "summary":
            assert node["title"] is None and node["owner"] is None
        else:
            assert node["title"] and node["owner"] == "user:li.wei"


async def test_filters_run_in_every_branch(api: Api, network: Network) -> None:
    overdue_free = await walk(
        api,
        network,
        "DUE_AT",
        first=7,
        filter={"dueFrom": str(network.first_due + timedelta(days=4))},
    )
    assert len(overdue_free) == 6 * 2
    assert all(
        n["responseDueAt"] >= str(network.first_due + timedelta(days=4)) for n in overdue_free
    )
    # A filter on a column summary owners withhold leaves those owners out entirely.
    by_owner = await walk(api, network, "DUE_AT", first=10, filter={"owner": "user:li.wei"})
    assert {n["tenant"] for n in by_owner} == {
        t for t, level in network.levels.items() if level == "full"
    }
    some = sorted(network.levels)[:2]
    only = await walk(api, network, "DUE_AT", first=10, filter={"tenants": some})
    assert {n["tenant"] for n in only} == set(some)


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)


@pytest.fixture
def counted(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[StatementCounter]:
    """Every statement sent to the stores: through SQLAlchemy, and the listings' rendered
    texts that go through psycopg's raw cursor."""
    counter = StatementCounter()
    execute = psycopg.AsyncRawCursor.execute

    async def recorded(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        counter.statements.append(str(query))
        return await execute(cursor, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncRawCursor, "execute", recorded)
    engines = [runtime.stores._base_tenant_engine(s).sync_engine for s in runtime.stores.names()]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", counter)
    yield counter
    for engine in engines:
        event.remove(engine, "before_cursor_execute", counter)


async def test_one_statement_per_store_reads_every_owner(
    api: Api, network: Network, counted: StatementCounter
) -> None:
    body = await listing(api, network, 10)
    edges = body["data"]["findings"]["edges"]
    assert len(edges) == 10
    reads = [s for s in counted.statements if "findings" in s and "SELECT" in s]
    logs = [s for s in counted.statements if "federation.log_reads" in s]
    assert len(reads) == 2, "one read per store"
    assert all(s.count("UNION ALL") == 2 for s in reads), "3 owners in each store"
    partners = {e["node"]["tenant"] for e in edges} - {network.reader.slug}
    assert partners, "the page holds partners' findings"
    stores = {network.stores[t] for t in partners}
    assert len(logs) == len(stores), "one access-log statement per store that returned rows"


async def test_each_grantor_logs_what_it_returned(api: Api, network: Network) -> None:
    body = await api.post(
        LISTING,
        {"first": 12, "order": "DUE_AT", "process": network.process},
        token=network.token,
        headers={"x-request-id": "fed-log-1"},
    )
    returned: dict[str, int] = {}
    for edge in body["data"]["findings"]["edges"]:
        returned[edge["node"]["tenant"]] = returned.get(edge["node"]["tenant"], 0) + 1
    assert set(returned) - {network.reader.slug}, "the page holds partners' findings"
    for slug, level in network.levels.items():
        if slug == network.reader.slug:
            continue
        async with tenant_session(api.runtime, slug) as session:
            entries = [
                e for e in await read_access_log(session=session) if e.request_id == "fed-log-1"
            ]
        if slug not in returned:  # nothing of it left: nothing to log
            assert entries == [], slug
            continue
        assert len(entries) == 1, slug
        [entry] = entries
        assert entry.grantee == network.reader.slug
        assert entry.level == level
        assert entry.records == returned.get(slug, 0)


async def test_a_store_that_is_down_costs_only_its_tenants(api: Api, network: Network) -> None:
    runtime = api.runtime
    url, migrator_url = runtime.stores.url(SECOND_STORE), runtime.stores.migrator_url(SECOND_STORE)
    runtime.stores.register(SECOND_STORE, "postgresql://postgres@127.0.0.1:9/nowhere")
    try:
        body = await listing(api, network, 50)
    finally:
        runtime.stores.register(SECOND_STORE, url, migrator_url=migrator_url)
    down = {t for t, s in network.stores.items() if s == SECOND_STORE}
    seen = {e["node"]["tenant"] for e in body["data"]["findings"]["edges"]}
    assert seen == set(network.levels) - down
    missing = {e["extensions"]["tenant"] for e in body["errors"]}
    assert missing == down
    assert {e["extensions"]["code"] for e in body["errors"]} == {"TENANT_UNAVAILABLE"}


async def test_cursors_are_bound_to_their_order_and_cannot_be_forged(
    api: Api, network: Network
) -> None:
    first = await listing(api, network, 2)
    cursor = first["data"]["findings"]["pageInfo"]["endCursor"]
    other = await listing(api, network, 2, "CREATED_AT", after=cursor)
    assert other["errors"][0]["extensions"]["reason"] == "CURSOR_FOR_ANOTHER_QUERY"
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    forged = await listing(api, network, 2, after=tampered)
    assert forged["errors"][0]["extensions"]["reason"] == "BAD_CURSOR"
    assert forged["data"] is None


def test_summary_branches_never_select_withheld_columns() -> None:
    owner = PlannedOwner("tst_summary_owner", SharingLevel.SUMMARY, None, None)
    prepared = store_statement(
        "finding",
        [owner],
        ordering=Ordering("created_at", descending=True),
        conditions=[],
        after=None,
        limit=5,
    )
    assert prepared.params == {"owner_0": "tst_summary_owner"}
    text = str(prepared.statement.compile())
    for withheld in ("title", "condition", "owner", "raised_by", "cause"):
        assert f"findings.{withheld}" not in text
        assert f"AS {withheld}" in text  # present, as a typed NULL
    assert "findings.reference" in text


def test_statements_are_built_once_per_shape_and_values_travel_as_parameters() -> None:
    owners = [
        PlannedOwner("tst_a", SharingLevel.FULL, None, None),
        PlannedOwner("tst_b", SharingLevel.SUMMARY, None, None),
    ]
    due = Ordering("response_due_at", nulls_as="'infinity'::date")

    def build(grade: str, after_owner: str) -> Prepared:
        return store_statement(
            "finding",
            owners,
            ordering=due,
            conditions=[
                Condition("grade", "in", [grade]),
                Condition("clause_keys", "prefix", "x/"),
            ],
            after=Position(date(2026, 11, 16), after_owner, str(uuid.uuid4())),
            limit=21,
        )

    first = build("observation", "tst_a")
    second = build("major_nonconformity", "tst_a")
    assert first.statement is second.statement, "same shape, same statement object"
    assert first.params["c0"] == ["observation"] and second.params["c0"] == ["major_nonconformity"]
    assert first.params["c1"] == "x/" and first.params["after_value"] == date(2026, 11, 16)
    assert first.params["owner_0"] == "tst_a"
    assert first.schemas == {"accord_branch_0": "t_tst_a", "accord_branch_1": "t_tst_b"}
    third = build("observation", "tst_b")  # the cursor's owner moved: another shape
    assert third.statement is not first.statement
    text = str(first.statement.compile())
    assert "observation" not in text and "tst_a" not in text  # values and owners are bound


async def test_the_id_lookup_reads_one_owner(api: Api, network: Network) -> None:
    seen = await walk(api, network, "DUE_AT", first=50)
    target = next(n for n in seen if network.levels[n["tenant"]] == "summary")
    body = await api.post(
        "query($id: ID!, $p: String) { finding(id: $id, process: $p) { id level title } }",
        {"id": target["id"], "p": network.process},
        token=network.token,
    )
    assert body["data"]["finding"] == {"id": target["id"], "level": "SUMMARY", "title": None}


DASHBOARD = """
query($p: String) {
  networkDashboard(process: $p) {
    tenants {
      tenant openByGrade openByState openByClause overdueCapaActions roundedTo
    }
  }
}
"""


async def test_the_dashboard_equals_a_recount_and_rounds_aggregate_cells(
    api: Api, network: Network, make_tenant: TenantFactory
) -> None:
    # An aggregate partner with one big group (10 findings) and one group of 1.
    small = await make_tenant(SECOND_STORE, label="ag")
    await grant(api.runtime, small.slug, network.reader.slug, "aggregate", min_group_size=3)
    await raise_findings(api.runtime, small.slug, 10)
    await raise_findings(api.runtime, small.slug, 1, clause_keys=["iso14001:2015/6.1"])
    process = f"agg-{secrets.token_hex(4)}"
    name = await api.import_matrix(network_matrix(process, [small.slug], network.reader.slug))
    try:
        body = await api.post(DASHBOARD, {"p": network.process}, token=network.token)
        agg = await api.post(DASHBOARD, {"p": process}, token=network.token)
    finally:
        async with api.runtime.control_session() as session:
            await policy_service.delete_matrix(session=session, name=name)
    assert "errors" not in body, body
    board = body["data"]["networkDashboard"]
    for slug in network.levels:
        async with tenant_session(api.runtime, slug) as session:
            by_clause, _ = await recount(session=session)
            counts = await recount_counts(session=session)
        open_counts = [(g, s, n) for g, s, n in counts if s != "closed"]
        expect_grade: dict[str, int] = {}
        expect_state: dict[str, int] = {}
        expect_clause: dict[str, int] = {}
        for g, s, n in open_counts:
            expect_grade[g] = expect_grade.get(g, 0) + n
            expect_state[s] = expect_state.get(s, 0) + n
        for _, s, k, n in by_clause:
            if s != "closed":
                expect_clause[k] = expect_clause.get(k, 0) + n
        [mine] = [t for t in board["tenants"] if t["tenant"] == slug]
        assert mine["openByGrade"] == expect_grade, slug
        assert mine["openByState"] == expect_state, slug
        assert mine["openByClause"] == expect_clause, slug
        assert mine["roundedTo"] is None, slug
        assert sum(expect_grade.values()) == 5, "each open finding counted once"
    aggregate = agg["data"]["networkDashboard"]
    [theirs] = [t for t in aggregate["tenants"] if t["tenant"] == small.slug]
    # Its one (major, open) cell of 11 rounded to a multiple of 3 (9 or 12); the counts
    # per grade and per state are sums of the rounded cells; no counts per clause.
    assert theirs["roundedTo"] == 3 and theirs["openByClause"] == {}
    assert theirs["openByGrade"]["major_nonconformity"] in (9, 12)
    assert theirs["openByState"] == {"open": theirs["openByGrade"]["major_nonconformity"]}
    # The aggregate grantor (findings only) logged the dashboard read once, for the 11
    # findings its released counts cover.
    async with tenant_session(api.runtime, small.slug) as session:
        logged = sorted(
            (e.record_type, e.level, e.records, e.grantee)
            for e in await read_access_log(session=session)
        )
    assert logged == [("finding", "aggregate", 11, network.reader.slug)]


async def test_the_dashboard_reads_only_what_changed_and_sees_every_change(
    api: Api, network: Network, counted: StatementCounter
) -> None:
    """Owners' tallies are kept between requests until their event log notifies a change;
    every request still logs the read."""

    async def board() -> dict[str, Any]:
        body = await api.post(DASHBOARD, {"p": network.process}, token=network.token)
        assert "errors" not in body, body
        return {t["tenant"]: t for t in body["data"]["networkDashboard"]["tenants"]}

    hub = api.app.state.notifications
    first = await board()  # starts listening; read directly until the stores listen
    for _ in range(100):
        if all(hub.listening_on(s) for s in set(network.stores.values())):
            break
        await asyncio.sleep(0.05)
    await board()  # fills the cache
    counted.statements.clear()
    again = await board()
    assert again == first
    assert not [s for s in counted.statements if "finding_counts" in s], "served from the cache"
    assert len([s for s in counted.statements if "federation.log_reads" in s]) == 2, (
        "each store still logs the read"
    )

    partner = next(
        s for s, level in network.levels.items() if level == "full" and s != network.reader.slug
    )
    before = sum(first[partner]["openByState"].values())
    await raise_findings(api.runtime, partner, 3)
    seen = before
    for _ in range(100):  # the change's notification arrives after its commit
        counted.statements.clear()
        seen = sum((await board())[partner]["openByState"].values())
        if seen == before + 3:
            break
        await asyncio.sleep(0.05)
    assert seen == before + 3
    reread = [s for s in counted.statements if "finding_counts" in s]
    assert len(reread) == 1 and schema_name(partner) in reread[0], "only the changed owner"
    async with tenant_session(api.runtime, partner) as session:
        counts = await recount_counts(session=session)
    assert seen == sum(n for _, s, n in counts if s != "closed")


async def test_a_suspended_owner_is_reported_not_read(api: Api, network: Network) -> None:
    partner = next(
        s for s, level in network.levels.items() if level == "full" and s != network.reader.slug
    )
    async with api.runtime.control_session() as session:
        (await session.get(Tenant, partner)).status = TenantStatus.SUSPENDED  # type: ignore[union-attr]
    try:
        body = await listing(api, network, 50)
    finally:
        async with api.runtime.control_session() as session:
            (await session.get(Tenant, partner)).status = TenantStatus.ACTIVE  # type: ignore[union-attr]
    [error] = body["errors"]
    assert error["extensions"] == {"code": "TENANT_UNAVAILABLE", "tenant": partner}
    assert "suspended" in error["message"]
    tenants = {e["node"]["tenant"] for e in body["data"]["findings"]["edges"]}
    assert partner not in tenants and tenants, "the others' findings are still listed"
