"""Incident reports: the listing and one by id."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from accord.compliance.incidents.models import IncidentStatus
from accord.compliance.sharing.federation import Condition, Ordering
from accord.compliance.sharing.reads import SharedRecord
from accord.graphql.context import Context
from accord.graphql.findings.types import SeverityEnum
from accord.graphql.pagination import PageInfo
from accord.graphql.records.common import (
    WITHHELD,
    Conditions,
    Process,
    SharingLevelEnum,
    connection_page,
    find_record,
    global_id,
    level_of,
    normalised,
    visible,
)
from accord.graphql.relay import GlobalId, Node

RECORD_TYPE = "incident"


@strawberry.enum(name="IncidentStatus")
class IncidentStatusEnum(Enum):
    OPEN = IncidentStatus.OPEN.value
    CONTAINED = IncidentStatus.CONTAINED.value
    RESOLVED = IncidentStatus.RESOLVED.value
    CLOSED = IncidentStatus.CLOSED.value


#: An incident's severity (1 most severe … 4) on the scale findings use.
SEVERITY_LEVELS = {
    1: SeverityEnum.CRITICAL,
    2: SeverityEnum.HIGH,
    3: SeverityEnum.MEDIUM,
    4: SeverityEnum.LOW,
}
SEVERITY_LEVEL = "How severe, on the scale findings use: 1 is CRITICAL, 2 HIGH, 3 MEDIUM, 4 LOW."
SEVERITY_NUMBER = "1 (most severe) to 4."
SEVERITY_DEPRECATED = "Use `severityLevel`, the Severity enum findings use too."


@strawberry.type(name="IncidentReport", description="An incident, reported by the tenant it hit.")
class IncidentReportNode(Node):
    tenant: str = strawberry.field(description="The tenant that owns the report.")
    level: SharingLevelEnum
    reference: str
    severity: int = strawberry.field(
        description=SEVERITY_NUMBER, deprecation_reason=SEVERITY_DEPRECATED
    )
    occurred_at: datetime
    detected_at: datetime
    reported_at: datetime
    status: IncidentStatusEnum
    created_at: datetime
    updated_at: datetime
    title: str | None = strawberry.field(description=WITHHELD)
    description: str | None = strawberry.field(description=WITHHELD)

    @strawberry.field(description=SEVERITY_LEVEL)
    def severity_level(self) -> SeverityEnum:
        return SEVERITY_LEVELS[self.severity]

    @classmethod
    def from_shared(cls, record: SharedRecord) -> IncidentReportNode:
        level = level_of(record)
        fields = visible(RECORD_TYPE, level, record["fields"])
        f = fields.get
        return cls(
            id=global_id("IncidentReport", record),
            tenant=record["owner"],
            level=SharingLevelEnum(level.value),
            reference=fields["reference"],
            severity=fields["severity"],
            occurred_at=fields["occurred_at"],
            detected_at=fields["detected_at"],
            reported_at=fields["reported_at"],
            status=IncidentStatusEnum(fields["status"]),
            created_at=fields["created_at"],
            updated_at=fields["updated_at"],
            title=f("title"),
            description=f("description"),
        )


@strawberry.type(name="IncidentReportEdge")
class IncidentReportEdge:
    cursor: str
    node: IncidentReportNode


@strawberry.type(name="IncidentReportConnection")
class IncidentReportConnection:
    edges: list[IncidentReportEdge]
    page_info: PageInfo


@strawberry.enum(name="IncidentReportOrder", description="How an incidents listing is sorted.")
class IncidentReportOrder(Enum):
    OCCURRED_AT = "occurred_at"
    REPORTED_AT = "reported_at"
    CREATED_AT = "created_at"


INCIDENT_ORDERINGS: dict[IncidentReportOrder, Ordering] = {
    IncidentReportOrder.OCCURRED_AT: Ordering("occurred_at", descending=True),
    IncidentReportOrder.REPORTED_AT: Ordering("reported_at", descending=True),
    IncidentReportOrder.CREATED_AT: Ordering("created_at", descending=True),
}


@strawberry.input(description="Narrows an incidents listing; every given part must match.")
class IncidentReportFilter:
    tenants: list[str] | None = strawberry.field(
        default=None, description="Only these owning tenants."
    )
    status: list[IncidentStatusEnum] | None = None
    severity: list[int] | None = strawberry.field(
        default=None, description="Severities, 1 (most severe) to 4."
    )
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    reported_from: datetime | None = None
    reported_to: datetime | None = None

    def conditions(self) -> list[Condition]:
        return (
            Conditions()
            .among("status", self.status)
            .among("severity", self.severity)
            .between("occurred_at", self.occurred_from, self.occurred_to)
            .between("reported_at", self.reported_from, self.reported_to)
            .found
        )


async def find_incident(
    info: strawberry.Info[Context, None], gid: GlobalId, process: str | None
) -> IncidentReportNode:
    record = await find_record(
        info, gid=gid, record_type=RECORD_TYPE, process=process, noun="incident report"
    )
    return IncidentReportNode.from_shared(record)


@strawberry.type
class IncidentReportQueries:
    @strawberry.field(
        description="Incident reports of every organisation you may read, latest occurrence "
        "first, at the level each owner granted. Owners that cannot be read are named in "
        "`errors`."
    )
    async def incident_reports(
        self,
        info: strawberry.Info[Context, None],
        first: int = 20,
        after: str | None = None,
        filter: IncidentReportFilter | None = None,
        order_by: IncidentReportOrder = IncidentReportOrder.OCCURRED_AT,
        process: Process = None,
    ) -> IncidentReportConnection:
        wanted = filter or IncidentReportFilter()
        edges, page_info = await connection_page(
            info,
            record_type=RECORD_TYPE,
            ordering=INCIDENT_ORDERINGS[order_by],
            conditions=wanted.conditions(),
            tenants=wanted.tenants,
            after=after,
            first=first,
            process=process,
            query=("incidentReports", order_by.value, normalised(wanted)),
            edge=lambda cursor, r: IncidentReportEdge(
                cursor=cursor, node=IncidentReportNode.from_shared(r)
            ),
        )
        return IncidentReportConnection(edges=edges, page_info=page_info)

    @strawberry.field(description="One incident report by its global id.")
    async def incident_report(
        self, info: strawberry.Info[Context, None], id: strawberry.ID, process: Process = None
    ) -> IncidentReportNode | None:
        gid = GlobalId.decode(id, expected="IncidentReport")
        return await find_incident(info, gid, process)
