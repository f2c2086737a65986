"""The time records are stamped with, and the day deadlines are counted in (UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from accord.platform import clock


def now() -> datetime:
    return clock.now()


def current_day() -> date:
    return now().astimezone(UTC).date()
