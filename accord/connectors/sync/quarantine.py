"""The quarantine: list what was rejected and why; replay it through the current mapping.

Replay runs the stored source payloads through the same page code as a sync (with the
instance's mapping as it is now), one transaction per chunk, recorded as a run of its own.
Entries that now pass are marked fixed and replayed; the others keep their (new) reasons.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update

from accord.connectors.instances import Loaded
from accord.connectors.models import QuarantineEntry
from accord.connectors.sync import runs
from accord.connectors.sync.engine import page_context
from accord.connectors.sync.pages import process_page
from accord.platform import clock
from accord.platform.errors import describe_failure
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session

CHUNK = 500


@dataclass(frozen=True, slots=True)
class ReplayReport:
    run_id: str
    replayed: int
    still_failing: int


async def list_entries(
    runtime: Runtime,
    tenant: str,
    *,
    instance_id: uuid.UUID | None = None,
    include_fixed: bool = False,
    limit: int = 200,
) -> Sequence[QuarantineEntry]:
    async with tenant_session(runtime, tenant) as session:
        query = select(QuarantineEntry).order_by(QuarantineEntry.id).limit(limit)
        if instance_id is not None:
            query = query.where(QuarantineEntry.instance_id == instance_id)
        if not include_fixed:
            query = query.where(QuarantineEntry.fixed_at.is_(None))
        return (await session.scalars(query)).all()


async def replay(runtime: Runtime, loaded: Loaded, stream: str) -> ReplayReport:
    row = loaded.row
    async with tenant_session(runtime, row.tenant) as session:
        run, _ = await runs.start_run(
            session, instance_id=row.id, instance_name=row.name, kind=row.kind, stream=stream
        )
    ctx = page_context(loaded, stream, run.id)
    replayed = failing = 0
    last_id = 0
    error: str | None = None
    try:
        while True:
            async with tenant_session(runtime, row.tenant) as session:
                await runs.own_stream(session, run_id=run.id, instance_id=row.id, stream=stream)
                entries = (
                    await session.scalars(
                        select(QuarantineEntry)
                        .where(
                            QuarantineEntry.instance_id == row.id,
                            QuarantineEntry.stream == stream,
                            QuarantineEntry.fixed_at.is_(None),
                            QuarantineEntry.id > last_id,
                        )
                        .order_by(QuarantineEntry.id)
                        .limit(CHUNK)
                    )
                ).all()
                if not entries:
                    break
                last_id = entries[-1].id
                # Re-map every payload, even one whose record exists: the mapping changed.
                still: set[str] = set()
                counts = await process_page(
                    session,
                    ctx,
                    [e.payload for e in entries],
                    [e.position or 0 for e in entries],
                    skip_unchanged=False,
                    rejected=still,
                )
                fixed = [e.id for e in entries if e.payload_hash not in still]
                failing += len(entries) - len(fixed)
                replayed += len(fixed)
                now = clock.now()
                await session.execute(
                    update(QuarantineEntry)
                    .where(QuarantineEntry.id.in_(fixed))
                    .values(fixed_at=now, replayed_at=now, replay_run_id=run.id)
                )
                await runs.commit_page(
                    session,
                    run_id=run.id,
                    instance_id=row.id,
                    stream=stream,
                    bookmark=None,
                    counts=counts,
                    retries=0,
                )
    except Exception as exc:
        error = describe_failure(exc)
        raise
    finally:
        async with tenant_session(runtime, row.tenant) as session:
            await runs.finish_run(
                session,
                run_id=run.id,
                status="failed" if error else "succeeded",
                error=error,
                log=[{"action": "replay"}],
                full_resync=False,
                retries=0,
            )
    return ReplayReport(str(run.id), replayed, failing)
