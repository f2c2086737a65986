"""The sync loop: fetch a page, write it and move the bookmark in one transaction, repeat.

A crash between pages loses nothing (the bookmark names the page after the last committed
one) and duplicates nothing (upserts by source key; unchanged payloads write nothing). The
next pages are fetched and prepared while the current one is written (``_ahead``), so the
source, this process and PostgreSQL work at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import exists, func, select, update

from accord.connectors.framework.errors import DeltaExpired, FatalError
from accord.connectors.framework.mapping import compile_mapping
from accord.connectors.framework.state import Bookmark
from accord.connectors.framework.streams import Page
from accord.connectors.instances import Loaded
from accord.connectors.models import ConnectorInstance, QuarantineEntry, SyncRun
from accord.connectors.sync import runs
from accord.connectors.sync.pages import PageContext, Prepared, prepare_page_soon, process_page
from accord.connectors.sync.sinks import Sink
from accord.platform import clock, telemetry
from accord.platform.errors import AccordError, describe_failure
from accord.platform.runtime import Runtime
from accord.platform.telemetry import AttributeValue
from accord.tenants.sessions import tenant_session

log = logging.getLogger(__name__)
T = TypeVar("T")
COUNTS = ("pages", "fetched", "created", "updated", "unchanged", "quarantined")
ProgressHook = Callable[[dict[str, int]], None]


@dataclass
class RunResult:
    run_id: str
    instance: str
    stream: str
    status: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    full_resync: bool = False
    error: str | None = None


#: Record type -> "module:Class" of its sink; a sink takes the source system.
SINKS: dict[str, str] = {
    "finding": "accord.connectors.sync.finding_sink:FindingSink",
    "capa": "accord.connectors.sync.capa_sink:CapaSink",
    "capa_action": "accord.connectors.sync.capa_sink:CapaActionSink",
    "risk": "accord.connectors.sync.risk_sink:RiskSink",
    "clause_mapping": "accord.connectors.sync.mapping_sink:ClauseMappingSink",
}


def make_sink(record_type: str, source_system: str) -> Sink:
    target = SINKS.get(record_type)
    if target is None:
        raise AccordError(
            f"No sink for record type {record_type!r} (known: {', '.join(sorted(SINKS))}).",
            reason="UNKNOWN_RECORD_TYPE",
        )
    module, _, name = target.partition(":")
    sink_class: Callable[[str], Sink] = getattr(importlib.import_module(module), name)
    return sink_class(source_system)


def page_context(
    loaded: Loaded, stream_name: str, run_id: Any, open_q: bool = False
) -> PageContext:
    stream = loaded.source.stream(loaded.config, stream_name)
    mapping = compile_mapping(
        loaded.source.mapping_spec(stream), (loaded.row.mapping_override or {}).get(stream.name)
    )
    return PageContext(
        instance_id=loaded.row.id,
        stream=stream.name,
        run_id=run_id,
        actor=f"connector:{loaded.row.name}",
        primary_key=stream.primary_key,
        mapping=mapping,
        sink=make_sink(mapping.record_type, mapping.source_system),
        open_quarantine=open_q,
    )


#: Pages prepared ahead of the one being written, and pages fetched ahead of the one
#: being prepared.
AHEAD = 3
FETCH_AHEAD = 2

#: Allocations between young-generation collections while a sync runs (CPython: 700).
SYNC_GC_THRESHOLD = 10_000
#: Syncs running in this process, and the thresholds they will put back.
_bulk_runs = 0
_saved_threshold: tuple[int, ...] = ()


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Garbage collection tuned for bulk work while any sync runs in this process.

    A page allocates some hundred objects per record, nearly all freed by reference
    counting as soon as the page is written, and the default thresholds run a young
    collection every 700 allocations and a full one every hundred of those: a full
    collection walks every object of the process (modules, mappings, the ORM), which cost
    about a tenth of a sync's CPU. Objects that exist when the first sync starts are frozen
    out of the collector (``gc.freeze``), and young collections run every
    ``SYNC_GC_THRESHOLD`` allocations; both are undone when the last sync ends. Not more:
    each page leaves some cyclic garbage (an HTTP response holding its body among it), and
    at 20,000 the sync's peak RSS grew with the number of records (134 MB after 30,000,
    158 MB after 120,000); at 10,000 it stays flat (docs/benchmarks.md).
    """
    global _bulk_runs, _saved_threshold
    if _bulk_runs == 0:
        _saved_threshold = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(max(_saved_threshold[0], SYNC_GC_THRESHOLD), *_saved_threshold[1:])
    _bulk_runs += 1
    try:
        yield
    finally:
        _bulk_runs -= 1
        if _bulk_runs == 0:
            gc.set_threshold(*_saved_threshold)
            gc.unfreeze()


@dataclass(frozen=True, slots=True)
class _Failed:
    error: Exception


_END = object()


async def _ahead(
    pages: AsyncIterator[Page], ctx: PageContext, expect_changes: list[bool]
) -> AsyncIterator[tuple[Page, Prepared]]:
    """``pages`` as they will be written, fetched and prepared up to ``AHEAD`` pages ahead
    by tasks of their own.

    The loop writes a page in several round trips to PostgreSQL; the next pages' CPU work
    (hash, map, validate: ``prepare_page_soon`` yields every few records) runs in those
    waits, so the two cores work at once. A second task fetches up to ``FETCH_AHEAD``
    pages ahead of the one being prepared, so the source's replies are awaited while this
    process works, not while it would otherwise idle. Every page is hashed ahead; it is
    also mapped and validated ahead only while ``expect_changes[0]`` (kept up to date by
    the loop): in a re-sync most records are unchanged, and validating records that are
    then skipped costs more than the overlap saves. An error while reading
    (``DeltaExpired`` included) comes out after the pages before it, as it would without
    reading ahead.
    """
    fetched: asyncio.Queue[Any] = asyncio.Queue(FETCH_AHEAD)
    queue: asyncio.Queue[Any] = asyncio.Queue(AHEAD)

    async def fetch() -> None:
        try:
            async for page in pages:
                await fetched.put(page)
        except Exception as exc:
            await fetched.put(_Failed(exc))
            return
        await fetched.put(_END)

    async def produce() -> None:
        while True:
            page = await fetched.get()
            if page is _END or isinstance(page, _Failed):
                await queue.put(page)
                return
            try:
                prepared = await prepare_page_soon(
                    ctx, page.records, page.positions, validate=expect_changes[0]
                )
            except Exception as exc:
                await queue.put(_Failed(exc))
                return
            await queue.put((page, prepared))

    fetcher = asyncio.create_task(fetch(), name=f"accord-sync-fetch-{ctx.stream}")
    producer = asyncio.create_task(produce(), name=f"accord-sync-ahead-{ctx.stream}")
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        for task in (producer, fetcher):
            if not task.done():
                task.cancel()
            # The run is ending (or failing) anyway: pages read ahead are not written.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def run_stream(
    runtime: Runtime,
    loaded: Loaded,
    stream_name: str,
    *,
    progress: ProgressHook | None = None,
) -> RunResult:
    row = loaded.row
    attributes: dict[str, AttributeValue] = {
        "accord.tenant": row.tenant,
        "accord.connector": row.kind,
        "accord.stream": stream_name,
    }
    with (
        _fewer_collections(),
        telemetry.span("sync.run", attributes) as span,
    ):
        result = await _run_stream(runtime, loaded, stream_name, progress=progress)
        span.set_attribute("accord.status", result.status)
        span.set_attributes({f"accord.records.{k}": v for k, v in result.counts.items()})
        if result.status != "succeeded":
            telemetry.mark_failed(span, result.status)
        if telemetry.instruments() is not None:
            await _record_quarantine_size(runtime, loaded, result.stream)
        return result


async def _record_quarantine_size(runtime: Runtime, loaded: Loaded, stream: str) -> None:
    metrics = telemetry.instruments()
    assert metrics is not None
    row = loaded.row
    async with tenant_session(runtime, row.tenant) as session:
        size = await session.scalar(
            select(func.count()).where(
                QuarantineEntry.instance_id == row.id,
                QuarantineEntry.stream == stream,
                QuarantineEntry.fixed_at.is_(None),
            )
        )
    metrics.quarantine_size.set(
        size or 0,
        {"accord.tenant": row.tenant, "accord.connector": row.kind, "accord.stream": stream},
    )


def _count_page(loaded: Loaded, stream: str, counts: dict[str, int]) -> None:
    metrics = telemetry.instruments()
    if metrics is None:
        return
    attributes = {"accord.connector": loaded.row.kind, "accord.stream": stream}
    for outcome in ("created", "updated", "unchanged", "quarantined"):
        if counts.get(outcome):
            metrics.sync_records.add(counts[outcome], {**attributes, "outcome": outcome})


async def _run_stream(
    runtime: Runtime,
    loaded: Loaded,
    stream_name: str,
    *,
    progress: ProgressHook | None = None,
) -> RunResult:
    row, source, config = loaded.row, loaded.source, loaded.config
    stream = source.stream(config, stream_name)
    async with tenant_session(runtime, row.tenant) as session:
        run, bookmark = await runs.start_run(
            session, instance_id=row.id, instance_name=row.name, kind=row.kind, stream=stream.name
        )
        open_q = bool(
            await session.scalar(
                select(
                    exists().where(
                        QuarantineEntry.instance_id == row.id,
                        QuarantineEntry.stream == stream.name,
                        QuarantineEntry.fixed_at.is_(None),
                    )
                )
            )
        )
        ctx = page_context(loaded, stream.name, run.id, open_q)
        # None of the source's records here yet: the pages will bring new records.
        table = ctx.sink.table
        first_import = not await session.scalar(
            select(exists().where(table.c.source_system == ctx.mapping.source_system))
        )
    result = RunResult(str(run.id), row.name, stream.name, "running")
    client = config.client(row.base_url)
    status, error = "succeeded", None
    try:
        while True:
            try:
                reader = source.open_reader(stream, config, client)
                # Learnt from the pages written so far, starting from whether the source
                # has records here at all (a full re-sync brings mostly unchanged ones).
                expect_changes = [first_import]
                async for page, prepared in _ahead(reader.pages(bookmark), ctx, expect_changes):
                    page_span = telemetry.span(
                        "sync.page", {"accord.tenant": row.tenant, "accord.stream": stream.name}
                    )
                    with page_span as traced:
                        async with tenant_session(runtime, row.tenant) as session:
                            current = await runs.own_stream(
                                session, run_id=run.id, instance_id=row.id, stream=stream.name
                            )
                            counts = await process_page(
                                session,
                                ctx,
                                page.records,
                                page.positions,
                                prepared=prepared,
                                deleted=page.deleted,
                            )
                            bookmark = current.after_page(
                                page.cursor, page.high_water, page.delta_link
                            )
                            await runs.commit_page(
                                session,
                                run_id=run.id,
                                instance_id=row.id,
                                stream=stream.name,
                                bookmark=bookmark,
                                counts=counts,
                                retries=client.retries,
                            )
                        traced.set_attributes({f"accord.records.{k}": v for k, v in counts.items()})
                    _count_page(loaded, stream.name, counts)
                    expect_changes[0] = counts["unchanged"] * 2 < counts["fetched"]
                    for key, value in counts.items():
                        result.counts[key] += value
                    if progress is not None:
                        progress(result.counts)
                break
            except DeltaExpired as exc:
                if result.full_resync:
                    raise
                # The source forgot our position: start over; unchanged records cost a hash.
                client.log.append({"reason": exc.reason, "action": "full resync"})
                result.full_resync, bookmark = True, Bookmark()
                async with tenant_session(runtime, row.tenant) as session:
                    await runs.own_stream(
                        session, run_id=run.id, instance_id=row.id, stream=stream.name
                    )
                    await runs.commit_page(
                        session,
                        run_id=run.id,
                        instance_id=row.id,
                        stream=stream.name,
                        bookmark=bookmark,
                        counts={},
                        retries=client.retries,
                    )
    except FatalError as exc:
        status, error = "failed", f"{exc.reason}: {exc.message}"
        client.log.append({"reason": exc.reason, "status": exc.status, "body": exc.body})
    except AccordError as exc:
        status, error = "failed", str(exc)
    except Exception as exc:
        status, error = "failed", describe_failure(exc)
        log.exception("sync %s/%s failed", row.name, stream.name)
    finally:
        await client.aclose()
    async with tenant_session(runtime, row.tenant) as session:
        await runs.finish_run(
            session,
            run_id=run.id,
            status=status,
            error=error,
            log=client.log,
            full_resync=result.full_resync,
            retries=client.retries,
        )
    async with runtime.control_session() as control:
        await control.execute(
            update(ConnectorInstance)
            .where(ConnectorInstance.id == row.id)
            .values(last_run_at=clock.now())
        )
    result.status, result.error = status, error
    return result


async def run_instance(
    runtime: Runtime,
    loaded: Loaded,
    streams: list[str] | None = None,
    progress: ProgressHook | None = None,
) -> list[RunResult]:
    names = streams or [s.name for s in loaded.source.streams(loaded.config)]
    return [await run_stream(runtime, loaded, name, progress=progress) for name in names]


async def list_runs(runtime: Runtime, tenant: str, limit: int = 50) -> list[SyncRun]:
    async with tenant_session(runtime, tenant) as session:
        return list(
            (
                await session.scalars(
                    select(SyncRun).order_by(SyncRun.started_at.desc()).limit(limit)
                )
            ).all()
        )
