"""Microsoft Dataverse (Web API, OData v4) tables with change tracking → findings.

The instance's base URL is the environment, ``https://<org>.crm.dynamics.com``; the entity
set defaults to ``cr_auditfindings``, a custom audit-findings table, and is configurable
with its key column and mapping file (a table with other column names needs only a mapping
override). Authentication is Entra ID client credentials: ``auth.token_url`` is
``https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token``; the scope defaults to
``<base URL>/.default``.

Change tracking (``Prefer: odata.track-changes``) must be enabled on the table. A full
pass pages by ``@odata.nextLink`` (``$skiptoken``; Dataverse has no ``$skip``, and refuses
``$top``/``$filter``/``$orderby`` with track-changes); its last page carries
``@odata.deltaLink``, kept in the bookmark, and the next run follows it for the changes
since. Rows of a delta that are ``$deletedEntity`` mark the Accord record deleted at source.
A delta token the server refuses (``ExpiredVersionStamp``, ``0x80044352``: older than the
organisation's ``ExpireSubscriptionsInDays``, 90 by default) means a full resync. A full
resync lists live rows only: a record deleted while the token was expired stays unmarked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field

from accord.connectors.framework.config import OAuth2Config, SourceConfig
from accord.connectors.framework.errors import DeltaExpired, FatalError
from accord.connectors.framework.http import SourceClient
from accord.connectors.framework.paginators import ODataV4DeltaLink
from accord.connectors.framework.source import SourceSpec
from accord.connectors.framework.state import Bookmark
from accord.connectors.framework.streams import HttpReader, HttpStream, Page, Reader, Stream

#: Dataverse serves at most 5000 rows a page whatever ``odata.maxpagesize`` asks.
MAX_PAGE_SIZE = 5000
FORMATTED_VALUES = 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'


class DataverseConfig(SourceConfig):
    auth: OAuth2Config
    page_size: int = Field(default=1000, ge=1, le=MAX_PAGE_SIZE)
    api_path: str = "/api/data/v9.2"
    #: The table's entity set (plural) name; ``cr_`` is the publisher prefix of the sample.
    entity_set: str = "cr_auditfindings"
    primary_key: str = "cr_auditfindingid"
    replication_key: str = "modifiedon"
    mapping: str = "audit_finding.yaml"
    #: Columns to ask for (``$select``); empty: all of them.
    select: list[str] = Field(default_factory=list)
    #: Error codes that mean "this delta token is no longer honoured": resync in full.
    expired_delta_codes: list[str] = Field(default_factory=lambda: ["0x80044352"])

    def client(self, base_url: str) -> SourceClient:
        auth = self.auth
        if auth.scope is None:
            parts = urlsplit(base_url)
            auth = auth.model_copy(update={"scope": f"{parts.scheme}://{parts.netloc}/.default"})
        prefer = f"odata.track-changes, odata.maxpagesize={self.page_size}, {FORMATTED_VALUES}"
        headers = {
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
            "Prefer": prefer,
            **self.headers,
        }
        configured = self.model_copy(update={"auth": auth, "headers": headers})
        return SourceConfig.client(configured, base_url)


class DataverseReader(HttpReader):
    """Pages of one pass; the last one hands over the delta link for the next pass."""

    def __init__(
        self, stream: HttpStream, client: SourceClient, *, page_size: int, expired: list[str]
    ) -> None:
        super().__init__(stream, client, page_size=page_size)
        self.expired = expired

    async def _get(self, url: str, params: dict[str, str] | None) -> Any:
        try:
            return await self.client.get_json(url, params)
        except FatalError as exc:
            client_error = exc.status is not None and 400 <= exc.status < 500
            if client_error and any(code in exc.body for code in self.expired):
                raise DeltaExpired(
                    exc.message, reason="DELTA_EXPIRED", status=exc.status, body=exc.body
                ) from exc
            raise

    async def pages(self, bookmark: Bookmark) -> AsyncIterator[Page]:
        paginator = self.stream.paginator
        assert isinstance(paginator, ODataV4DeltaLink)
        params: dict[str, str] | None = None
        if bookmark.resume:
            url = bookmark.resume
        elif bookmark.delta_link:
            url = bookmark.delta_link
        else:
            url = self.client.url(self.stream.path)
            params = dict(self.stream.params)
        while True:
            body = await self._get(url, params)
            if params is not None:
                # The cursor must be a complete URL: resume must not depend on our params.
                url, params = self.client.request_url(url, params), None
            following = paginator.next_url(body, url)
            records = paginator.records(body)
            yield Page(
                records,
                following,
                self._high_water(records),
                deleted=paginator.removed(body),
                delta_link=None if following else paginator.delta_link(body, url),
            )
            if following is None:
                return
            url = following


def _streams(config: SourceConfig) -> tuple[Stream, ...]:
    assert isinstance(config, DataverseConfig)
    return (
        HttpStream(
            name="audit_findings",
            record_type="finding",
            mapping=config.mapping,
            primary_key=config.primary_key,
            replication_key=config.replication_key,
            path=f"{config.api_path.rstrip('/')}/{config.entity_set}",
            paginator=ODataV4DeltaLink(),
            params={"$select": ",".join(config.select)} if config.select else {},
            date_formats=("iso",),
        ),
    )


def _open_reader(stream: Stream, config: SourceConfig, client: SourceClient) -> Reader:
    assert isinstance(stream, HttpStream) and isinstance(config, DataverseConfig)
    return DataverseReader(
        stream, client, page_size=config.page_size, expired=config.expired_delta_codes
    )


SOURCE = SourceSpec(
    kind="dataverse",
    title="Microsoft Dataverse audit findings",
    source_system="dataverse",
    config_model=DataverseConfig,
    streams=_streams,
    package=__name__,
    open_reader=_open_reader,
)
