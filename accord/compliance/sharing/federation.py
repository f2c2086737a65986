"""Federated listings: one keyset page of a record type across every owner one may read.

The plan is ``plan_owners`` (both gates, per owner, fresh each call). The owners that
contribute records (``full`` and ``summary``) are grouped by store, and each store gets
**one** statement: a ``UNION ALL`` with one branch per owner, each branch already
projected to the granted level (withheld columns come back as NULL, so free text never
leaves an owner whose grant is ``summary``), filtered, positioned after the cursor and
limited to a page, so every branch reads about a page through an index whatever the
owner holds. Stores run concurrently; results are merged by the total order
``(sort value, owner, id)``, which makes cursors stable across pages and stores.

A store that fails or does not answer in time costs only its owners' rows: each becomes
a ``TENANT_UNAVAILABLE`` entry naming the tenant. Suspended or offboarded owners are
reported the same way.

Every grantor whose rows were read gets one access-log row for the request (what it
returned to this page), written per store in one statement. If that write fails, the
store's rows are withheld from the answer: nothing leaves without its log entry.

The statements run as the store's federation role (read on shareable tables, insert on
access logs), not as a tenant role — which is what lets one statement span schemas. What
a branch may read is decided here, by the planner, per owner.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal

import psycopg
from sqlalchemy import (
    Column,
    Date,
    DateTime,
    MetaData,
    Select,
    Table,
    TableClause,
    Text,
    bindparam,
    cast,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement

from accord.compliance.sharing.fields import SUMMARY_FIELDS
from accord.compliance.sharing.reads import (
    OWNER_FAILURES,
    PlannedOwner,
    SharedRecord,
    TenantError,
    _unavailable,
    plan_owners,
)
from accord.compliance.sharing.registry import table_for
from accord.platform import clock, telemetry
from accord.platform.errors import BadInput
from accord.platform.naming import schema_name
from accord.platform.runtime import Runtime
from accord.policies.engine import Authorizer
from accord.policies.schemas import Actor
from accord.tenants.agreements.models import SharingLevel
from accord.tenants.models import TenantStatus

Op = Literal["in", "contains", "prefix", "is_null", "any", "lt", "le", "gt", "ge", "eq"]


@dataclass(frozen=True, slots=True)
class Ordering:
    """The listing's sort column; ties are broken by owner, then id, in the same direction.

    ``nulls_as`` sorts NULLs as that SQL literal (e.g. ``'infinity'::date``: undated last);
    the column's index must be on the same expression.
    """

    column: str
    descending: bool = False
    nulls_as: str | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    """A predicate every branch applies: ``column op value``.

    ``contains``: an array column holds ``value``; ``prefix``: an element of an array
    column starts with ``value``; ``any``: ``value`` is a tuple of conditions, one of
    which must hold (``column`` names the first, for the summary-level check).
    """

    column: str
    op: Op
    value: Any

    def columns(self) -> set[str]:
        if self.op == "any":
            return {name for c in self.value for name in c.columns()}
        return {self.column}


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ends: the last item's sort value, owner and id."""

    value: Any
    owner: str
    id: str

    def as_json(self) -> list[Any]:
        value = self.value
        if isinstance(value, datetime | date):
            value = value.isoformat()
        return [value, self.owner, self.id]

    @classmethod
    def from_json(cls, parts: Sequence[Any], kind: type[Any] | None) -> Position:
        if len(parts) != 3 or not isinstance(parts[1], str) or not isinstance(parts[2], str):
            raise BadInput("The cursor is malformed.", reason="BAD_CURSOR", field="after")
        value = parts[0]
        try:
            if value is not None and kind is datetime:
                value = datetime.fromisoformat(value)
            elif value is not None and kind is date:
                value = date.fromisoformat(value)
            elif value is not None and kind in (int, str) and type(value) is not kind:
                raise TypeError(f"a cursor's sort value must be of type {kind}")
            elif isinstance(value, list | dict):
                raise TypeError("a cursor's sort value is a scalar")
            uuid.UUID(parts[2])
        except (TypeError, ValueError):
            raise BadInput("The cursor is malformed.", reason="BAD_CURSOR", field="after") from None
        return cls(value, parts[1], parts[2])


@dataclass(slots=True)
class ListedPage:
    records: list[SharedRecord]
    positions: list[Position]
    has_next: bool
    errors: list[TenantError]
    plan: list[PlannedOwner] = field(default_factory=list)


@lru_cache(maxsize=4096)
def branch_table(base: Table, position: int) -> Table:
    """``base`` (a tenant-plane table) in the placeholder schema of branch ``position``,
    translated to the owner's schema at execution. A Table, not a lightweight table():
    schema translation applies only to those."""
    columns = (Column(c.name, c.type, primary_key=c.primary_key) for c in base.c)
    return Table(base.name, MetaData(), *columns, schema=branch_schema(position))


def python_type(record_type: str, name: str) -> type[Any] | None:
    column_type = table_for(record_type).c[name].type
    if isinstance(column_type, DateTime):
        return datetime
    if isinstance(column_type, Date):
        return date
    try:
        kind: type[Any] = column_type.python_type
    except NotImplementedError:
        return None
    return kind if kind in (int, str) else None


def _sort_expression(t: TableClause, ordering: Ordering) -> ColumnElement[Any]:
    col = t.c[ordering.column]
    if ordering.nulls_as is None:
        return col
    return func.coalesce(col, literal_column(ordering.nulls_as))


# Statements are built once per *shape* — record type, owners and levels, ordering, the
# filter's columns and operators, where the cursor's owner falls — with bind parameters
# for every value, and reused: building a 100-branch statement costs far more than
# running it. A shape's parameters are named by position: c0, c1, c2_0 (inside "any"), …

#: A condition's shape: (column, op) or (column, "any", child shapes).
CondShape = tuple[Any, ...]


def _cond_shape(c: Condition) -> CondShape:
    if c.op == "any":
        return (c.column, c.op, tuple(_cond_shape(part) for part in c.value))
    return (c.column, c.op)


def _cond_params(c: Condition, key: str, params: dict[str, Any]) -> None:
    if c.op == "any":
        for j, part in enumerate(c.value):
            _cond_params(part, f"{key}_{j}", params)
    elif c.op == "in":
        params[key] = list(c.value)
    elif c.op == "contains":
        params[key] = [c.value]
    elif c.op != "is_null":
        params[key] = c.value


def _condition(t: TableClause, shape: CondShape, key: str) -> ColumnElement[bool]:
    col = t.c[shape[0]]
    op = shape[1]
    result: ColumnElement[bool]
    if op == "in":
        result = col.in_(bindparam(key, expanding=True))
    elif op == "contains":
        result = col.contains(bindparam(key, type_=col.type))
    elif op == "prefix":
        element = func.unnest(col).table_valued("k").render_derived()
        result = exists(
            select(1).select_from(element).where(func.starts_with(element.c.k, bindparam(key)))
        )
    elif op == "is_null":
        result = col.is_(None)
    elif op == "any":
        result = or_(*(_condition(t, part, f"{key}_{j}") for j, part in enumerate(shape[2])))
    else:
        value = bindparam(key, type_=col.type)
        result = {
            "eq": col == value,
            "lt": col < value,
            "le": col <= value,
            "gt": col > value,
            "ge": col >= value,
        }[op]
    return result


def _after(
    t: TableClause, relation: str, ordering: Ordering, cursor_null: bool
) -> ColumnElement[bool]:
    """Rows strictly after the cursor in the total order (value, owner, id).

    ``relation`` is how this branch's owner compares with the cursor's owner ("lt", "eq",
    "gt"): decided in Python, so each branch gets a plain index range.
    """
    e = _sort_expression(t, ordering)
    x: ColumnElement[Any]
    if cursor_null:
        assert ordering.nulls_as is not None
        x = literal_column(ordering.nulls_as)
    else:
        x = bindparam("after_value", type_=t.c[ordering.column].type)
    i = bindparam("after_id", type_=t.c.id.type)
    condition: ColumnElement[bool]
    if not ordering.descending:
        if relation == "eq":
            condition = tuple_(e, t.c.id) > tuple_(x, i)
        else:
            condition = e >= x if relation == "gt" else e > x
    elif relation == "eq":
        condition = tuple_(e, t.c.id) < tuple_(x, i)
    else:
        condition = e <= x if relation == "lt" else e < x
    return condition


def _branch(
    record_type: str,
    position: int,
    level: str,
    *,
    ordering: Ordering,
    conditions: tuple[CondShape, ...],
    relation: str | None,
    cursor_null: bool,
    limit: int,
) -> Select[Any]:
    # The branch's schema and owner are placeholders filled in at execution (schema
    # translation, a parameter), so one compiled statement serves every set of owners.
    t = branch_table(table_for(record_type), position)
    shown = SUMMARY_FIELDS[record_type]
    owner = bindparam(f"owner_{position}", type_=Text())
    columns: list[ColumnElement[Any]] = [owner.label("_owner")]
    for c in t.c:
        visible = level == SharingLevel.FULL.value or c.name in shown
        columns.append(c.label(c.name) if visible else cast(null(), c.type).label(c.name))
    e = _sort_expression(t, ordering)
    stmt = select(*columns).where(*(_condition(t, c, f"c{n}") for n, c in enumerate(conditions)))
    if "deleted_at" in t.c:  # records deleted at their source are history, not listed
        stmt = stmt.where(t.c.deleted_at.is_(None))
    if relation is not None:
        stmt = stmt.where(_after(t, relation, ordering, cursor_null))
    order = (e.desc(), t.c.id.desc()) if ordering.descending else (e.asc(), t.c.id.asc())
    return stmt.order_by(*order).limit(limit)


def branch_schema(position: int) -> str:
    """The placeholder schema of a statement's ``position``-th branch."""
    return f"accord_branch_{position}"


@lru_cache(maxsize=1024)
def _shaped_statement(
    record_type: str,
    levels: tuple[str, ...],
    ordering: Ordering,
    conditions: tuple[CondShape, ...],
    relations: tuple[str, ...] | None,
    cursor_null: bool,
    limit: int,
) -> Select[Any]:
    branches = [
        _branch(
            record_type,
            n,
            level,
            ordering=ordering,
            conditions=conditions,
            relation=relations[n] if relations is not None else None,
            cursor_null=cursor_null,
            limit=limit,
        )
        for n, level in enumerate(levels)
    ]
    if len(branches) == 1:
        return branches[0]
    merged = union_all(*branches).subquery("merged")
    key: ColumnElement[Any] = merged.c[ordering.column]
    if ordering.nulls_as is not None:
        key = func.coalesce(key, literal_column(ordering.nulls_as))
    owner_key = merged.c._owner.collate("C")
    parts = (key, owner_key, merged.c.id)
    order = [p.desc() for p in parts] if ordering.descending else [p.asc() for p in parts]
    return select(merged).order_by(*order).limit(limit)


def store_statement(
    record_type: str,
    owners: Sequence[PlannedOwner],
    *,
    ordering: Ordering,
    conditions: Sequence[Condition],
    after: Position | None,
    limit: int,
) -> Prepared:
    """One statement for one store — a page from each owner, merged and limited — its
    parameters and its schema translation. The statement is cached by shape (levels by
    position, ordering, filter, cursor); owners, schemas and values are filled in."""
    params: dict[str, Any] = {f"owner_{n}": o.owner for n, o in enumerate(owners)}
    for n, c in enumerate(conditions):
        _cond_params(c, f"c{n}", params)
    relations: tuple[str, ...] | None = None
    cursor_null = False
    if after is not None:
        if after.value is None and ordering.nulls_as is None:
            raise BadInput("The cursor is malformed.", reason="BAD_CURSOR", field="after")
        cursor_null = after.value is None
        if not cursor_null:
            params["after_value"] = after.value
        params["after_id"] = uuid.UUID(after.id)
        relations = tuple(
            "eq" if o.owner == after.owner else ("gt" if o.owner > after.owner else "lt")
            for o in owners
        )
    statement = _shaped_statement(
        record_type,
        tuple(o.level.value for o in owners),
        ordering,
        tuple(_cond_shape(c) for c in conditions),
        relations,
        cursor_null,
        limit,
    )
    schemas = {branch_schema(n): schema_name(o.owner) for n, o in enumerate(owners)}
    return Prepared(statement, params, schemas)


@dataclass(frozen=True, slots=True)
class Prepared:
    statement: Select[Any]
    params: dict[str, Any]
    #: placeholder schema → the owner's schema (``schema_translate_map``)
    schemas: dict[str, str]


def _python_key(ordering: Ordering, record: SharedRecord) -> tuple[Any, ...]:
    value = record["fields"][ordering.column]
    missing = value is None
    return (missing, value if not missing else 0, record["owner"], str(record["fields"]["id"]))


def owner_stores(
    owners: Sequence[PlannedOwner],
) -> tuple[dict[str, list[PlannedOwner]], list[TenantError]]:
    """Readable owners grouped by store (read with the plan); suspended, offboarded or
    unknown ones as errors."""
    by_store: dict[str, list[PlannedOwner]] = {}
    errors: list[TenantError] = []
    for o in owners:
        if o.placement is None:
            errors.append(
                TenantError(o.owner, "TENANT_UNAVAILABLE", f"Tenant '{o.owner}' is not registered.")
            )
        elif o.placement.status == TenantStatus.ACTIVE:
            by_store.setdefault(o.placement.store, []).append(o)
        else:
            errors.append(
                TenantError(
                    o.owner,
                    "TENANT_UNAVAILABLE",
                    f"Tenant '{o.owner}' is {o.placement.status}; its records are missing.",
                )
            )
    return by_store, errors


#: The psycopg dialect with ``$n`` placeholders, which ``AsyncRawCursor`` sends as they are.
_DOLLAR: Dialect = psycopg_dialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]
_SCHEMA_TOKEN = re.compile(r"__\[SCHEMA_([^\]]+)\]")
#: Rendered SQL texts kept per process. A reader's owners (and so the text) change rarely,
#: so its requests find their text here.
RENDERED_TEXTS = 256
_positional: OrderedDict[tuple[Any, ...], tuple[str, SQLCompiler] | None] = OrderedDict()


def _render_positional(
    statement: Select[Any], schemas: Mapping[str, str]
) -> tuple[str, SQLCompiler] | None:
    """``statement``'s SQL for these schemas with ``$n`` placeholders, and its compiled
    form (whose ``positiontup`` names them); None if it has expanding parameters
    (rendered per execution).

    A reader's text is the same from request to request, only its values change:
    rendered once, it is sent as is. Otherwise SQLAlchemy would translate the schemas (a
    regex callback per branch) and walk the statement for its cache key, and psycopg
    would scan the whole text for placeholders (it caches only short statements), on
    every execution of a statement of a hundred branches.
    """
    key = (statement, tuple(sorted(schemas.items())))
    if key in _positional:
        _positional.move_to_end(key)
        return _positional[key]
    compiled = statement.compile(
        dialect=_DOLLAR, schema_translate_map={name: name for name in schemas}
    )
    rendered: tuple[str, SQLCompiler] | None = None
    if not any(b.expanding for b in compiled.binds.values()) and compiled.positiontup:
        quote = _DOLLAR.identifier_preparer.quote_schema
        sql_text = _SCHEMA_TOKEN.sub(lambda m: quote(schemas[m.group(1)]), compiled.string)
        rendered = (sql_text, compiled)
    _positional[key] = rendered
    while len(_positional) > RENDERED_TEXTS:
        _positional.popitem(last=False)
    return rendered


async def execute_placed(
    conn: AsyncConnection,
    statement: Select[Any],
    params: Mapping[str, Any],
    schemas: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Rows (column → value) of a branch-placeholder ``statement`` whose placeholder
    schemas are ``schemas``: its rendered text through psycopg's raw cursor, or SQLAlchemy
    with the schemas translated if it has expanding parameters.

    For statements whose columns need no SQLAlchemy type processing (text, numbers,
    dates, uuids, arrays, jsonb: psycopg converts them itself)."""
    rendered = _render_positional(statement, schemas)
    if rendered is None:
        result = await conn.execute(
            statement, dict(params), execution_options={"schema_translate_map": schemas}
        )
        return [dict(row) for row in result.mappings()]
    sql_text, compiled = rendered
    values = compiled.construct_params(dict(params))
    assert compiled.positiontup is not None
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, psycopg.AsyncConnection)
    async with psycopg.AsyncRawCursor(driver) as cursor:
        await cursor.execute(sql_text, [values[n] for n in compiled.positiontup])
        columns = [d.name for d in cursor.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in await cursor.fetchall()]


async def _read_store(
    runtime: Runtime, store: str, prepared: Prepared, within: float, record_type: str, owners: int
) -> list[dict[str, Any]]:
    with telemetry.store_read(store, record_type=record_type, tenants=owners) as span:
        async with asyncio.timeout(within):
            async with runtime.stores.federation_connection(store) as conn:
                rows = await execute_placed(
                    conn, prepared.statement, prepared.params, prepared.schemas
                )
        span.set_attribute("accord.records", len(rows))
        return rows


#: One call per store appends each grantor's row to its own access log (catalog k0003).
_LOG_READS = text(
    "SELECT federation.log_reads(CAST(:entries AS jsonb), :at, :grantee, :principal, :request_id)"
).bindparams(bindparam("at", type_=DateTime(timezone=True)))


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One grantor's access-log row for a request: what was read of it, at what level."""

    owner: str
    agreement_id: uuid.UUID
    record_type: str
    level: str
    records: int


def log_entry(planned: PlannedOwner, record_type: str, records: int) -> LogEntry:
    assert planned.grant is not None, "only grantors log reads"
    return LogEntry(
        planned.owner, planned.grant.agreement_id, record_type, planned.level.value, records
    )


async def log_in(
    conn: AsyncConnection,
    entries: Sequence[LogEntry],
    *,
    principal: Actor,
    request_id: str | None,
    at: datetime,
) -> None:
    """Append ``entries`` (grantors of the store ``conn`` is on) to their access logs, in
    ``conn``'s transaction: one ``federation.log_reads`` call."""
    entries_json = json.dumps(
        [
            {
                "schema": schema_name(e.owner),
                "agreement_id": str(e.agreement_id),
                "record_type": e.record_type,
                "level": e.level,
                "records": e.records,
            }
            for e in entries
        ]
    )
    await conn.execute(
        _LOG_READS,
        {
            "entries": entries_json,
            "at": at,
            "grantee": str(principal.tenant),
            "principal": f"{principal.tenant}/{principal.subject}",
            "request_id": request_id,
        },
    )


async def log_reads(
    runtime: Runtime,
    *,
    principal: Actor,
    request_id: str | None,
    reads: Sequence[tuple[str, PlannedOwner, str, int]],
    at: datetime,
    within: float,
) -> dict[str, TenantError]:
    """Append each grantor's access-log row for this request: one statement per store.

    ``reads`` holds (store, owner, record type, records returned). Returns the owners whose
    log could not be written: their data must be withheld (nothing leaves unlogged).
    """
    by_store: dict[str, list[LogEntry]] = {}
    for store, o, record_type, count in reads:
        by_store.setdefault(store, []).append(log_entry(o, record_type, count))

    async def store_log(store: str) -> None:
        entries = by_store[store]
        async with asyncio.timeout(within):
            async with runtime.stores.federation_connection(store) as conn:
                await log_in(conn, entries, principal=principal, request_id=request_id, at=at)
        telemetry.access_logged(len(entries), store)

    stores = sorted(by_store)
    outcomes = await asyncio.gather(*(store_log(s) for s in stores), return_exceptions=True)
    failed: dict[str, TenantError] = {}
    for store, outcome in zip(stores, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, OWNER_FAILURES):
                raise outcome
            for entry in by_store[store]:
                failed[entry.owner] = _unavailable(entry.owner, outcome)
    return failed


async def list_records(
    runtime: Runtime,
    *,
    authorizer: Authorizer,
    principal: Actor,
    record_type: str,
    ordering: Ordering,
    conditions: Sequence[Condition] = (),
    tenants: Sequence[str] | None = None,
    after: Position | None = None,
    first: int = 20,
    process: str | None = None,
    request_id: str | None = None,
    store_timeout: float = 10.0,
) -> ListedPage:
    """The ``first`` records after ``after`` across every owner the principal may read.

    ``conditions`` apply to every branch; a summary-level owner is left out of a listing
    filtered on a column it withholds (filtering on hidden data would reveal it).
    """
    plan = await plan_owners(
        runtime,
        authorizer=authorizer,
        principal=principal,
        record_type=record_type,
        process=process,
        own_only=tenants is not None and list(tenants) == [principal.tenant],
    )
    shown = SUMMARY_FIELDS[record_type]
    hidden_filter = any(c.columns() - shown for c in conditions) or ordering.column not in shown
    owners = [
        o
        for o in plan
        if o.level is not SharingLevel.AGGREGATE
        and (not tenants or o.owner in tenants)
        and not (o.level is SharingLevel.SUMMARY and hidden_filter)
    ]
    if not owners:
        return ListedPage([], [], False, [], plan)
    by_store, errors = owner_stores(owners)
    limit = first + 1
    stores = sorted(by_store)
    statements = [
        store_statement(
            record_type,
            by_store[s],
            ordering=ordering,
            conditions=conditions,
            after=after,
            limit=limit,
        )
        for s in stores
    ]
    results = await asyncio.gather(
        *(
            _read_store(runtime, s, st, store_timeout, record_type, len(by_store[s]))
            for s, st in zip(stores, statements, strict=True)
        ),
        return_exceptions=True,
    )
    rows_by_store: dict[str, list[SharedRecord]] = {}
    levels = {o.owner: o.level.value for o in owners}
    for store, result in zip(stores, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, OWNER_FAILURES):
                raise result
            errors.extend(_unavailable(o.owner, result) for o in by_store[store])
            continue
        rows_by_store[store] = [
            SharedRecord(
                owner=r["_owner"],
                level=levels[r["_owner"]],
                record_type=record_type,
                fields={k: v for k, v in r.items() if k != "_owner"},
            )
            for r in result
        ]

    page = [r for rows in rows_by_store.values() for r in rows]
    page.sort(key=lambda r: _python_key(ordering, r), reverse=ordering.descending)
    page = page[:limit]
    returned: dict[str, int] = {}
    for record in page[:first]:
        returned[record["owner"]] = returned.get(record["owner"], 0) + 1
    failed = await log_reads(
        runtime,
        principal=principal,
        request_id=request_id,
        reads=[
            (store, o, record_type, returned[o.owner])
            for store in rows_by_store
            for o in by_store[store]
            if o.grant is not None and o.owner in returned
        ],
        at=clock.now().astimezone(),
        within=store_timeout,
    )
    errors.extend(failed.values())
    withheld = set(failed)
    records = [r for r in page[:first] if r["owner"] not in withheld]
    positions = [
        Position(r["fields"][ordering.column], r["owner"], str(r["fields"]["id"])) for r in records
    ]
    return ListedPage(records, positions, len(page) > first, errors, plan)
