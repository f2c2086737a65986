"""Where validated records go: one bulk upsert per page into a record table.

The page arrives by binary ``COPY`` into a temporary stage table; ``INSERT … SELECT …
ON CONFLICT (source_system, external_id) DO UPDATE … WHERE content_hash IS
DISTINCT FROM excluded.content_hash RETURNING`` writes nothing for an unchanged record and
tells created from updated (``xmax = 0``) in the same round trip. A sink adds the checks that
need the database (clauses in the catalog, unique references), per page, in one query each.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, ClassVar

from psycopg import sql
from pydantic import BaseModel
from sqlalchemy import ARRAY, UUID, Table, select
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.catalog.models import Clause
from accord.connectors.sync.raw import driver, schema_of
from accord.platform import clock
from accord.platform.errors import AccordError

Reason = dict[str, Any]


@dataclass(slots=True)
class Candidate:
    payload: dict[str, Any]
    payload_hash: str
    external_id: str | None
    position: int | None = None
    model: BaseModel | None = None
    state: str | None = None
    reasons: list[Reason] = field(default_factory=list)
    #: The canonical text of the change its event will carry, when built ahead.
    change_text: str | None = None


@dataclass(frozen=True, slots=True)
class Applied:
    id: uuid.UUID
    external_id: str
    created: bool
    state: str | None
    candidate: Candidate


def reason(field_name: str | None, code: str, message: str, column: str | None = None) -> Reason:
    return {"field": field_name, "column": column, "reason": code, "message": message}


class Sink:
    record_type: ClassVar[str]
    schema: ClassVar[type[BaseModel]]
    table: ClassVar[Table]
    #: Columns an update must not touch (identity, authorship, workflow state).
    keep_on_update: ClassVar[frozenset[str]] = frozenset({"id", "created_at", "created_by"})

    async def check(self, session: AsyncSession, candidates: Sequence[Candidate]) -> None:
        """Add reasons that need the database; the default has none."""

    def row(self, candidate: Candidate, *, actor: str, now: datetime) -> dict[str, Any]:
        raise NotImplementedError

    async def after_upsert(
        self, session: AsyncSession, applied: Sequence[Applied], *, actor: str
    ) -> None:
        """Work that only some changed records need (e.g. source-driven state)."""

    async def existing_hashes(
        self, session: AsyncSession, source_system: str, external_ids: Sequence[str]
    ) -> dict[str, str | None]:
        raw, translate = await driver(session)
        query = _lookup_sql(self.table, schema_of(self.table, translate))
        async with raw.cursor() as cur:
            # Keys as one array literal: psycopg dumps a list element by element in Python.
            await cur.execute(query, (_array_literal(external_ids), source_system))
            return dict(await cur.fetchall())

    async def upsert(
        self, session: AsyncSession, candidates: Sequence[Candidate], *, actor: str
    ) -> list[Applied]:
        if not candidates:
            return []
        now = clock.now()
        rows = [self.row(c, actor=actor, now=now) for c in candidates]
        columns = tuple(rows[0])
        raw, translate = await driver(session)
        plan = _upsert_plan(
            self.table, schema_of(self.table, translate), columns, self.keep_on_update
        )
        values = itemgetter(*columns) if len(columns) > 1 else lambda r: (r[columns[0]],)
        by_id = {c.external_id: c for c in candidates}
        async with raw.cursor() as cur:
            # The page goes in by binary COPY into a stage table, then one INSERT … SELECT:
            # no parameter arrays to build here or to unpack there.
            await cur.execute(plan.create)
            async with cur.copy(plan.copy) as copy:
                copy.set_types(plan.types)
                for r in rows:
                    row = values(r)
                    if plan.arrays:
                        row = list(row)
                        for i in plan.arrays:
                            row[i] = _array_literal(row[i])
                    await copy.write_row(row)
            await cur.execute(plan.insert)
            return [
                Applied(r[0], r[1], bool(r[2]), None if r[3] is None else str(r[3]), by_id[r[1]])
                for r in await cur.fetchall()
            ]


@dataclass(frozen=True, slots=True)
class _UpsertPlan:
    create: bytes
    copy: bytes
    types: tuple[str, ...]
    #: Positions of the columns staged as array literals.
    arrays: tuple[int, ...]
    insert: bytes


@lru_cache(maxsize=256)
def _lookup_sql(table: Table, schema: str) -> bytes:
    return (
        sql.SQL(
            # A join from the keys, so each is one probe of the (source_system, external_id)
            # index whatever the statistics say (a table filling up has none yet).
            "SELECT t.external_id, t.content_hash FROM unnest(%s::text[]) AS k(external_id) "
            "JOIN {}.{} AS t ON t.source_system = %s AND t.external_id = k.external_id"
        )
        .format(sql.Identifier(schema), sql.Identifier(table.name))
        .as_bytes(None)
    )


@lru_cache(maxsize=256)
def _upsert_plan(
    table: Table, schema: str, columns: tuple[str, ...], keep_on_update: frozenset[str]
) -> _UpsertPlan:
    """The page upsert's statements, built once per table, tenant schema and column set.

    1. A temporary stage table for these columns, made once per connection (``ON COMMIT
       DELETE ROWS``: no catalog churn per page). Its name is derived from the tenant
       schema, as the tenant's role owns it and a pooled connection serves other tenants.
    2. ``COPY <stage> FROM STDIN (FORMAT binary)``. Array columns are staged as array
       literals (``_array_literal``; psycopg's array dumper is Python) and cast back.
    3. ``WITH staged AS (DELETE FROM <stage> RETURNING …) INSERT … SELECT … FROM staged ON
       CONFLICT (source_system, external_id) DO UPDATE SET <changed columns>, updated_at =
       now() WHERE content_hash IS DISTINCT FROM excluded.content_hash RETURNING id,
       external_id, xmax = 0, state``: the stage is empty again (a sink may upsert twice
       in one transaction), and an unchanged record writes and returns nothing. A UUID
       primary key the rows leave out is drawn by ``gen_random_uuid()``.
    """
    dialect = PGDialect_psycopg()  # type: ignore[no-untyped-call]
    target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table.name))
    tag = hashlib.sha256("\x1f".join((schema, table.name, *columns)).encode()).hexdigest()
    stage_name = f"accord_stage_{table.name[:20]}_{tag[:16]}"
    stage = sql.SQL("pg_temp.{}").format(sql.Identifier(stage_name))
    insert_columns = list(columns)
    selected: list[sql.Composable] = []
    staged_types: list[str] = []
    arrays: list[int] = []
    for i, name in enumerate(columns):
        column = table.c[name]
        # "timestamp with time zone", "varchar(64)" -> the type names psycopg knows.
        pg_type = column.type.compile(dialect=dialect).lower().split("(")[0]
        is_array = isinstance(column.type, ARRAY)
        if is_array:
            arrays.append(i)
        staged_types.append("text" if is_array else pg_type)
        cast = sql.SQL("::{}").format(sql.SQL(pg_type)) if is_array else sql.SQL("")
        selected.append(sql.SQL("{}{}").format(sql.Identifier(name), cast))
    missing = {c.name for c in table.c if c.default is not None} - set(columns)
    for name in sorted(missing):
        column = table.c[name]
        # SQLAlchemy would fill Python-side column defaults in; this statement cannot.
        assert column.primary_key and isinstance(column.type, UUID), (
            f"rows for {table.name} must carry {name}"
        )
        insert_columns.append(name)
        selected.append(sql.SQL("gen_random_uuid()"))
    updates: list[sql.Composable] = [
        sql.SQL("{0} = excluded.{0}").format(sql.Identifier(name))
        for name in columns
        if name not in keep_on_update and name != "updated_at"
    ]
    updates.append(sql.SQL("updated_at = now()"))
    state = sql.SQL("t.state" if "state" in table.c else "NULL")
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    definition = sql.SQL("CREATE TEMP TABLE {stage} ({columns}) ON COMMIT DELETE ROWS").format(
        stage=stage,
        columns=sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pg_type))
            for name, pg_type in zip(columns, staged_types, strict=True)
        ),
    )
    create = sql.SQL(
        "DO $stage$ BEGIN IF to_regclass({regclass}) IS NULL THEN {definition}; END IF; END $stage$"
    ).format(regclass=sql.Literal(f'pg_temp."{stage_name}"'), definition=definition)
    insert = sql.SQL(
        "WITH staged AS (DELETE FROM {stage} RETURNING {names}) "
        "INSERT INTO {target} AS t ({columns}) SELECT {selected} FROM staged "
        "ON CONFLICT (source_system, external_id) DO UPDATE SET {updates} "
        "WHERE t.content_hash IS DISTINCT FROM excluded.content_hash "
        "RETURNING t.id, t.external_id, t.xmax = 0, {state}"
    ).format(
        stage=stage,
        names=names,
        target=target,
        columns=sql.SQL(", ").join(map(sql.Identifier, insert_columns)),
        selected=sql.SQL(", ").join(selected),
        updates=sql.SQL(", ").join(updates),
        state=state,
    )
    copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(stage, names)
    return _UpsertPlan(
        create=create.as_bytes(None),
        copy=copy.as_bytes(None),
        types=tuple(staged_types),
        arrays=tuple(arrays),
        insert=insert.as_bytes(None),
    )


def _quote(element: Any) -> str:
    if element is None:
        return "NULL"
    return '"' + str(element).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _array_literal(items: Sequence[Any] | None) -> str | None:
    """A PostgreSQL array literal with every element quoted (commas, braces, NULL are data)."""
    if items is None:
        return None
    return "{" + ",".join(map(_quote, items)) + "}"


async def unknown_clauses(session: AsyncSession, keys: set[str]) -> set[str]:
    if not keys:
        return set()
    known = set(await session.scalars(select(Clause.key).where(Clause.key.in_(keys))))
    return keys - known


async def taken_references(
    session: AsyncSession,
    table: Table,
    source_system: str,
    pairs: Sequence[tuple[str, str]],
) -> set[str]:
    """References in ``pairs`` (reference, external_id) held by another record already."""
    if not pairs:
        return set()
    raw, translate = await driver(session)
    query = _references_sql(table, schema_of(table, translate))
    async with raw.cursor() as cur:
        await cur.execute(query, (_array_literal([p[0] for p in pairs]),))
        rows = await cur.fetchall()
    mine = set(pairs)
    return {r[0] for r in rows if r[1] != source_system or (r[0], r[2]) not in mine}


@lru_cache(maxsize=256)
def _references_sql(table: Table, schema: str) -> bytes:
    return (
        sql.SQL(
            "SELECT t.reference, t.source_system, t.external_id "
            "FROM unnest(%s::text[]) AS k(reference) JOIN {}.{} AS t ON t.reference = k.reference"
        )
        .format(sql.Identifier(schema), sql.Identifier(table.name))
        .as_bytes(None)
    )


def safe_reason(exc: AccordError) -> Reason:
    return reason(exc.field, exc.reason, exc.message)
