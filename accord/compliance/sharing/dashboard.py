"""The network dashboard: counts across every owner one may read, from maintained tallies.

Open findings by grade, by state and by clause, and overdue CAPA actions, per owner. Each
store answers with **one** statement over its owners' tally tables (run as the federation
role, built once per shape of the owners, its SQL text rendered once per set of owners),
which returns one row per owner with its counts already as maps: the cost follows the
number of owners, not of records or groups. With the process's notification hub, owners'
tallies are kept between requests until a notification says they changed
(``CountsCache``), so a dashboard reads only what changed since the last one.

Every level may see counts; an ``aggregate`` grant's are rounded cell by cell with a
secret offset per cell (``disclosure``), and its per-grade and per-state counts are sums
of those cells. In the same transaction for every request, the store's grantors log the
read (the open findings and overdue actions the released counts cover) with one
``federation.log_reads`` call: counts whose log entry cannot be written are withheld.
An owner whose store fails is reported ``TENANT_UNAVAILABLE``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary, ref

from sqlalchemy import (
    BigInteger,
    Select,
    Text,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from accord.compliance.capa.models import ActionStatus
from accord.compliance.findings.states import FindingState
from accord.compliance.sharing.disclosure import (
    OVERDUE_ACTIONS,
    Cell,
    CellKeys,
    cell_keys,
    finding_cell,
    margins,
    rounding_base,
)
from accord.compliance.sharing.federation import (
    LogEntry,
    branch_schema,
    branch_table,
    execute_placed,
    log_entry,
    log_in,
    owner_stores,
)
from accord.compliance.sharing.live import TENANT_SCHEMA_PREFIX
from accord.compliance.sharing.reads import (
    OWNER_FAILURES,
    PlannedOwner,
    TenantError,
    _unavailable,
    plan_record_types,
)
from accord.compliance.tallies import CapaActionTally, FindingCount, FindingTally
from accord.platform import clock, telemetry
from accord.platform.naming import schema_name
from accord.platform.notifications import Notification, NotificationHub
from accord.platform.runtime import Runtime
from accord.policies.engine import Authorizer
from accord.policies.schemas import Actor
from accord.tenants.agreements.models import SharingLevel


@dataclass(frozen=True, slots=True)
class OwnerCounts:
    """One owner's released counts."""

    owner: str
    #: open (not closed) findings per grade / per state (each finding once)
    by_grade: dict[str, int]
    by_state: dict[str, int]
    #: open findings per clause key (a finding naming several counts under each)
    by_clause: dict[str, int]
    #: CAPA actions not done and past due; None if CAPAs are not readable
    overdue_actions: int | None
    #: the base an aggregate grant's counts are rounded to (``disclosure``); None: exact
    rounded_to: int | None = None


@dataclass(slots=True)
class Dashboard:
    owners: list[OwnerCounts]
    errors: list[TenantError] = field(default_factory=list)

    def of(self, owner: str) -> OwnerCounts | None:
        return next((o for o in self.owners if o.owner == owner), None)


#: (reads findings, reads CAPA) per branch position
Shape = tuple[tuple[bool, bool], ...]

_EMPTY = literal_column("'{}'::jsonb", JSONB)
_LIST = literal_column("'[]'::jsonb", JSONB)


@lru_cache(maxsize=512)
def _statement(shape: Shape) -> Select[Any]:
    """Per owner of ``shape`` (placeholders ``owner_<n>``, schemas translated per
    position): one row with its open findings per (grade, state) as a list of
    ``[grade, state, n]`` and per clause as a map (if it reads findings) and its overdue
    CAPA actions (if it reads CAPA; else NULL)."""
    closed = FindingState.CLOSED.value
    branches: list[Any] = []
    for n, (findings, capa) in enumerate(shape):
        owner = bindparam(f"owner_{n}", type_=Text())
        columns: list[Any] = [owner.label("owner")]
        if findings:
            counts = branch_table(FindingCount.__table__, n)
            tallies = branch_table(FindingTally.__table__, n)
            cell = func.jsonb_build_array(counts.c.grade, counts.c.state, counts.c.n)
            columns.append(
                select(func.coalesce(func.jsonb_agg(cell), _LIST))
                .where(counts.c.state != closed)
                .scalar_subquery()
                .label("cells")
            )
            clauses = (
                select(tallies.c.clause_key.label("v"), func.sum(tallies.c.n).label("n"))
                .where(tallies.c.state != closed)
                .group_by(tallies.c.clause_key)
                .subquery()
            )
            columns.append(
                select(func.coalesce(func.jsonb_object_agg(clauses.c.v, clauses.c.n), _EMPTY))
                .scalar_subquery()
                .label("clause")
            )
        else:
            columns += [_LIST.label("cells"), _EMPTY.label("clause")]
        if capa:
            actions = branch_table(CapaActionTally.__table__, n)
            columns.append(
                select(func.coalesce(func.sum(actions.c.n), 0).cast(BigInteger))
                .where(
                    actions.c.status != ActionStatus.DONE.value,
                    actions.c.due_at < bindparam("today", type_=actions.c.due_at.type),
                )
                .scalar_subquery()
                .label("overdue")
            )
        else:
            columns.append(literal(None, BigInteger).label("overdue"))
        branches.append(select(*columns))
    merged: Any = branches[0] if len(branches) == 1 else union_all(*branches)
    return merged if len(branches) == 1 else select(merged.subquery())


@dataclass(frozen=True, slots=True)
class _Tallied:
    """One owner's open findings per (grade, state) and per clause, as read."""

    cells: dict[tuple[str, str], int]
    clause: dict[str, int]


class CountsCache:
    """Owners' tallies as last read, kept in the API process until they change.

    Every change to an owner's findings or CAPA actions appends to its event log, whose
    trigger notifies ``accord_events`` with the owner's schema at commit; the hub hands
    each notification here, and the owner's entries are dropped. Where a store's
    notifications may have been missed (its listener reconnected or is down), its owners'
    entries are dropped and the store is read directly until it listens again. An entry
    is stored only if no notification for its owner (and no gap) arrived while it was
    being read, so a change that commits during a read is never cached over.
    """

    channel = "accord_events"

    def __init__(self, hub: NotificationHub) -> None:
        # Weakly: the process's caches are keyed weakly by hub, and a hub that is gone
        # (an app shut down) must not be kept alive by its cache.
        self._hub = ref(hub)
        self.findings: dict[str, _Tallied] = {}
        self.overdue: dict[str, tuple[date, int]] = {}
        self._store_of: dict[str, str] = {}
        self._versions: dict[str, int] = {}
        self._gaps = 0
        hub.watch(self)

    def on_note(self, note: Notification) -> None:
        schema = str(note.payload.get("schema", ""))
        if schema.startswith(TENANT_SCHEMA_PREFIX):
            self._forget(schema.removeprefix(TENANT_SCHEMA_PREFIX))

    def on_gap(self, store: str) -> None:
        self._gaps += 1
        for owner in [o for o, s in self._store_of.items() if s == store]:
            self._forget(owner)

    def _forget(self, owner: str) -> None:
        self._versions[owner] = self._versions.get(owner, 0) + 1
        self.findings.pop(owner, None)
        self.overdue.pop(owner, None)
        self._store_of.pop(owner, None)

    def usable(self, store: str) -> bool:
        hub = self._hub()
        return hub is not None and hub.listening_on(store)

    def stamp(self, owners: Sequence[str]) -> tuple[int, dict[str, int]]:
        return self._gaps, {o: self._versions.get(o, 0) for o in owners}

    def keep(
        self,
        store: str,
        stamp: tuple[int, dict[str, int]],
        findings: dict[str, _Tallied],
        overdue: dict[str, int],
        today: date,
    ) -> None:
        gaps, versions = stamp
        if gaps != self._gaps:
            return
        for owner, counts in findings.items():
            if self._versions.get(owner, 0) == versions.get(owner):
                self.findings[owner] = counts
                self._store_of[owner] = store
        for owner, n in overdue.items():
            if self._versions.get(owner, 0) == versions.get(owner):
                self.overdue[owner] = (today, n)
                self._store_of[owner] = store


_caches: WeakKeyDictionary[NotificationHub, CountsCache] = WeakKeyDictionary()


def counts_cache(hub: NotificationHub | None) -> CountsCache | None:
    """The process's cache of owners' tallies kept fresh by ``hub`` (None: read always)."""
    if hub is None:
        return None
    cache = _caches.get(hub)
    if cache is None:
        cache = _caches[hub] = CountsCache(hub)
    return cache


def _base(planned: PlannedOwner | None) -> int | None:
    """The base an aggregate grant's counts are rounded to; None: released exactly."""
    if planned is None or planned.level is not SharingLevel.AGGREGATE:
        return None
    return rounding_base(planned.min_group_size)


async def _tallies(
    conn: AsyncConnection, findings: Sequence[str], capa: Sequence[str], today: date
) -> tuple[dict[str, _Tallied], dict[str, int]]:
    """Read these owners' tallies (their findings' and/or CAPA actions')."""
    names = sorted(set(findings) | set(capa), key=lambda o: (not (o in findings and o in capa), o))
    shape = tuple((o in findings, o in capa) for o in names)
    params: dict[str, Any] = {f"owner_{n}": o for n, o in enumerate(names)}
    if capa:
        params["today"] = today
    schemas = {branch_schema(n): schema_name(o) for n, o in enumerate(names)}
    tallied: dict[str, _Tallied] = {}
    overdue: dict[str, int] = {}
    for row in await execute_placed(conn, _statement(shape), params, schemas):
        owner = row["owner"]
        if owner in findings:
            cells = {(g, s): int(n) for g, s, n in row["cells"]}
            tallied[owner] = _Tallied(cells, row["clause"])
        if owner in capa:
            overdue[owner] = int(row["overdue"])
    return tallied, overdue


async def _read_store(
    runtime: Runtime,
    store: str,
    findings: dict[str, PlannedOwner],
    capa: dict[str, PlannedOwner],
    today: date,
    principal: Actor,
    request_id: str | None,
    within: float,
    cache: CountsCache | None,
    keys: CellKeys | None,
) -> list[OwnerCounts]:
    owners = len(set(findings) | set(capa))
    with telemetry.store_read(store, record_type="dashboard", tenants=owners) as span:
        board = await _counts_of_store(
            runtime, store, findings, capa, today, principal, request_id, within, cache, keys
        )
        span.set_attribute("accord.records", len(board))
        return board


async def _counts_of_store(
    runtime: Runtime,
    store: str,
    findings: dict[str, PlannedOwner],
    capa: dict[str, PlannedOwner],
    today: date,
    principal: Actor,
    request_id: str | None,
    within: float,
    cache: CountsCache | None,
    keys: CellKeys | None,
) -> list[OwnerCounts]:
    """The store's owners' counts (from the cache where it holds them), logged for the
    grantors in one transaction."""
    usable = cache is not None and cache.usable(store)
    tallied: dict[str, _Tallied] = {}
    overdue: dict[str, int] = {}
    if cache is not None and usable:
        for owner in findings:
            if owner in cache.findings:
                tallied[owner] = cache.findings[owner]
        for owner in capa:
            hit = cache.overdue.get(owner)
            if hit is not None and hit[0] == today:
                overdue[owner] = hit[1]
    want_f = [o for o in findings if o not in tallied]
    want_c = [o for o in capa if o not in overdue]
    stamp = cache.stamp([*want_f, *want_c]) if cache is not None and usable else None
    at = clock.now().astimezone()
    async with asyncio.timeout(within):
        async with runtime.stores.federation_connection(store) as conn:
            fresh_f: dict[str, _Tallied] = {}
            fresh_c: dict[str, int] = {}
            if want_f or want_c:
                fresh_f, fresh_c = await _tallies(conn, want_f, want_c, today)
                for owner in want_f:
                    fresh_f.setdefault(owner, _Tallied({}, {}))
                tallied |= fresh_f
                overdue |= fresh_c
            board: list[OwnerCounts] = []
            entries: list[LogEntry] = []
            for owner in sorted(set(findings) | set(capa)):
                counts = _count(owner, findings.get(owner), capa.get(owner), tallied, overdue, keys)
                if counts is not None:
                    board.append(counts)
                # The grantor's log records what the released counts cover: every open
                # finding and every overdue action, whether released exactly or rounded.
                if owner in findings and findings[owner].grant is not None:
                    covered = sum(tallied[owner].cells.values())
                    entries.append(log_entry(findings[owner], "finding", covered))
                if owner in capa and capa[owner].grant is not None:
                    entries.append(log_entry(capa[owner], "capa", overdue[owner]))
            if entries:
                await log_in(conn, entries, principal=principal, request_id=request_id, at=at)
    telemetry.access_logged(len(entries), store)
    if cache is not None and stamp is not None:
        cache.keep(store, stamp, fresh_f, fresh_c, today)
    return board


def _count(
    owner: str,
    finding: PlannedOwner | None,
    capa: PlannedOwner | None,
    tallied: dict[str, _Tallied],
    overdue: dict[str, int],
    keys: CellKeys | None,
) -> OwnerCounts | None:
    """What ``owner`` releases to this reader: exact counts, or under an aggregate grant
    each (grade, state) cell and the overdue actions rounded (``disclosure``), the per-grade
    and per-state counts summed from the rounded cells and no per-clause counts (clauses
    are not an aggregate dimension); None if it has nothing to show."""
    cells: dict[Cell, int] = {}
    clause: dict[str, int] = {}
    rounded = _base(finding) or _base(capa)
    if finding is not None:
        raw = tallied[owner]
        cells = {finding_cell(g, s): n for (g, s), n in raw.cells.items()}
        base = _base(finding)
        if base is None:
            clause = raw.clause
        else:
            cells = _keys(keys).release_cells(owner, cells, base)
    late: int | None = None
    if capa is not None:
        late = overdue[owner]
        base = _base(capa)
        if base is not None:
            late = _keys(keys).release(owner, OVERDUE_ACTIONS, late, base)
    grade = margins(cells.items(), 1)
    state = margins(cells.items(), 2)
    if not (grade or state or clause or capa is not None or rounded):
        return None
    return OwnerCounts(owner, grade, state, clause, late, rounded)


def _keys(keys: CellKeys | None) -> CellKeys:
    if keys is None:
        raise AssertionError("aggregate owners are read with the deployment's cell keys")
    return keys


async def network_dashboard(
    runtime: Runtime,
    *,
    authorizer: Authorizer,
    principal: Actor,
    today: date,
    process: str | None = None,
    request_id: str | None = None,
    store_timeout: float = 10.0,
    hub: NotificationHub | None = None,
) -> Dashboard:
    """``hub``: keep owners' tallies in this process between requests (``CountsCache``)."""
    cache = counts_cache(hub)
    plans = await plan_record_types(
        runtime,
        authorizer=authorizer,
        principal=principal,
        record_types=["finding", "capa"],
        process=process,
    )
    finding_plan, capa_plan = plans["finding"], plans["capa"]
    everyone = {o.owner: o for o in [*finding_plan, *capa_plan]}
    aggregate = any(o.level is SharingLevel.AGGREGATE for o in everyone.values())
    keys = cell_keys(runtime.settings) if aggregate else None
    by_store, errors = owner_stores(list(everyone.values()))
    stores = sorted(by_store)
    in_store = {s: {o.owner for o in by_store[s]} for s in stores}
    results = await asyncio.gather(
        *(
            _read_store(
                runtime,
                s,
                {o.owner: o for o in finding_plan if o.owner in in_store[s]},
                {o.owner: o for o in capa_plan if o.owner in in_store[s]},
                today,
                principal,
                request_id,
                store_timeout,
                cache,
                keys,
            )
            for s in stores
        ),
        return_exceptions=True,
    )
    board = Dashboard([], errors)
    for store, result in zip(stores, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, OWNER_FAILURES):
                raise result
            board.errors.extend(_unavailable(o.owner, result) for o in by_store[store])
            continue
        board.owners.extend(result)
    board.owners.sort(key=lambda c: c.owner)
    return board
