"""How a record's changes are logged: every state change appends one event to the owner's
event log through ``log_change``, in the same transaction; ``record_events`` reads them back."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.records.models import RecordMixin
from accord.platform.eventlog import EventLogEntry, append_event


def jsonable(value: Any) -> Any:
    """Values as they go into an event's ``change``: dates as ISO strings, UUIDs as text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if hasattr(value, "value") and isinstance(value.value, str):
        return value.value
    return value


async def log_change(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    record: RecordMixin,
    change: dict[str, Any],
) -> None:
    """Append one event for ``record`` to its owner's log (the session's tenant)."""
    await append_event(
        session,
        actor=actor,
        action=action,
        record_type=record.record_type,
        record_id=str(record.id),
        change=jsonable(change),
    )


async def record_events(
    *, session: AsyncSession, record_type: str, record_id: str
) -> Sequence[EventLogEntry]:
    """The events of one record in the session's tenant log, oldest first."""
    stmt = (
        select(EventLogEntry)
        .where(EventLogEntry.record_type == record_type, EventLogEntry.record_id == record_id)
        .order_by(EventLogEntry.seq)
    )
    return (await session.scalars(stmt)).all()
