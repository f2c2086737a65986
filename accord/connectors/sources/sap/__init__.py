"""SAP S/4HANA quality notifications: OData V4 (API_QUALITYNOTIFICATION) or V2 Gateway.

Notifications become findings. Item, task and cause entity sets are unverified (see
WIRE-FORMATS.md); their stream declarations take the set names from the config, so a
system that names them differently needs no code change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import Field

from accord.connectors.framework.config import SourceConfig
from accord.connectors.framework.paginators import ODataV2Next, ODataV4NextLink
from accord.connectors.framework.source import SourceSpec
from accord.connectors.framework.streams import HttpStream, Stream

V4_ROOT = "/sap/opu/odata4/sap/api_qualitynotification/srvd_a2x/sap/qualitynotification/0001"
V2_ROOT = "/sap/opu/odata/sap/API_QUALITYNOTIFICATION"


class SapConfig(SourceConfig):
    odata_version: Literal["v4", "v2"] = "v4"
    service_root: str | None = Field(default=None, description="Override the service path.")
    notification_set: str = "QualityNotification"
    #: ``sap-client`` query parameter (the SAP client/mandant), if the system needs one.
    sap_client: str | None = None


def _v4_delta(since: datetime) -> dict[str, str]:
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"$filter": f"ChangedDateTime gt {stamp}"}


def _v2_delta(since: datetime) -> dict[str, str]:
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"$filter": f"ChangedDateTime gt datetimeoffset'{stamp}'"}


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
    )


SOURCE = SourceSpec(
    kind="sap",
    title="SAP S/4HANA quality notifications",
    source_system="sap-s4hana",
    config_model=SapConfig,
    streams=_streams,
    package=__name__,
)
