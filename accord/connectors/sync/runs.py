"""Sync runs in the tenant's store: start (taking over the stream), count per page, finish.

A run owns its stream through ``sync_state.run_id``; every page checks it under a row lock,
so a run that lost ownership (declared dead and replaced) cannot commit another page. A
``running`` row is declared interrupted when its process is gone (same host, pid dead) or
its heartbeat is older than the lease (another host, e.g. a Kubernetes pod that was killed).
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from accord.connectors.framework.state import Bookmark
from accord.connectors.models import SyncRun, SyncState
from accord.platform import clock
from accord.platform.errors import Conflict
from accord.platform.processes import process_alive

LEASE = timedelta(minutes=10)
HOST = socket.gethostname()


def _stale(run: SyncRun, now: datetime) -> bool:
    if run.host == HOST and (run.pid == os.getpid() or not process_alive(run.pid)):
        return True
    return now - run.heartbeat_at > LEASE


async def start_run(
    session: AsyncSession, *, instance_id: uuid.UUID, instance_name: str, kind: str, stream: str
) -> tuple[SyncRun, Bookmark]:
    now = clock.now()
    running = (
        await session.scalars(
            select(SyncRun)
            .where(
                SyncRun.instance_id == instance_id,
                SyncRun.stream == stream,
                SyncRun.status == "running",
            )
            .with_for_update()
        )
    ).all()
    for run in running:
        if not _stale(run, now):
            raise Conflict(
                f"Run {run.id} of {instance_name}/{stream} is still running "
                f"(pid {run.pid} on {run.host}).",
                reason="RUN_IN_PROGRESS",
            )
        run.status, run.ended_at = "interrupted", now
        run.error = "the process ended before the run finished; resumed by a later run"
    await session.execute(
        pg_insert(SyncState)
        .values(
            instance_id=instance_id, stream=stream, bookmark=Bookmark().model_dump(), updated_at=now
        )
        .on_conflict_do_nothing()
    )
    state = await session.get(SyncState, (instance_id, stream), with_for_update=True)
    assert state is not None
    run = SyncRun(
        id=uuid.uuid4(),
        instance_id=instance_id,
        instance_name=instance_name,
        stream=stream,
        kind=kind,
        status="running",
        started_at=now,
        heartbeat_at=now,
        host=HOST,
        pid=os.getpid(),
        pages=0,
        fetched=0,
        created=0,
        updated=0,
        unchanged=0,
        quarantined=0,
        retries=0,
        full_resync=False,
        bookmark_before=state.bookmark,
        log=[],
    )
    session.add(run)
    state.run_id, state.updated_at = run.id, now
    return run, Bookmark.model_validate(state.bookmark)


async def own_stream(
    session: AsyncSession, *, run_id: uuid.UUID, instance_id: uuid.UUID, stream: str
) -> Bookmark:
    """The stream's bookmark, locked for this page; Conflict if another run took over."""
    row = (
        await session.execute(
            select(SyncState.run_id, SyncState.bookmark)
            .where(SyncState.instance_id == instance_id, SyncState.stream == stream)
            .with_for_update()
        )
    ).one()
    if row[0] != run_id:
        raise Conflict("Another run took over this stream.", reason="RUN_SUPERSEDED")
    return Bookmark.model_validate(row[1])


async def commit_page(
    session: AsyncSession,
    *,
    run_id: uuid.UUID,
    instance_id: uuid.UUID,
    stream: str,
    bookmark: Bookmark | None,
    counts: dict[str, int],
    retries: int,
) -> None:
    now = clock.now()
    if bookmark is not None:
        await session.execute(
            update(SyncState)
            .where(SyncState.instance_id == instance_id, SyncState.stream == stream)
            .values(bookmark=bookmark.model_dump(), updated_at=now)
        )
    values: dict[str, Any] = {k: getattr(SyncRun, k) + v for k, v in counts.items()}
    values.update(heartbeat_at=now, retries=retries)
    if bookmark is not None:
        values["bookmark_after"] = bookmark.model_dump()
    await session.execute(update(SyncRun).where(SyncRun.id == run_id).values(**values))


async def finish_run(
    session: AsyncSession,
    *,
    run_id: uuid.UUID,
    status: str,
    error: str | None,
    log: list[dict[str, Any]],
    full_resync: bool,
    retries: int,
) -> SyncRun:
    run = await session.get(SyncRun, run_id)
    assert run is not None
    run.status, run.error, run.ended_at = status, error, clock.now()
    run.log, run.full_resync, run.retries = log[-200:], full_resync, retries
    state = await session.get(SyncState, (run.instance_id, run.stream))
    if state is not None and state.run_id == run_id:
        state.run_id = None
        run.bookmark_after = state.bookmark
    return run
