"""What every record of the shared schema carries, and how its changes are logged.

Every record lives in its owner's tenant schema (models derive from ``TenantBase`` and
``RecordMixin``), has provenance — source system, external id (unique together), fetched
at, content hash — and created/updated by/at. Every state change appends to the owner's
event log through ``log_change`` in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, Text, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from accord.platform import clock
from accord.platform.canonical import canonical_digest
from accord.platform.eventlog import append_event

ACCORD_SOURCE = "accord"


class RecordMixin:
    """Identity, provenance and authorship columns shared by every record table."""

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    source_system: Mapped[str] = mapped_column(Text, default=ACCORD_SOURCE)
    external_id: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    content_hash: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    updated_by: Mapped[str] = mapped_column(Text)

    #: The name events use for this kind of record, e.g. "finding"; set by each model.
    record_type: ClassVar[str]


def now() -> datetime:
    return clock.now()


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


def content_hash_of(payload: dict[str, Any]) -> str:
    """SHA-256 of the RFC 8785 form of a record's source payload (provenance)."""
    return canonical_digest(jsonable(payload))


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
