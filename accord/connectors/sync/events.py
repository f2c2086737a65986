"""Append many events in one statement, keeping the hash chain exactly as ``append_event``.

Same lock (a transaction-scoped advisory lock on the tenant role) and same digest
(``entry_digest``), so ``verify_chain`` cannot tell batched entries from single ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.records import jsonable
from accord.platform.eventlog import GENESIS_HASH, EventLogEntry, entry_digest

#: (action, record_type, record_id, change)
PendingEvent = tuple[str, str, str, dict[str, Any]]


async def append_events(
    session: AsyncSession,
    *,
    actor: str,
    events: Sequence[PendingEvent],
    at: datetime | None = None,
) -> int:
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
    at = at or datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for action, record_type, record_id, change in events:
        seq += 1
        change = jsonable(change)
        digest = entry_digest(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            record_type=record_type,
            record_id=record_id,
            change=change,
            prev_hash=prev_hash,
        )
        rows.append(
            {
                "seq": seq,
                "at": at,
                "actor": actor,
                "action": action,
                "record_type": record_type,
                "record_id": record_id,
                "change": change,
                "prev_hash": prev_hash,
                "hash": digest,
            }
        )
        prev_hash = digest
    await session.execute(insert(EventLogEntry), rows)
    return len(rows)
