"""SAP S/4HANA quality notifications: OData V4 (API_QUALITYNOTIFICATION) or V2 Gateway.

Notifications become findings. With ``capa`` on, a notification's causes become the root
cause analysis of one CAPA per notification and its tasks that CAPA's actions (see the
headers of ``quality_notification_cause.yaml`` and ``quality_notification_task.yaml``).
Item, task and cause entity sets are unverified (see WIRE-FORMATS.md); their stream
declarations take the set names from the config, so a system that names them differently
needs no code change.

Tasks and causes have composite keys; their readers join a record's key fields into one
field (``KEY``) that the sync engine keys records by. Causes are read grouped: one record
per notification holding each cause field as a list (``GroupedReader``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from accord.connectors.framework.config import SourceConfig
from accord.connectors.framework.http import SourceClient
from accord.connectors.framework.paginators import ODataV2Next, ODataV4NextLink, Paginator
from accord.connectors.framework.source import SourceSpec, http_reader
from accord.connectors.framework.state import Bookmark
from accord.connectors.framework.streams import (
    DeltaFilter,
    HttpReader,
    HttpStream,
    Page,
    Reader,
    Stream,
)

V4_ROOT = "/sap/opu/odata4/sap/api_qualitynotification/srvd_a2x/sap/qualitynotification/0001"
V2_ROOT = "/sap/opu/odata/sap/API_QUALITYNOTIFICATION"
#: The field a composite key is joined into (an annotation-style name: no SAP property).
KEY = "@accord.key"


class SapConfig(SourceConfig):
    odata_version: Literal["v4", "v2"] = "v4"
    service_root: str | None = Field(default=None, description="Override the service path.")
    notification_set: str = "QualityNotification"
    #: ``sap-client`` query parameter (the SAP client/mandant), if the system needs one.
    sap_client: str | None = None
    #: Also sync causes (CAPA root cause) and tasks (CAPA actions). Off by default: their
    #: entity set names are unverified; check them on the system before switching on.
    capa: bool = False
    cause_set: str = "QualityNotificationItemCause"
    task_set: str = "QualityNotificationTask"


@dataclass(frozen=True, slots=True)
class KeyedStream(HttpStream):
    """An entity set with a composite key: its fields are joined into ``KEY``."""

    key_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GroupedStream(HttpStream):
    """An entity set read in key order and handed on one record per ``group_field``."""

    group_field: str = ""


class KeyedReader:
    def __init__(self, stream: KeyedStream, client: SourceClient, *, page_size: int) -> None:
        self.fields = stream.key_fields
        self.inner = HttpReader(stream, client, page_size=page_size)

    async def pages(self, bookmark: Bookmark) -> AsyncIterator[Page]:
        async for page in self.inner.pages(bookmark):
            for record in page.records:
                record[KEY] = "/".join(str(record.get(f) or "") for f in self.fields)
            yield page


class GroupedReader:
    """One record per group: each field of the group's records as a list, in their order.

    A notification's causes make one analysis, so the sink gets them together: the analysis
    is replaced whole, and the record's hash says whether any cause changed. A group that may
    go on on the next page is held back; the cursor then names the page where it began and
    its key, so a resumed pass rebuilds it whole and skips what came before it on that page
    (written already). A pass is always full: a delta would bring only the changed causes.
    """

    def __init__(self, stream: GroupedStream, client: SourceClient, *, page_size: int) -> None:
        self.stream, self.client, self.page_size = stream, client, page_size

    def _key(self, record: dict[str, Any]) -> str:
        return str(record.get(self.stream.group_field))

    def _groups(self, records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        groups: list[list[dict[str, Any]]] = []
        for record in records:
            if groups and self._key(groups[-1][0]) == self._key(record):
                groups[-1].append(record)
            else:
                groups.append([record])
        return groups

    def _pivot(self, group: list[dict[str, Any]]) -> dict[str, Any]:
        fields = dict.fromkeys(k for record in group for k in record)
        pivoted: dict[str, Any] = {f: [record.get(f) for record in group] for f in fields}
        pivoted[self.stream.group_field] = group[0][self.stream.group_field]
        return pivoted

    def _skip_written(self, records: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
        for i, record in enumerate(records):
            if self._key(record) == key:
                return records[i:]
        # The held group is gone from the source: drop only the page's first group, which
        # either was written whole already or is the tail of one that was.
        return [r for group in self._groups(records)[1:] for r in group]

    async def pages(self, bookmark: Bookmark) -> AsyncIterator[Page]:
        stream = self.stream
        skip_to: str | None = None
        if bookmark.resume:
            resume = json.loads(bookmark.resume)
            url, skip_to = str(resume["url"]), str(resume["group"])
            start = Bookmark(resume=url)
        else:
            params = {**stream.paginator.first_params(self.page_size), **stream.params}
            url = self.client.request_url(self.client.url(stream.path), params)
            start = Bookmark()
        held: list[dict[str, Any]] = []
        held_from = url
        inner = HttpReader(stream, self.client, page_size=self.page_size)
        async for page in inner.pages(start):
            records = page.records
            if skip_to is not None:
                records, skip_to = self._skip_written(records, skip_to), None
            groups = self._groups(held + records)
            if page.cursor is None:
                yield Page([self._pivot(g) for g in groups], None)
                return
            last = groups.pop() if groups else []
            if not (held and last and self._key(last[0]) == self._key(held[0])):
                held_from = url
            held = last
            cursor = (
                json.dumps({"url": held_from, "group": self._key(held[0])}) if held else page.cursor
            )
            yield Page([self._pivot(g) for g in groups], cursor)
            url = page.cursor


def _v4_delta(since: datetime) -> dict[str, str]:
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"$filter": f"ChangedDateTime gt {stamp}"}


def _v2_delta(since: datetime) -> dict[str, str]:
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"$filter": f"ChangedDateTime gt datetimeoffset'{stamp}'"}


def _capa_streams(
    config: SapConfig, root: str, paginator: Paginator, delta: DeltaFilter, params: dict[str, str]
) -> tuple[Stream, ...]:
    if not config.capa:
        return ()
    cause_order = "QualityNotification,NotificationItem,NotificationCauseID"
    return (
        GroupedStream(
            name="quality_notification_causes",
            record_type="capa",
            mapping="quality_notification_cause.yaml",
            primary_key="QualityNotification",
            path=f"{root}/{config.cause_set}",
            paginator=paginator,
            params={**params, "$orderby": cause_order},
            group_field="QualityNotification",
        ),
        KeyedStream(
            name="quality_notification_tasks",
            record_type="capa_action",
            mapping="quality_notification_task.yaml",
            primary_key=KEY,
            replication_key="ChangedDateTime",
            path=f"{root}/{config.task_set}",
            paginator=paginator,
            delta=delta,
            params=params,
            key_fields=("QualityNotification", "NotificationTask"),
        ),
    )


def _streams(config: SourceConfig) -> tuple[Stream, ...]:
    assert isinstance(config, SapConfig)
    params = {"sap-client": config.sap_client} if config.sap_client else {}
    if config.odata_version == "v4":
        root = config.service_root or V4_ROOT
        return (
            HttpStream(
                name="quality_notifications",
                record_type="finding",
                mapping="quality_notification.yaml",
                primary_key="QualityNotification",
                replication_key="ChangedDateTime",
                path=f"{root}/{config.notification_set}",
                paginator=ODataV4NextLink(),
                delta=_v4_delta,
                params=params,
            ),
            *_capa_streams(config, root, ODataV4NextLink(), _v4_delta, params),
        )
    root = config.service_root or V2_ROOT
    return (
        HttpStream(
            name="quality_notifications",
            record_type="finding",
            mapping="quality_notification_v2.yaml",
            primary_key="QualityNotification",
            replication_key="ChangedDateTime",
            path=f"{root}/{config.notification_set}",
            paginator=ODataV2Next(),
            delta=_v2_delta,
            params=params,
        ),
        *_capa_streams(config, root, ODataV2Next(), _v2_delta, params),
    )


def _reader(stream: Stream, config: SourceConfig, client: SourceClient) -> Reader:
    if isinstance(stream, GroupedStream):
        return GroupedReader(stream, client, page_size=config.page_size)
    if isinstance(stream, KeyedStream):
        return KeyedReader(stream, client, page_size=config.page_size)
    return http_reader(stream, config, client)


SOURCE = SourceSpec(
    kind="sap",
    title="SAP S/4HANA quality notifications",
    source_system="sap-s4hana",
    config_model=SapConfig,
    streams=_streams,
    package=__name__,
    open_reader=_reader,
)
