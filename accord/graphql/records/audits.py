"""Audits: the listing, one by id, and each audit's findings (through a loader)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import Enum

import strawberry

from accord.compliance.audits.models import AuditStatus, AuditType
from accord.compliance.sharing.federation import Condition, Ordering
from accord.compliance.sharing.reads import SharedRecord
from accord.graphql.context import Context
from accord.graphql.findings.types import FindingType
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
    today,
    visible,
)
from accord.graphql.records.loaders import FindingsByAuditLoader, load
from accord.graphql.relay import GlobalId, Node

RECORD_TYPE = "audit"


@strawberry.enum(name="AuditType")
class AuditTypeEnum(Enum):
    INTERNAL = AuditType.INTERNAL.value
    JOINT = AuditType.JOINT.value
    SUPPLIER = AuditType.SUPPLIER.value
    CERTIFICATION = AuditType.CERTIFICATION.value


@strawberry.enum(name="AuditStatus")
class AuditStatusEnum(Enum):
    PLANNED = AuditStatus.PLANNED.value
    IN_PROGRESS = AuditStatus.IN_PROGRESS.value
    COMPLETED = AuditStatus.COMPLETED.value
    CANCELLED = AuditStatus.CANCELLED.value


@strawberry.type(
    name="Audit", description="An audit, owned by the audited tenant (its lead may be another)."
)
class AuditNode(Node):
    tenant: str = strawberry.field(description="The tenant that owns the audit.")
    level: SharingLevelEnum
    type: AuditTypeEnum
    clause_keys: list[str]
    lead_tenant: str
    audited_tenant: str
    window_start: date
    window_end: date
    status: AuditStatusEnum
    created_at: datetime
    updated_at: datetime
    programme: str | None = strawberry.field(description=WITHHELD)
    title: str | None = strawberry.field(description=WITHHELD)
    scope: str | None = strawberry.field(description=WITHHELD)
    record_id: strawberry.Private[uuid.UUID]
    process: strawberry.Private[str | None]

    @strawberry.field(
        description="The audit's findings you may read, newest first, at the level their "
        "owner granted."
    )
    async def findings(self, info: strawberry.Info[Context, None]) -> list[FindingType]:
        key = (self.tenant, self.record_id)
        records = await load(info, FindingsByAuditLoader, self.process, key)
        return [FindingType.from_shared(r) for r in records]

    @classmethod
    def from_shared(cls, record: SharedRecord, process: str | None) -> AuditNode:
        level = level_of(record)
        fields = visible(RECORD_TYPE, level, record["fields"])
        f = fields.get
        return cls(
            id=global_id("Audit", record),
            tenant=record["owner"],
            level=SharingLevelEnum(level.value),
            type=AuditTypeEnum(fields["type"]),
            clause_keys=list(fields["clause_keys"]),
            lead_tenant=fields["lead_tenant"],
            audited_tenant=fields["audited_tenant"],
            window_start=fields["window_start"],
            window_end=fields["window_end"],
            status=AuditStatusEnum(fields["status"]),
            created_at=fields["created_at"],
            updated_at=fields["updated_at"],
            programme=f("programme"),
            title=f("title"),
            scope=f("scope"),
            record_id=fields["id"],
            process=process,
        )


@strawberry.type(name="AuditEdge")
class AuditEdge:
    cursor: str
    node: AuditNode


@strawberry.type(name="AuditConnection")
class AuditConnection:
    edges: list[AuditEdge]
    page_info: PageInfo


@strawberry.enum(name="AuditOrder", description="How an audits listing is sorted.")
class AuditOrder(Enum):
    CREATED_AT = "created_at"
    WINDOW_START = "window_start"
    WINDOW_END = "window_end"


AUDIT_ORDERINGS: dict[AuditOrder, Ordering] = {
    AuditOrder.CREATED_AT: Ordering("created_at", descending=True),
    AuditOrder.WINDOW_START: Ordering("window_start"),
    AuditOrder.WINDOW_END: Ordering("window_end"),
}

_DONE = (AuditStatus.COMPLETED.value, AuditStatus.CANCELLED.value)


@strawberry.input(description="Narrows an audits listing; every given part must match.")
class AuditFilter:
    tenants: list[str] | None = strawberry.field(
        default=None, description="Only these owning (audited) tenants."
    )
    type: list[AuditTypeEnum] | None = None
    status: list[AuditStatusEnum] | None = None
    clause: str | None = strawberry.field(
        default=None, description="A clause key the audit covers, e.g. 'iso9001:2015/8.4'."
    )
    standard: str | None = strawberry.field(
        default=None, description="Only audits covering a clause of this standard."
    )
    lead_tenant: str | None = None
    audited_tenant: str | None = None
    overdue: bool | None = strawberry.field(
        default=None,
        description="Neither completed nor cancelled and past its window's end (or not).",
    )
    window_from: date | None = strawberry.field(
        default=None, description="Only audits whose window ends on or after this day."
    )
    window_to: date | None = strawberry.field(
        default=None, description="Only audits whose window starts on or before this day."
    )

    def conditions(self, on: date) -> list[Condition]:
        return (
            Conditions()
            .among("type", self.type)
            .among("status", self.status)
            .clauses("clause_keys", self.clause, self.standard)
            .equal("lead_tenant", self.lead_tenant)
            .equal("audited_tenant", self.audited_tenant)
            .overdue(
                "window_end",
                "status",
                self.overdue,
                today=on,
                states=[s.value for s in AuditStatus],
                done=_DONE,
            )
            .between("window_end", self.window_from, None)
            .between("window_start", None, self.window_to)
            .found
        )


async def find_audit(
    info: strawberry.Info[Context, None], gid: GlobalId, process: str | None
) -> AuditNode:
    record = await find_record(
        info, gid=gid, record_type=RECORD_TYPE, process=process, noun="audit"
    )
    return AuditNode.from_shared(record, process)


@strawberry.type
class AuditQueries:
    @strawberry.field(
        description="Audits of every organisation you may read, at the level each owner "
        "granted. Owners that cannot be read are named in `errors`."
    )
    async def audits(
        self,
        info: strawberry.Info[Context, None],
        first: int = 20,
        after: str | None = None,
        filter: AuditFilter | None = None,
        order_by: AuditOrder = AuditOrder.CREATED_AT,
        process: Process = None,
    ) -> AuditConnection:
        wanted = filter or AuditFilter()
        edges, page_info = await connection_page(
            info,
            record_type=RECORD_TYPE,
            ordering=AUDIT_ORDERINGS[order_by],
            conditions=wanted.conditions(today()),
            tenants=wanted.tenants,
            after=after,
            first=first,
            process=process,
            query=("audits", order_by.value, normalised(wanted)),
            edge=lambda cursor, r: AuditEdge(cursor=cursor, node=AuditNode.from_shared(r, process)),
        )
        return AuditConnection(edges=edges, page_info=page_info)

    @strawberry.field(description="One audit by its global id, at the level you may see it.")
    async def audit(
        self, info: strawberry.Info[Context, None], id: strawberry.ID, process: Process = None
    ) -> AuditNode | None:
        return await find_audit(info, GlobalId.decode(id, expected="Audit"), process)
