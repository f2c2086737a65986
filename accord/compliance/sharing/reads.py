"""The one read path for records across tenants: both gates, the granted level, the log.

Plan: the principal's own tenant (at ``full``) when the action gate allows ``read`` there;
each grantor of an active, in-window agreement to the principal's tenant for the record
type (the sovereignty gate, read fresh so a revocation holds from the next call) whose
action gate *also* allows ``read`` there. Either gate saying no means nothing from that
owner. Owners are read in parallel, each in its own tenant session (its schema, role and
store); a failing owner becomes a ``TENANT_UNAVAILABLE`` entry, never a failed call.
Rows are projected to the granted level (``fields``); an ``aggregate`` owner gives counts
over its declared dimensions, each rounded with a secret offset per cell (``disclosure``).
Each grantor's access log gets one batch for the call; data whose log entry cannot be
written is withheld.

Records carry no process column yet, so a read names the shared process it is made in
(``process``): RACI grants hold only inside their process, baseline rights everywhere.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from accord.compliance.sharing.disclosure import CellKeys, cell_keys, rounding_base
from accord.compliance.sharing.fields import AGGREGATE_DIMENSIONS, SUMMARY_FIELDS
from accord.compliance.sharing.registry import model_for, table_for
from accord.platform import telemetry
from accord.platform.errors import AccordError, ErrorCode
from accord.platform.runtime import Runtime
from accord.policies.engine import Authorizer
from accord.policies.schemas import Actor, Resource
from accord.tenants.agreements.access import write_access_log
from accord.tenants.agreements.models import SharingLevel
from accord.tenants.agreements.service import (
    MIN_GROUP_SIZE_FLOOR,
    Grant,
    Placement,
    access_entries,
    plan_grants,
)
from accord.tenants.sessions import tenant_session

#: What a failing owner raises: its store (driver, network, timeout) or its state.
OWNER_FAILURES = (SQLAlchemyError, OSError, TimeoutError, AccordError)


class SharedRecord(TypedDict):
    owner: str
    level: str
    record_type: str
    #: column → value; nested so that a column named ``owner`` never collides
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PlannedOwner:
    owner: str
    level: SharingLevel
    #: the agreement that grants the level; None for the principal's own tenant
    grant: Grant | None
    #: the action-gate rule that allowed the read
    rule: str | None
    #: where the owner lives, read with the plan (None: look it up)
    placement: Placement | None = None

    @property
    def agreement_id(self) -> uuid.UUID | None:
        return self.grant.agreement_id if self.grant else None

    @property
    def min_group_size(self) -> int:
        size = self.grant.min_group_size if self.grant else None
        return max(size or 0, MIN_GROUP_SIZE_FLOOR)


@dataclass(frozen=True, slots=True)
class AggregateGroup:
    owner: str
    record_type: str
    #: dimension → value, one cell of the cross-tabulation of the declared dimensions
    key: Mapping[str, object]
    #: the cell's count rounded to a multiple of ``rounded_to`` (``disclosure``)
    count: int
    rounded_to: int


@dataclass(frozen=True, slots=True)
class TenantError:
    tenant: str
    code: str
    message: str


@dataclass(slots=True)
class SharedRead:
    records: list[SharedRecord]
    aggregates: list[AggregateGroup]
    errors: list[TenantError]
    plan: list[PlannedOwner]


@dataclass(frozen=True, slots=True)
class _Fetched:
    records: list[SharedRecord]
    groups: list[AggregateGroup]
    #: the rows the released groups count (rounded or not, every row is counted)
    counted: int = 0

    @property
    def returned(self) -> int:
        """What the access log records: rows returned, or rows the released groups count."""
        return len(self.records) + self.counted


async def plan_owners(
    runtime: Runtime,
    *,
    authorizer: Authorizer,
    principal: Actor,
    record_type: str,
    process: str | None = None,
    own_only: bool = False,
) -> list[PlannedOwner]:
    """The owners this principal may read ``record_type`` of now: both gates, per owner.

    ``own_only``: the caller wants its own organisation's records only (no agreements to
    look up)."""
    plans = await plan_record_types(
        runtime,
        authorizer=authorizer,
        principal=principal,
        record_types=[record_type],
        process=process,
        own_only=own_only,
    )
    return plans[record_type]


async def plan_record_types(
    runtime: Runtime,
    *,
    authorizer: Authorizer,
    principal: Actor,
    record_types: Sequence[str],
    process: str | None = None,
    own_only: bool = False,
) -> dict[str, list[PlannedOwner]]:
    """``plan_owners`` of several record types, from one control-plane statement (the
    agreements and where each owner lives, so that grouping by store needs no other)."""
    own = principal.tenant
    if own is None:  # platform operators read no tenant records through this path
        return {r: [] for r in record_types}
    for record_type in record_types:
        model_for(record_type)
    mine = {
        r: authorizer.authorize(principal, "read", Resource(own, r, process)) for r in record_types
    }
    if own_only and not any(d.allowed for d in mine.values()):
        return {r: [] for r in record_types}
    async with runtime.control_session() as session:
        grants, places = await plan_grants(
            session=session, grantee=own, record_types=[] if own_only else record_types
        )
    plans: dict[str, list[PlannedOwner]] = {}
    for record_type in record_types:
        planned: list[PlannedOwner] = []
        if mine[record_type].allowed:
            planned.append(
                PlannedOwner(own, SharingLevel.FULL, None, mine[record_type].rule, places.get(own))
            )
        for grant in grants.get(record_type, []):
            decision = authorizer.authorize(
                principal, "read", Resource(grant.grantor, record_type, process)
            )
            if decision.allowed:
                planned.append(
                    PlannedOwner(
                        grant.grantor,
                        grant.level,
                        grant,
                        decision.rule,
                        places.get(grant.grantor),
                    )
                )
        plans[record_type] = planned
    return plans


async def _fetch(
    runtime: Runtime, owner: PlannedOwner, record_type: str, limit: int, keys: CellKeys | None
) -> _Fetched:
    table = table_for(record_type)
    async with tenant_session(runtime, owner.owner) as session:
        if owner.level is SharingLevel.AGGREGATE:
            if keys is None:
                raise AssertionError("aggregate owners are read with the deployment's cell keys")
            dims = AGGREGATE_DIMENSIONS[record_type]
            cols = [table.c[d] for d in dims]
            stmt = select(*cols, func.count()).group_by(*cols).order_by(*cols)
            if "deleted_at" in table.c:  # as the tallies: records deleted at their source
                stmt = stmt.where(table.c.deleted_at.is_(None))
            cells = (await session.execute(stmt)).all()
            base = rounding_base(owner.min_group_size)
            groups = []
            for *values, n in cells:
                cell = (record_type, *(str(v) for v in values))
                released = keys.release(owner.owner, cell, n, base)
                if released:
                    key = dict(zip(dims, values, strict=True))
                    groups.append(AggregateGroup(owner.owner, record_type, key, released, base))
            return _Fetched([], groups, sum(n for *_, n in cells))
        names: Sequence[str] = (
            [c.key for c in table.c]
            if owner.level is SharingLevel.FULL
            else sorted(SUMMARY_FIELDS[record_type])
        )
        stmt = (
            select(*(table.c[n] for n in names))
            .order_by(table.c.created_at.desc(), table.c.id)
            .limit(limit)
        )
        rows = (await session.execute(stmt)).mappings().all()
    records = [
        SharedRecord(
            owner=owner.owner, level=owner.level.value, record_type=record_type, fields=dict(r)
        )
        for r in rows
    ]
    return _Fetched(records, [])


async def _guarded(
    runtime: Runtime,
    owner: PlannedOwner,
    record_type: str,
    limit: int,
    owner_timeout: float,
    keys: CellKeys | None,
) -> _Fetched | TenantError:
    store = owner.placement.store if owner.placement is not None else "unknown"
    with telemetry.store_read(store, record_type=record_type, tenants=1) as span:
        span.set_attribute("accord.tenant", owner.owner)
        try:
            async with asyncio.timeout(owner_timeout):
                fetched = await _fetch(runtime, owner, record_type, limit, keys)
        except OWNER_FAILURES as exc:
            telemetry.fail(span, exc)
            return _unavailable(owner.owner, exc)
        span.set_attribute("accord.records", len(fetched.records) + len(fetched.groups))
        return fetched


def _unavailable(tenant: str, exc: BaseException) -> TenantError:
    cause = exc.message if isinstance(exc, AccordError) else type(exc).__name__
    return TenantError(
        tenant,
        ErrorCode.TENANT_UNAVAILABLE.value,
        f"Tenant '{tenant}' could not be read ({cause}); its records are missing.",
    )


async def read_records(
    runtime: Runtime,
    *,
    authorizer: Authorizer,
    principal: Actor,
    record_type: str,
    process: str | None = None,
    request_id: str | None = None,
    limit: int = 200,
    owner_timeout: float = 10.0,
) -> SharedRead:
    """``record_type`` records of every owner the principal may read, at the granted level.

    ``limit`` caps the rows per owner (newest first); aggregates always count every row.
    An owner not answering within ``owner_timeout`` seconds is reported unavailable.
    """
    plan = await plan_owners(
        runtime,
        authorizer=authorizer,
        principal=principal,
        record_type=record_type,
        process=process,
    )
    aggregate = any(o.level is SharingLevel.AGGREGATE for o in plan)
    keys = cell_keys(runtime.settings) if aggregate else None
    results = await asyncio.gather(
        *(_guarded(runtime, o, record_type, limit, owner_timeout, keys) for o in plan)
    )
    errors = [r for r in results if isinstance(r, TenantError)]
    fetched = {o.owner: r for o, r in zip(plan, results, strict=True) if isinstance(r, _Fetched)}

    logged = [(o, o.grant, fetched[o.owner]) for o in plan if o.grant and o.owner in fetched]
    outcomes = await asyncio.gather(
        *(
            write_access_log(
                runtime,
                access_entries(
                    grants=[(grant, got.returned)],
                    grantee=str(principal.tenant),
                    principal=f"{principal.tenant}/{principal.subject}",
                    request_id=request_id,
                ),
            )
            for _, grant, got in logged
        ),
        return_exceptions=True,
    )
    for (o, _, _), outcome in zip(logged, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, OWNER_FAILURES):
                raise outcome
            # No log entry, no data: the grantor's log must record everything that left.
            del fetched[o.owner]
            errors.append(_unavailable(o.owner, outcome))

    read = SharedRead(records=[], aggregates=[], errors=errors, plan=plan)
    for o in plan:
        got = fetched.get(o.owner)
        if got is None:
            continue
        read.records.extend(got.records)
        read.aggregates.extend(got.groups)
    return read
