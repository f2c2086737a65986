"""Append many events in one COPY, keeping the hash chain exactly as ``append_event``.

Same lock (a transaction-scoped advisory lock on the tenant role) and same digest
(``entry_digest``: SHA-256 of the RFC 8785 form of the entry without its hash), so
``verify_chain`` cannot tell batched entries from single ones. The canonical form is built
by ``event_canonical`` from the fast serialiser (``framework.hashing``); its equality with
``entry_digest`` is a property test. The rows go in by one binary ``COPY`` (no quoting or
escaping, no parameter arrays to build or unpack), which fires the log's statement-level
NOTIFY trigger as an ``INSERT`` would; each change is serialised once, for the digest and
the ``jsonb`` column alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.records.history import jsonable
from accord.connectors.framework.hashing import _dumps, canonical_text, plain, plain_text
from accord.connectors.sync.raw import driver, schema_of
from accord.platform import clock
from accord.platform.eventlog import GENESIS_HASH, EventLogEntry

#: (action, record_type, record_id, change)
PendingEvent = tuple[str, str, str, dict[str, Any]]


def event_canonical(
    *,
    seq: int,
    at_text: str,
    actor: str,
    action: str,
    record_type: str,
    record_id: str,
    change_text: str,
    prev_hash: str,
) -> str:
    """The RFC 8785 text ``entry_digest`` hashes, with ``change`` already canonical.

    An entry's keys are fixed, so their order is too: action, actor, at, change,
    prev_hash, record_id, record_type, seq. Strings are written by the same encoder as
    ``canonical_text``; ``seq`` is a positive integer below 2**53.
    """
    return (
        f'{{"action":{_dumps(action)},"actor":{_dumps(actor)},"at":{_dumps(at_text)},'
        f'"change":{change_text},"prev_hash":{_dumps(prev_hash)},'
        f'"record_id":{_dumps(record_id)},"record_type":{_dumps(record_type)},"seq":{seq}}}'
    )


def change_text(change: dict[str, Any]) -> str:
    """The canonical text of an event's change (what its digest and ``jsonb`` column use)."""
    # A change of plain JSON values is what ``jsonable`` would return unchanged.
    return plain_text(change) if plain(change) else canonical_text(jsonable(change))


def at_text(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


@lru_cache(maxsize=256)
def _copy_sql(schema: str) -> bytes:
    target = sql.SQL("{}.{}").format(
        sql.Identifier(schema), sql.Identifier(EventLogEntry.__tablename__)
    )
    return (
        sql.SQL(
            "COPY {} (seq, at, actor, action, record_type, record_id, change, prev_hash, hash) "
            "FROM STDIN (FORMAT binary)"
        )
        .format(target)
        .as_bytes(None)
    )


_COPY_TYPES = (
    "int8",
    "timestamptz",
    "text",
    "text",
    "text",
    "text",
    "jsonb",
    "varchar",
    "varchar",
)


def _as_is(text: str) -> str:
    return text


async def append_events(
    session: AsyncSession,
    *,
    actor: str,
    events: Sequence[PendingEvent],
    at: datetime | None = None,
    texts: Sequence[str | None] | None = None,
) -> int:
    """Append ``events`` to the chain; ``texts[i]``, if given, is ``change_text`` of event i's
    change, computed ahead (that change is then not read)."""
    if not events:
        return 0
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(func.current_user(), 0)))
    )
    last = (
        await session.execute(
            select(EventLogEntry.seq, EventLogEntry.hash)
            .order_by(EventLogEntry.seq.desc())
            .limit(1)
        )
    ).first()
    seq, prev_hash = (last[0], last[1]) if last else (0, GENESIS_HASH)
    at = at or clock.now()
    stamp = at_text(at)
    rows: list[tuple[Any, ...]] = []
    sha256 = hashlib.sha256
    # ``event_canonical`` with what is constant per page (or per action) encoded once.
    head = {
        a: f'{{"action":{_dumps(a)},"actor":{_dumps(actor)},"at":{_dumps(stamp)},"change":'
        for a in {e[0] for e in events}
    }
    tail = {t: f',"record_type":{_dumps(t)},"seq":' for t in {e[1] for e in events}}
    prev_text = _dumps(prev_hash)
    for i, (action, record_type, record_id, change) in enumerate(events):
        seq += 1
        known = texts[i] if texts is not None else None
        text = known if known is not None else change_text(change)
        digest = sha256(
            (
                f'{head[action]}{text},"prev_hash":{prev_text},'
                f'"record_id":{_dumps(record_id)}{tail[record_type]}{seq}}}'
            ).encode()
        ).hexdigest()
        # The canonical text is the jsonb value: written as it is, not serialised again.
        change_value = Jsonb(text, dumps=_as_is)
        rows.append(
            (seq, at, actor, action, record_type, record_id, change_value, prev_hash, digest)
        )
        prev_hash = digest
        prev_text = f'"{digest}"'  # hex: nothing to escape
    raw, translate = await driver(session)
    query = _copy_sql(schema_of(EventLogEntry.__table__, translate))  # type: ignore[arg-type]
    async with raw.cursor() as cur, cur.copy(query) as copy:
        copy.set_types(_COPY_TYPES)
        for row in rows:
            await copy.write_row(row)
    return len(rows)
