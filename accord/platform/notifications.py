"""Change notifications from every store, fanned out to this process's subscribers.

Tenant triggers (tenant migration t0011) ``NOTIFY`` on ``accord_events`` (event-log ranges)
and ``accord_sync`` (sync-run progress) at commit, so a change written through any API
replica or sync worker reaches subscribers on every replica. The hub keeps one dedicated
``LISTEN`` connection per store (autocommit, outside the pools) — opened on the first
subscription, reconnected with a delay when lost — and hands each notification to the
queues of the subscribers of its channel. A subscriber that falls ``queue_size`` behind
is dropped rather than allowed to hold memory; its iterator ends with ``SubscriberLagged``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from accord.platform.errors import AccordError, ErrorCode

log = logging.getLogger(__name__)

CHANNELS = ("accord_events", "accord_sync")


class SubscriberLagged(AccordError):
    def __init__(self) -> None:
        super().__init__(
            "The subscription fell too far behind and was closed; subscribe again.",
            reason="SUBSCRIBER_LAGGED",
            code=ErrorCode.CONFLICT,
        )


@dataclass(frozen=True, slots=True)
class Notification:
    store: str
    channel: str
    payload: dict[str, Any]


class _Subscriber:
    def __init__(self, channel: str, size: int) -> None:
        self.channel = channel
        self.queue: asyncio.Queue[Notification | None] = asyncio.Queue(size)
        self.lagged = False

    def offer(self, note: Notification) -> None:
        try:
            self.queue.put_nowait(note)
        except asyncio.QueueFull:
            self.lagged = True
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class Watcher(Protocol):
    """A permanent, synchronous listener (a cache kept fresh by notifications)."""

    channel: str

    def on_note(self, note: Notification) -> None: ...

    def on_gap(self, store: str) -> None: ...


def libpq_dsn(url: str) -> str:
    """A libpq connection string for a SQLAlchemy URL (``postgresql+psycopg://…``), for
    the dedicated LISTEN connections that live outside the pools."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class NotificationHub:
    def __init__(
        self,
        store_urls: Callable[[], dict[str, str]],
        *,
        queue_size: int = 1000,
        retry_delay: float = 1.0,
    ) -> None:
        #: The stores to listen to, asked at each subscription (stores can be added live).
        self._store_urls = store_urls
        self._urls: dict[str, str] = {}
        self._queue_size = queue_size
        self._retry_delay = retry_delay
        self._subscribers: set[_Subscriber] = set()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._listening: dict[str, asyncio.Event] = {}
        self._watchers: list[Watcher] = []

    async def _listen(self, store: str) -> None:
        dsn = libpq_dsn(self._urls[store])
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                    for channel in CHANNELS:
                        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    for watcher in self._watchers:  # what came before may have been missed
                        watcher.on_gap(store)
                    self._listening[store].set()
                    async for note in conn.notifies():
                        self._dispatch(store, note.channel, note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a lost connection: listen again after a pause
                self._listening[store].clear()
                for watcher in self._watchers:
                    watcher.on_gap(store)
                log.warning("Notification listener on %s failed (%r); reconnecting.", store, exc)
                await asyncio.sleep(self._retry_delay)

    def _dispatch(self, store: str, channel: str, raw: str) -> None:
        try:
            payload = json.loads(raw)
        except ValueError:
            log.warning("Ignoring a malformed %s notification: %r", channel, raw[:200])
            return
        if not isinstance(payload, dict):
            return
        note = Notification(store, channel, payload)
        for watcher in self._watchers:
            if watcher.channel == channel:
                watcher.on_note(note)
        for subscriber in list(self._subscribers):
            if subscriber.channel == channel and not subscriber.lagged:
                subscriber.offer(note)

    def _start(self) -> None:
        self._urls.update(self._store_urls())
        for store in self._urls:
            if store not in self._tasks:
                self._listening[store] = asyncio.Event()
                self._tasks[store] = asyncio.create_task(
                    self._listen(store), name=f"accord-notifications-{store}"
                )

    async def _ensure_listening(self, within: float) -> None:
        self._start()
        waits = [asyncio.wait_for(e.wait(), within) for e in self._listening.values()]
        results = await asyncio.gather(*waits, return_exceptions=True)
        for store, result in zip(self._listening, results, strict=True):
            if isinstance(result, BaseException):
                # A store that cannot be listened to now: others still deliver; it retries.
                log.warning("Not yet listening on store %s.", store)

    @asynccontextmanager
    async def subscribe(
        self, channel: str, *, within: float = 5.0
    ) -> AsyncIterator[AsyncIterator[Notification]]:
        """Notifications of ``channel`` from now on (listening is set up before yielding)."""
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}")
        subscriber = _Subscriber(channel, self._queue_size)
        self._subscribers.add(subscriber)
        try:
            await self._ensure_listening(within)

            async def notes() -> AsyncIterator[Notification]:
                while True:
                    note = await subscriber.queue.get()
                    if note is None:
                        raise SubscriberLagged
                    yield note

            yield notes()
        finally:
            self._subscribers.discard(subscriber)

    def watch(self, watcher: Watcher) -> None:
        """Call ``watcher`` for every notification of its channel from every store, for as
        long as the hub lives, and tell it when a store's notifications may have been
        missed (its listener connected anew, or was lost). Listening starts now."""
        if watcher.channel not in CHANNELS:
            raise ValueError(f"unknown channel {watcher.channel!r}")
        self._watchers.append(watcher)
        self._start()

    def listening_on(self, store: str) -> bool:
        """Whether ``store``'s LISTEN connection is up (notifications are arriving)."""
        event = self._listening.get(store)
        return event is not None and event.is_set()

    def subscribers(self, channel: str) -> int:
        """How many subscribers ``channel`` has in this process now."""
        return sum(1 for s in self._subscribers if s.channel == channel)

    def listening(self) -> bool:
        """Whether every known store's LISTEN connection is up."""
        return bool(self._listening) and all(e.is_set() for e in self._listening.values())

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
