"""Oracle Fusion Cloud Quality Management (REST): quality issues → findings, quality
actions → CAPAs.

Resources under ``/fscmRestApi/resources/11.13.18.05``; basic auth. The envelope is
``{"items", "count", "hasMore", "limit", "offset", "links"}`` and pages go by ``limit`` and
``offset``. Incremental runs ask ``q=<field> > '<timestamp>'``, a framework-v2 expression
(hence the ``REST-Framework-Version: 2`` header on every request).

Unverified (WIRE-FORMATS.md): the change-timestamp field (``LastUpdateDate``) and the
literal format Oracle accepts in ``q`` (``'2024-05-01T08:00:00+00:00'``), so both are
config fields (``replication_field``, ``delta_format``: a ``strftime`` of the bookmark in
UTC, whole seconds, which can only ask for a few unchanged records again, never miss one);
likewise the status field named in the mapping files.

Offset paging and changes during a pass: offsets are only stable if the order is. Pages
are ordered by the replication field, newest first, then the key: a record changed
mid-pass moves to the front, which shifts later pages by one (a record read twice: an
unchanged hash, no write), and its new timestamp is above the pass's high-water mark, so
the next delta fetches it. A record deleted in Oracle mid-pass shifts pages the other way
and can hide one record from this pass until it next changes; a full resync (drop the
bookmark) recovers it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import Field

from accord.connectors.framework.config import SourceConfig
from accord.connectors.framework.http import SourceClient
from accord.connectors.framework.paginators import OffsetHasMore
from accord.connectors.framework.source import SourceSpec
from accord.connectors.framework.streams import HttpStream, Stream

ROOT = "/fscmRestApi/resources/11.13.18.05"


class OracleConfig(SourceConfig):
    #: Oracle's REST layer serves at most 500 items a request.
    page_size: int = Field(default=100, ge=1, le=500)
    resource_root: str = ROOT
    issues_resource: str = "qualityIssues"
    actions_resource: str = "qualityActions"
    replication_field: str = "LastUpdateDate"
    delta_format: str = "%Y-%m-%dT%H:%M:%S+00:00"
    framework_version: str = "2"

    def client(self, base_url: str) -> SourceClient:
        headers = {"REST-Framework-Version": self.framework_version, **self.headers}
        return SourceConfig.client(self.model_copy(update={"headers": headers}), base_url)


def _delta(field: str, fmt: str) -> Callable[[datetime], dict[str, str]]:
    def delta(since: datetime) -> dict[str, str]:
        return {"q": f"{field} > '{since.astimezone(UTC).strftime(fmt)}'"}

    return delta


def _stream(
    config: OracleConfig, name: str, record_type: str, resource: str, key: str
) -> HttpStream:
    field = config.replication_field
    return HttpStream(
        name=name,
        record_type=record_type,
        mapping=f"{name.removesuffix('s')}.yaml",
        primary_key=key,
        replication_key=field,
        path=f"{config.resource_root.rstrip('/')}/{resource}",
        paginator=OffsetHasMore(),
        delta=_delta(field, config.delta_format),
        params={"orderBy": f"{field}:desc,{key}:desc", "onlyData": "true"},
        date_formats=("iso",),
    )


def _streams(config: SourceConfig) -> tuple[Stream, ...]:
    assert isinstance(config, OracleConfig)
    return (
        _stream(config, "quality_issues", "finding", config.issues_resource, "IssueId"),
        _stream(config, "quality_actions", "capa", config.actions_resource, "ActionId"),
    )


SOURCE = SourceSpec(
    kind="oracle",
    title="Oracle Fusion Cloud Quality Management",
    source_system="oracle-fusion",
    config_model=OracleConfig,
    streams=_streams,
    package=__name__,
)
