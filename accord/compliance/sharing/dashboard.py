"""The network dashboard: counts across every owner one may read, from maintained tallies.

Open findings by grade, by state and by clause, and overdue CAPA actions, per owner. Each
store answers with **one** statement over its owners' tally tables (run as the federation
role, built once per shape of the owners, its SQL text rendered once per set of owners),
which returns one row per owner with its counts already as maps: the cost follows the
number of owners, not of records or groups. Every level may see counts; for an
``aggregate`` grant, groups below the agreement's minimum group size are withheld (in
SQL, before anything leaves the store) and counted in ``suppressed``. In the same
transaction, the store's grantors log the read (the number of records the released
counts cover) with one ``federation.log_reads`` call: counts whose log entry cannot be
written are withheld. An owner whose store fails is reported ``TENANT_UNAVAILABLE``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    Text,
    and_,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB

from accord.compliance.capa.models import ActionStatus
from accord.compliance.findings.states import FindingState
from accord.compliance.sharing.federation import (
    branch_schema,
    branch_table,
    execute_placed,
    log_entry,
    log_in,
    owner_stores,
)
from accord.compliance.sharing.reads import (
    OWNER_FAILURES,
    Authorizer,
    PlannedOwner,
    TenantError,
    _unavailable,
    plan_record_types,
)
from accord.compliance.tallies import CapaActionTally, FindingCount, FindingTally
from accord.platform.naming import schema_name
from accord.platform.runtime import Runtime
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
    #: CAPA actions not done and past due; None if CAPAs are not readable (or withheld)
    overdue_actions: int | None
    #: cells withheld below an aggregate agreement's minimum group size
    suppressed: int = 0


@dataclass(slots=True)
class Dashboard:
    owners: list[OwnerCounts]
    errors: list[TenantError] = field(default_factory=list)

    def of(self, owner: str) -> OwnerCounts | None:
        return next((o for o in self.owners if o.owner == owner), None)


#: (reads findings, reads CAPA) per branch position
Shape = tuple[tuple[bool, bool], ...]

_EMPTY = literal_column("'{}'::jsonb", JSONB)


@lru_cache(maxsize=512)
def _statement(shape: Shape) -> Select[Any]:
    """Per owner of ``shape`` (placeholders ``owner_<n>``, ``min_<n>`` (findings) and
    ``cmin_<n>`` (CAPA), schemas translated per position): one row with its maps.

    ``min_<n>`` is the minimum group size a finding cell needs to be released (0: no
    minimum); ``covered`` is what the released state cells count (each open finding
    once), which is what the access log records. The overdue count is returned with its
    minimum: whether one number is withheld is decided by the caller.
    """
    closed = FindingState.CLOSED.value
    cells: list[Any] = []
    late: list[Any] = []
    for n, (findings, capa) in enumerate(shape):
        owner = bindparam(f"owner_{n}", type_=Text())
        if findings:
            counts = branch_table(FindingCount.__table__, n)
            tallies = branch_table(FindingTally.__table__, n)
            minimum = bindparam(f"min_{n}", type_=Integer())
            for dimension, table, value in (
                ("grade", counts, counts.c.grade),
                ("state", counts, counts.c.state),
                ("clause", tallies, tallies.c.clause_key),
            ):
                cells.append(
                    select(
                        owner.label("owner"),
                        minimum.label("min"),
                        literal(dimension).label("dim"),
                        value.label("value"),
                        table.c.n.label("n"),
                    ).where(table.c.state != closed)
                )
        if capa:
            actions = branch_table(CapaActionTally.__table__, n)
            late.append(
                select(
                    owner.label("owner"),
                    bindparam(f"cmin_{n}", type_=Integer()).label("min"),
                    func.coalesce(func.sum(actions.c.n), 0).cast(BigInteger).label("n"),
                ).where(
                    actions.c.status != ActionStatus.DONE.value,
                    actions.c.due_at < bindparam("today", type_=actions.c.due_at.type),
                )
            )
    found = None
    if cells:
        merged: Any = cells[0] if len(cells) == 1 else union_all(*cells)
        u = merged.subquery("u")
        g = (
            select(u.c.owner, u.c.min, u.c.dim, u.c.value, func.sum(u.c.n).label("n"))
            .group_by(u.c.owner, u.c.min, u.c.dim, u.c.value)
            .subquery("g")
        )
        released = g.c.n >= g.c.min

        def counts_map(dimension: str) -> Any:
            return func.coalesce(
                func.jsonb_object_agg(g.c.value, g.c.n).filter(
                    and_(g.c.dim == dimension, released)
                ),
                _EMPTY,
            )

        found = (
            select(
                g.c.owner,
                counts_map("grade").label("grade"),
                counts_map("state").label("state"),
                counts_map("clause").label("clause"),
                func.count().filter(~released).label("suppressed"),
                func.coalesce(func.sum(g.c.n).filter(and_(g.c.dim == "state", released)), 0)
                .cast(BigInteger)
                .label("covered"),
            )
            .group_by(g.c.owner)
            .subquery("found")
        )
    overdue = None
    if late:
        lates: Any = late[0] if len(late) == 1 else union_all(*late)
        overdue = lates.subquery("late")
    if found is not None and overdue is not None:
        return select(
            func.coalesce(found.c.owner, overdue.c.owner).label("owner"),
            func.coalesce(found.c.grade, _EMPTY).label("grade"),
            func.coalesce(found.c.state, _EMPTY).label("state"),
            func.coalesce(found.c.clause, _EMPTY).label("clause"),
            func.coalesce(found.c.suppressed, 0).label("suppressed"),
            func.coalesce(found.c.covered, 0).label("covered"),
            overdue.c.n.label("overdue"),
            overdue.c.min.label("overdue_min"),
        ).select_from(found.join(overdue, found.c.owner == overdue.c.owner, full=True))
    if found is not None:
        return select(
            found,
            literal(None, BigInteger).label("overdue"),
            literal(None, Integer).label("overdue_min"),
        )
    assert overdue is not None
    return select(
        overdue.c.owner,
        _EMPTY.label("grade"),
        _EMPTY.label("state"),
        _EMPTY.label("clause"),
        literal(0).label("suppressed"),
        literal(0, BigInteger).label("covered"),
        overdue.c.n.label("overdue"),
        overdue.c.min.label("overdue_min"),
    )


def _minimum(planned: PlannedOwner) -> int:
    """The size a released group needs: an aggregate grant's minimum, else none."""
    return planned.min_group_size if planned.level is SharingLevel.AGGREGATE else 0


async def _read_store(
    runtime: Runtime,
    store: str,
    findings: dict[str, PlannedOwner],
    capa: dict[str, PlannedOwner],
    today: date,
    principal: Actor,
    request_id: str | None,
    within: float,
) -> list[OwnerCounts]:
    """The store's owners' counts, logged for the grantors in the same transaction."""
    # Owners reading both record types first, so that shapes repeat across stores.
    names = sorted(set(findings) | set(capa), key=lambda o: (not (o in findings and o in capa), o))
    shape = tuple((o in findings, o in capa) for o in names)
    params: dict[str, Any] = {"today": today}
    for n, owner in enumerate(names):
        params[f"owner_{n}"] = owner
        if owner in findings:
            params[f"min_{n}"] = _minimum(findings[owner])
        if owner in capa:
            params[f"cmin_{n}"] = _minimum(capa[owner])
    schemas = {branch_schema(n): schema_name(o) for n, o in enumerate(names)}
    at = datetime.now().astimezone()
    async with asyncio.timeout(within):
        async with runtime.stores.federation_connection(store) as conn:
            rows = await execute_placed(conn, _statement(shape), params, schemas)
            board: list[OwnerCounts] = []
            entries = []
            for owner, grade, state, clause, suppressed, covered, late, late_min in rows:
                withheld = int(suppressed)
                overdue: int | None = None
                if late is not None:
                    if 0 < late < late_min:
                        withheld += 1
                    else:
                        overdue = int(late)
                board.append(OwnerCounts(owner, grade, state, clause, overdue, withheld))
                if owner in findings and findings[owner].grant is not None:
                    entries.append(log_entry(findings[owner], "finding", int(covered)))
                if owner in capa and capa[owner].grant is not None:
                    entries.append(log_entry(capa[owner], "capa", overdue or 0))
            silent = set(names) - {r[0] for r in rows}
            for owner in sorted(silent):  # granted, nothing open: the read is logged too
                if owner in findings and findings[owner].grant is not None:
                    entries.append(log_entry(findings[owner], "finding", 0))
                if owner in capa and capa[owner].grant is not None:
                    entries.append(log_entry(capa[owner], "capa", 0))
                if _aggregate(findings.get(owner)) or _aggregate(capa.get(owner)):
                    board.append(OwnerCounts(owner, {}, {}, {}, None, 0))
            if entries:
                await log_in(conn, entries, principal=principal, request_id=request_id, at=at)
            return board


def _aggregate(planned: PlannedOwner | None) -> bool:
    return planned is not None and planned.level is SharingLevel.AGGREGATE


async def network_dashboard(
    runtime: Runtime,
    *,
    authorizer: Authorizer,
    principal: Actor,
    today: date,
    process: str | None = None,
    request_id: str | None = None,
    store_timeout: float = 10.0,
) -> Dashboard:
    plans = await plan_record_types(
        runtime,
        authorizer=authorizer,
        principal=principal,
        record_types=["finding", "capa"],
        process=process,
    )
    finding_plan, capa_plan = plans["finding"], plans["capa"]
    everyone = {o.owner: o for o in [*finding_plan, *capa_plan]}
    by_store, errors = await owner_stores(runtime, list(everyone.values()))
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
