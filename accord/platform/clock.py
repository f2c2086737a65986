"""The time Accord reckons by: one source for "now", so that time is an input.

Records, windows, deadlines and tokens ask this module for the time instead of the
operating system. In production it is the system clock; a test (or a replay) puts a clock
of its own in place with :func:`use` for as long as it needs, so that no result depends
on the date a test happens to run on.

Database defaults (``created_at``/``updated_at`` stamps) stay the server's own time: they
record when a row was written, not a fact about the record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


_clock: Clock = system_clock


def now() -> datetime:
    """The current instant, timezone-aware (UTC)."""
    return _clock()


def today() -> date:
    """The current day in UTC, the day records are reckoned by."""
    return _clock().astimezone(UTC).date()


@contextmanager
def use(clock: Clock) -> Iterator[Clock]:
    """Reckon by ``clock`` inside the block (process-wide), then by the one before."""
    global _clock
    previous, _clock = _clock, clock
    try:
        yield clock
    finally:
        _clock = previous


class FixedClock:
    """A clock that stands still at ``at`` until moved with :meth:`advance` or :meth:`set`."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("a clock's time must be timezone-aware")
        self.at = at.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> datetime:
        self.at += delta
        return self.at

    def set(self, at: datetime) -> datetime:
        if at.tzinfo is None:
            raise ValueError("a clock's time must be timezone-aware")
        self.at = at.astimezone(UTC)
        return self.at
