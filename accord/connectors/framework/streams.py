"""Streams are declared, not hand-looped: a name, where, keys, paging, mapping, target.

A new incremental HTTP stream is one ``HttpStream(...)`` of about ten lines; the reader
below does the looping, the bookmark and the resume cursor for all of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from accord.connectors.framework.dates import parse_datetime
from accord.connectors.framework.http import SourceClient
from accord.connectors.framework.paginators import Paginator
from accord.connectors.framework.state import Bookmark

#: Builds the query parameters that ask only for records changed after a bookmark.
DeltaFilter = Callable[[datetime], dict[str, str]]


@dataclass(slots=True)
class Page:
    records: list[dict[str, Any]]
    #: Where to continue after this page (None: the pass is complete).
    cursor: str | None
    #: Highest replication value on this page (ISO 8601), if the stream has one.
    high_water: str | None = None
    #: Row numbers for file sources, parallel to ``records``.
    positions: list[int] | None = None
    #: Primary keys the source reports deleted (marked in Accord, never dropped).
    deleted: list[str] = field(default_factory=list)
    #: On the last page of a pass: where the next pass starts (an OData delta link).
    delta_link: str | None = None


class Reader(Protocol):
    def pages(self, bookmark: Bookmark) -> AsyncIterator[Page]: ...


@dataclass(frozen=True, slots=True)
class Stream:
    name: str
    record_type: str
    mapping: str
    primary_key: str
    replication_key: str | None = None


@dataclass(frozen=True, slots=True)
class HttpStream(Stream):
    path: str = ""
    paginator: Paginator = field(default_factory=Paginator)
    delta: DeltaFilter | None = None
    params: dict[str, str] = field(default_factory=dict)
    date_formats: tuple[str, ...] = ("iso", "odata_v2")


class HttpReader:
    def __init__(self, stream: HttpStream, client: SourceClient, *, page_size: int) -> None:
        self.stream, self.client, self.page_size = stream, client, page_size

    def _high_water(self, records: list[dict[str, Any]]) -> str | None:
        key = self.stream.replication_key
        if key is None:
            return None
        best: datetime | None = None
        formats = list(self.stream.date_formats)
        for record in records:
            raw = record.get(key)
            if raw:
                moment = parse_datetime(raw, formats, UTC)
                best = moment if best is None or moment > best else best
        return best.astimezone(UTC).isoformat(timespec="microseconds") if best else None

    async def pages(self, bookmark: Bookmark) -> AsyncIterator[Page]:
        stream = self.stream
        if bookmark.resume:
            url, params = bookmark.resume, None
        else:
            url = self.client.url(stream.path)
            params = {**stream.paginator.first_params(self.page_size), **stream.params}
            if stream.delta is not None and bookmark.replication_value:
                params.update(stream.delta(datetime.fromisoformat(bookmark.replication_value)))
        while True:
            body = await self.client.get_json(url, params)
            records = stream.paginator.records(body)
            if params is not None:
                # The cursor must be a complete URL: resume must not depend on our params.
                url = self.client.request_url(url, params)
                params = None
            following = stream.paginator.next_url(body, url)
            yield Page(records, following, self._high_water(records))
            if following is None:
                return
            url = following
