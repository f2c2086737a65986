"""Schedules: an interval ("900", "15m", "1h") or a five-field cron line ("*/15 * * * *")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from accord.platform.errors import BadInput

_INTERVAL = re.compile(r"^(\d+)\s*([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


@dataclass(frozen=True, slots=True)
class Schedule:
    interval: timedelta | None
    cron: tuple[frozenset[int], ...] | None

    def matches(self, moment: datetime) -> bool:
        assert self.cron is not None
        minute, hour, day, month, weekday = self.cron
        return (
            moment.minute in minute
            and moment.hour in hour
            and moment.day in day
            and moment.month in month
            and (moment.weekday() + 1) % 7 in weekday
        )

    def is_due(self, last_run: datetime | None, now: datetime) -> bool:
        if last_run is None:
            return True
        if self.interval is not None:
            return now - last_run >= self.interval
        # Due if a matching minute passed since the last run (a missed tick still runs once).
        moment = last_run.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(60 * 24 * 8):
            if moment > now:
                return False
            if self.matches(moment):
                return True
            moment += timedelta(minutes=1)
        return True


def _field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            start, end = low, high
        elif "-" in body:
            start, end = (int(x) for x in body.split("-", 1))
        else:
            start = end = int(body)
        if start < low or end > high or step < 1:
            raise ValueError(part)
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_schedule(text: str) -> Schedule:
    text = text.strip()
    match = _INTERVAL.match(text)
    if match:
        return Schedule(timedelta(seconds=int(match[1]) * _UNITS[match[2]]), None)
    parts = text.split()
    try:
        if len(parts) != 5:
            raise ValueError(text)
        return Schedule(None, tuple(_field(p, *r) for p, r in zip(parts, _RANGES, strict=True)))
    except ValueError:
        raise BadInput(
            f"{text!r} is neither an interval (900, 15m) nor a cron line.",
            reason="BAD_SCHEDULE",
            field="schedule",
        ) from None
