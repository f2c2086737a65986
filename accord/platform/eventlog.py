"""Each tenant's append-only, hash-chained event log.

Entry ``n`` stores ``hash = SHA-256(JCS(entry without hash))`` where the entry includes the
previous entry's hash, so changing, removing or reordering any row breaks the chain from
that row on. The database refuses UPDATE, DELETE and TRUNCATE on the table (trigger, and
the tenant role is granted only SELECT and INSERT); ``verify_chain`` finds what it cannot
refuse: tampering by someone who bypassed both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, String, Text, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from accord.platform import clock
from accord.platform.canonical import canonical_digest
from accord.platform.db import TenantBase

GENESIS_HASH = "0" * 64


class EventLogEntry(TenantBase):
    __tablename__ = "event_log"
    __table_args__ = (Index("ix_event_log_record", "record_type", "record_id"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    record_type: Mapped[str] = mapped_column(Text)
    record_id: Mapped[str] = mapped_column(Text)
    change: Mapped[dict[str, Any]] = mapped_column(JSONB)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


def entry_digest(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    record_type: str,
    record_id: str,
    change: Mapping[str, Any],
    prev_hash: str,
) -> str:
    return canonical_digest(
        {
            "seq": seq,
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "record_type": record_type,
            "record_id": record_id,
            "change": dict(change),
            "prev_hash": prev_hash,
        }
    )


async def append_event(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    record_type: str,
    record_id: str,
    change: Mapping[str, Any],
    at: datetime | None = None,
) -> EventLogEntry:
    """Append one entry to the log of the tenant that ``session`` is bound to."""
    # Serialise appenders of this tenant only: inside a tenant session current_user is the
    # tenant's role, so the lock key is per tenant and other tenants are never blocked.
    lock_key = func.hashtextextended(func.current_user(), 0)
    await session.execute(select(func.pg_advisory_xact_lock(lock_key)))
    last = (
        await session.execute(
            select(EventLogEntry.seq, EventLogEntry.hash)
            .order_by(EventLogEntry.seq.desc())
            .limit(1)
        )
    ).first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    at = at or clock.now()
    entry = EventLogEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        record_type=record_type,
        record_id=record_id,
        change=dict(change),
        prev_hash=prev_hash,
    )
    entry.hash = entry_digest(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        record_type=record_type,
        record_id=record_id,
        change=change,
        prev_hash=prev_hash,
    )
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    ok: bool
    entries: int
    first_broken_seq: int | None = None
    reason: str | None = None
    head_hash: str = GENESIS_HASH


async def verify_chain(session: AsyncSession) -> ChainVerdict:
    """Recompute the whole chain; name the first sequence number where it breaks."""
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    result = await session.stream_scalars(
        select(EventLogEntry).order_by(EventLogEntry.seq).execution_options(yield_per=2000)
    )
    try:
        async for row in result:
            count += 1
            problem: str | None = None
            if row.seq != expected_seq:
                problem = f"sequence gap: expected {expected_seq}, found {row.seq}"
            elif row.prev_hash != prev_hash:
                problem = "previous-hash link does not match the preceding entry"
            elif row.hash != entry_digest(
                seq=row.seq,
                at=row.at,
                actor=row.actor,
                action=row.action,
                record_type=row.record_type,
                record_id=row.record_id,
                change=row.change,
                prev_hash=row.prev_hash,
            ):
                problem = "content does not match its hash"
            if problem is not None:
                return ChainVerdict(
                    ok=False, entries=count, first_broken_seq=expected_seq, reason=problem
                )
            expected_seq, prev_hash = row.seq + 1, row.hash
    finally:
        await result.close()
    return ChainVerdict(ok=True, entries=count, head_hash=prev_hash)
