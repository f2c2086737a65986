"""The network dashboard: counts across every owner one may read, from maintained tallies.

Open findings by grade, by state and by clause, and overdue CAPA actions, per owner. Each
store answers with one statement per kind of count (a ``UNION ALL`` over its owners'
tally tables, run as the federation role, built once per number of owners), so the cost
follows the number of groups, not of records. Every
level may see counts; for an ``aggregate`` grant, groups below the agreement's minimum
group size are withheld and counted in ``suppressed``. Grantors log the read (the number
of records the released counts cover), one statement per store; an owner whose store
fails is reported ``TENANT_UNAVAILABLE``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Select,
    Text,
    bindparam,
    func,
    literal,
    select,
    union_all,
)

from accord.compliance.capa.models import ActionStatus
from accord.compliance.findings.states import FindingState
from accord.compliance.sharing.federation import (
    branch_schema,
    branch_table,
    log_reads,
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
class OpenCount:
    """Open (not closed) findings of one owner with one value of one dimension."""

    owner: str
    #: "grade", "state" or "clause" (a finding counts once per clause it names)
    dimension: str
    value: str
    count: int


@dataclass(frozen=True, slots=True)
class OverdueCount:
    owner: str
    count: int


@dataclass(slots=True)
class Dashboard:
    open_findings: list[OpenCount]
    overdue_actions: list[OverdueCount]
    errors: list[TenantError]
    #: owner → cells withheld below the minimum group size
    suppressed: dict[str, int] = field(default_factory=dict)


@lru_cache(maxsize=512)
def _open_findings_statement(count: int) -> Select[Any]:
    """Per owner of ``count`` (branch placeholders ``owner_<n>``, schemas translated at
    execution): open findings by grade, by state (each finding once) and by clause."""
    closed = FindingState.CLOSED.value

    def union(base: Any, value: str) -> Any:
        branches = []
        for n in range(count):
            t = branch_table(base, n)
            branches.append(
                select(
                    bindparam(f"owner_{n}", type_=Text()).label("owner"),
                    t.c[value].label("value"),
                    t.c.n.label("n"),
                ).where(t.c.state != closed)
            )
        merged = branches[0] if len(branches) == 1 else union_all(*branches)
        return merged.subquery()

    parts = []
    for dimension, base, value in (
        ("grade", FindingCount.__table__, "grade"),
        ("state", FindingCount.__table__, "state"),
        ("clause", FindingTally.__table__, "clause_key"),
    ):
        u = union(base, value)
        parts.append(
            select(
                u.c.owner, literal(dimension).label("dimension"), u.c.value, func.sum(u.c.n)
            ).group_by(u.c.owner, u.c.value)
        )
    return select(union_all(*parts).subquery())


@lru_cache(maxsize=512)
def _overdue_statement(count: int) -> Select[Any]:
    branches = []
    for n in range(count):
        t = branch_table(CapaActionTally.__table__, n)
        branches.append(
            select(
                bindparam(f"owner_{n}", type_=Text()).label("owner"),
                func.coalesce(func.sum(t.c.n), 0).label("n"),
            ).where(
                t.c.status != ActionStatus.DONE.value,
                t.c.due_at < bindparam("today", type_=t.c.due_at.type),
            )
        )
    return branches[0] if len(branches) == 1 else select(union_all(*branches).subquery())


async def _placed(
    conn: Any, statement: Select[Any], owners: Sequence[PlannedOwner], **params: Any
) -> list[Any]:
    """Run a branch-placeholder statement for ``owners`` (positions in order)."""
    values = {f"owner_{n}": o.owner for n, o in enumerate(owners)} | params
    schemas = {branch_schema(n): schema_name(o.owner) for n, o in enumerate(owners)}
    result = await conn.execute(
        statement, values, execution_options={"schema_translate_map": schemas}
    )
    return list(result.all())


async def _read_store(
    runtime: Runtime,
    store: str,
    finding_owners: Sequence[PlannedOwner],
    capa_owners: Sequence[PlannedOwner],
    today: date,
    within: float,
) -> tuple[list[Any], list[Any]]:
    async with asyncio.timeout(within):
        async with runtime.stores.federation_connection(store) as conn:
            findings = (
                await _placed(conn, _open_findings_statement(len(finding_owners)), finding_owners)
                if finding_owners
                else []
            )
            overdue = (
                await _placed(conn, _overdue_statement(len(capa_owners)), capa_owners, today=today)
                if capa_owners
                else []
            )
            return findings, overdue


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
                [o for o in finding_plan if o.owner in in_store[s]],
                [o for o in capa_plan if o.owner in in_store[s]],
                today,
                store_timeout,
            )
            for s in stores
        ),
        return_exceptions=True,
    )
    levels = {o.owner: o for o in finding_plan}
    capa_levels = {o.owner: o for o in capa_plan}
    board = Dashboard([], [], errors)
    covered: dict[tuple[str, str], int] = {}
    answered: list[str] = []
    for store, result in zip(stores, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, OWNER_FAILURES):
                raise result
            board.errors.extend(_unavailable(o.owner, result) for o in by_store[store])
            continue
        answered.append(store)
        findings, overdue = result
        for owner, dimension, value, n in findings:
            planned = levels[owner]
            if planned.level is SharingLevel.AGGREGATE and n < planned.min_group_size:
                board.suppressed[owner] = board.suppressed.get(owner, 0) + 1
                continue
            board.open_findings.append(OpenCount(owner, dimension, value, int(n)))
            if dimension == "state":  # each open finding once
                key = (owner, "finding")
                covered[key] = covered.get(key, 0) + int(n)
        for owner, n in overdue:
            planned = capa_levels[owner]
            if planned.level is SharingLevel.AGGREGATE and 0 < n < planned.min_group_size:
                board.suppressed[owner] = board.suppressed.get(owner, 0) + 1
                continue
            board.overdue_actions.append(OverdueCount(owner, int(n)))
            key = (owner, "capa")
            covered[key] = covered.get(key, 0) + int(n)
    for owner, planned in everyone.items():
        if planned.level is SharingLevel.AGGREGATE and any(owner in in_store[s] for s in answered):
            board.suppressed.setdefault(owner, 0)
    failed = await log_reads(
        runtime,
        principal=principal,
        request_id=request_id,
        reads=[
            (store, o, record_type, covered.get((o.owner, record_type), 0))
            for store in answered
            for record_type, plan in (("finding", finding_plan), ("capa", capa_plan))
            for o in plan
            if o.grant is not None and o.owner in in_store[store]
        ],
        at=datetime.now().astimezone(),
        within=store_timeout,
    )
    if failed:
        board.open_findings = [c for c in board.open_findings if c.owner not in failed]
        board.overdue_actions = [c for c in board.overdue_actions if c.owner not in failed]
        board.errors.extend(failed.values())
    board.open_findings.sort(key=lambda c: (c.owner, c.dimension, c.value))
    board.overdue_actions.sort(key=lambda c: c.owner)
    return board
