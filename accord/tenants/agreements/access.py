"""Writing and reading each grantor's access log (in the grantor's own schema and store)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.platform import telemetry
from accord.platform.runtime import Runtime
from accord.tenants.agreements.models import AccessLogEntry
from accord.tenants.sessions import tenant_session


async def write_access_log(runtime: Runtime, rows: Mapping[str, Sequence[AccessLogEntry]]) -> None:
    """One transaction per grantor, grantors in parallel: a request's reads, batched."""

    async def write(grantor: str, entries: Sequence[AccessLogEntry]) -> None:
        async with tenant_session(runtime, grantor) as session:
            session.add_all(entries)
        telemetry.access_logged(len(entries))

    await asyncio.gather(*(write(g, e) for g, e in rows.items() if e))


async def read_access_log(
    *,
    session: AsyncSession,
    since: datetime | None = None,
    limit: int = 100,
    before_id: int | None = None,
    record_types: Collection[str] | None = None,
) -> Sequence[AccessLogEntry]:
    """The grantor's own log, newest first (``session`` is the grantor's tenant session):
    entries older than ``before_id`` if given, of ``record_types`` if given."""
    stmt = select(AccessLogEntry).order_by(AccessLogEntry.id.desc()).limit(limit)
    if since is not None:
        stmt = stmt.where(AccessLogEntry.at >= since)
    if before_id is not None:
        stmt = stmt.where(AccessLogEntry.id < before_id)
    if record_types is not None:
        stmt = stmt.where(AccessLogEntry.record_type.in_(list(record_types)))
    return (await session.scalars(stmt)).all()
