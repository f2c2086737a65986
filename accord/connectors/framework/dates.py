"""Date formats of source systems: ISO 8601, OData V2 ``/Date(ms)/``, strftime patterns."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo

_ODATA_V2 = re.compile(r"^/Date\((-?\d+)(?:([+-])(\d{4}))?\)/$")


def _iso(text: str) -> datetime:
    # SAP and CSV exports write "Z"; fromisoformat accepts it from 3.11 on, and dates too.
    return datetime.fromisoformat(text)


def _odata_v2(text: str) -> datetime:
    match = _ODATA_V2.match(text)
    if match is None:
        raise ValueError(f"not an OData V2 date: {text!r}")
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(match[1]))
    # The offset suffix ("+0060", in minutes) only says where the value was entered.
    return moment


def parse_datetime(value: object, formats: list[str], zone: tzinfo) -> datetime:
    """The first format that parses ``value``; naive results are read in ``zone``."""
    parsed: datetime | None = None
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip()
        for fmt in formats:
            try:
                if fmt == "iso":
                    parsed = _iso(text)
                elif fmt == "odata_v2":
                    parsed = _odata_v2(text)
                else:
                    parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if parsed is None:
            raise ValueError(f"{text!r} matches none of: {', '.join(formats)}")
    assert parsed is not None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def parse_date(value: object, formats: list[str], zone: tzinfo) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return parse_datetime(value, formats, zone).astimezone(zone).date()
