"""Where validated records go: one bulk upsert per page into a record table.

``INSERT … ON CONFLICT (source_system, external_id) DO UPDATE … WHERE content_hash IS
DISTINCT FROM excluded.content_hash RETURNING`` writes nothing for an unchanged record and
tells created from updated (``xmax = 0``) in the same round trip. A sink adds the checks that
need the database (clauses in the catalog, unique references), per page, in one query each.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel
from sqlalchemy import Table, func, literal_column, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.catalog.models import Clause
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
        t = self.table
        rows = await session.execute(
            select(t.c.external_id, t.c.content_hash).where(
                t.c.source_system == source_system, t.c.external_id.in_(external_ids)
            )
        )
        return {r[0]: r[1] for r in rows}

    async def upsert(
        self, session: AsyncSession, candidates: Sequence[Candidate], *, actor: str
    ) -> list[Applied]:
        if not candidates:
            return []
        now = datetime.now(UTC)
        rows = [self.row(c, actor=actor, now=now) for c in candidates]
        t = self.table
        stmt = pg_insert(t)
        updates: dict[str, Any] = {
            name: stmt.excluded[name] for name in rows[0] if name not in self.keep_on_update
        }
        updates["updated_at"] = func.now()
        upsert = stmt.on_conflict_do_update(
            index_elements=[t.c.source_system, t.c.external_id],
            set_=updates,
            where=t.c.content_hash.is_distinct_from(stmt.excluded.content_hash),
        ).returning(
            t.c.id,
            t.c.external_id,
            literal_column("xmax = 0"),
            t.c.state if "state" in t.c else literal_column("NULL"),
        )
        by_id = {c.external_id: c for c in candidates}
        result = await session.execute(upsert, rows)
        return [
            Applied(r[0], r[1], bool(r[2]), None if r[3] is None else str(r[3]), by_id[r[1]])
            for r in result
        ]


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
    refs = [p[0] for p in pairs]
    rows = await session.execute(
        select(table.c.reference, table.c.source_system, table.c.external_id).where(
            table.c.reference.in_(refs)
        )
    )
    mine = set(pairs)
    return {r[0] for r in rows if r[1] != source_system or (r[0], r[2]) not in mine}


def safe_reason(exc: AccordError) -> Reason:
    return reason(exc.field, exc.reason, exc.message)
