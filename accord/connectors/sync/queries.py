"""Reading a tenant's sync runs (in the tenant's own session): newest first, in keyset pages."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from accord.connectors.models import SyncRun


async def list_runs(
    *,
    session: AsyncSession,
    limit: int = 20,
    after: tuple[datetime, uuid.UUID] | None = None,
    instance_id: uuid.UUID | None = None,
    stream: str | None = None,
    status: str | None = None,
) -> Sequence[SyncRun]:
    """Up to ``limit`` runs, newest start first; ``after`` is the (started at, id) of the
    last run of the previous page."""
    stmt = select(SyncRun).order_by(SyncRun.started_at.desc(), SyncRun.id.desc()).limit(limit)
    if after is not None:
        stmt = stmt.where(tuple_(SyncRun.started_at, SyncRun.id) < tuple_(*after))
    if instance_id is not None:
        stmt = stmt.where(SyncRun.instance_id == instance_id)
    if stream is not None:
        stmt = stmt.where(SyncRun.stream == stream)
    if status is not None:
        stmt = stmt.where(SyncRun.status == status)
    return (await session.scalars(stmt)).all()
