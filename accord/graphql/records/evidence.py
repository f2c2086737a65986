"""Evidence metadata (never the file): the listing, one by id, its finding and CAPA."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from accord.compliance.sharing.federation import Condition, Ordering
from accord.compliance.sharing.reads import SharedRecord
from accord.graphql.context import Context
from accord.graphql.findings.types import FindingType
from accord.graphql.pagination import PageInfo
from accord.graphql.records.common import (
    WITHHELD,
    BigInt,
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
from accord.graphql.records.loaders import CapaByIdLoader, FindingByIdLoader, load
from accord.graphql.relay import GlobalId, Node

if TYPE_CHECKING:
    from accord.graphql.records.capas import CapaNode

RECORD_TYPE = "evidence"


@strawberry.type(
    name="Evidence",
    description="Evidence metadata, owned by one tenant; the file itself is not served here.",
)
class EvidenceNode(Node):
    tenant: str = strawberry.field(description="The tenant that owns the evidence.")
    level: SharingLevelEnum
    finding_id: uuid.UUID | None = strawberry.field(
        description="Raw id of the finding it was filed on (a UUID).",
        deprecation_reason="Use `finding` (the object, with its global id).",
    )
    capa_id: uuid.UUID | None = strawberry.field(
        description="Raw id of the CAPA it was filed on (a UUID).",
        deprecation_reason="Use `capa` (the object, with its global id).",
    )
    media_type: str
    size_bytes: BigInt
    captured_at: datetime
    uploaded_at: datetime
    clause_keys: list[str]
    created_at: datetime
    updated_at: datetime
    title: str | None = strawberry.field(description=WITHHELD)
    sha256: str | None = strawberry.field(description=WITHHELD)
    uri: str | None = strawberry.field(description="Where the file is kept. " + WITHHELD)
    uploaded_by: str | None = strawberry.field(description=WITHHELD)
    record_id: strawberry.Private[uuid.UUID]
    process: strawberry.Private[str | None]

    @strawberry.field(description="The finding it was filed on, if you may read it.")
    async def finding(self, info: strawberry.Info[Context, None]) -> FindingType | None:
        finding_id = self.finding_id
        if finding_id is None:
            return None
        record = await load(info, FindingByIdLoader, self.process, (self.tenant, finding_id))
        return None if record is None else FindingType.from_shared(record)

    @strawberry.field(description="The CAPA it was filed on, if you may read it.")
    async def capa(
        self, info: strawberry.Info[Context, None]
    ) -> Annotated[CapaNode, strawberry.lazy("accord.graphql.records.capas")] | None:
        from accord.graphql.records.capas import CapaNode

        if self.capa_id is None:
            return None
        record = await load(info, CapaByIdLoader, self.process, (self.tenant, self.capa_id))
        return None if record is None else CapaNode.from_shared(record, self.process)

    @classmethod
    def from_shared(cls, record: SharedRecord, process: str | None) -> EvidenceNode:
        level = level_of(record)
        fields = visible(RECORD_TYPE, level, record["fields"])
        f = fields.get
        return cls(
            id=global_id("Evidence", record),
            tenant=record["owner"],
            level=SharingLevelEnum(level.value),
            finding_id=f("finding_id"),
            capa_id=f("capa_id"),
            media_type=fields["media_type"],
            size_bytes=fields["size_bytes"],
            captured_at=fields["captured_at"],
            uploaded_at=fields["uploaded_at"],
            clause_keys=list(fields["clause_keys"]),
            created_at=fields["created_at"],
            updated_at=fields["updated_at"],
            title=f("title"),
            sha256=f("sha256"),
            uri=f("uri"),
            uploaded_by=f("uploaded_by"),
            record_id=fields["id"],
            process=process,
        )


@strawberry.type(name="EvidenceEdge")
class EvidenceEdge:
    cursor: str
    node: EvidenceNode


@strawberry.type(name="EvidenceConnection")
class EvidenceConnection:
    edges: list[EvidenceEdge]
    page_info: PageInfo


@strawberry.enum(name="EvidenceOrder", description="How an evidence listing is sorted.")
class EvidenceOrder(Enum):
    UPLOADED_AT = "uploaded_at"
    CAPTURED_AT = "captured_at"
    CREATED_AT = "created_at"


EVIDENCE_ORDERINGS: dict[EvidenceOrder, Ordering] = {
    EvidenceOrder.UPLOADED_AT: Ordering("uploaded_at", descending=True),
    EvidenceOrder.CAPTURED_AT: Ordering("captured_at", descending=True),
    EvidenceOrder.CREATED_AT: Ordering("created_at", descending=True),
}


@strawberry.input(description="Narrows an evidence listing; every given part must match.")
class EvidenceFilter:
    tenants: list[str] | None = strawberry.field(
        default=None, description="Only these owning tenants."
    )
    finding_id: uuid.UUID | None = None
    capa_id: uuid.UUID | None = None
    clause: str | None = strawberry.field(
        default=None, description="A clause key the evidence is filed against."
    )
    standard: str | None = strawberry.field(
        default=None, description="Only evidence filed against a clause of this standard."
    )
    media_type: list[str] | None = strawberry.field(
        default=None, description="e.g. 'application/pdf'."
    )
    captured_from: datetime | None = None
    captured_to: datetime | None = None
    uploaded_from: datetime | None = None
    uploaded_to: datetime | None = None

    def conditions(self) -> list[Condition]:
        return (
            Conditions()
            .equal("finding_id", self.finding_id)
            .equal("capa_id", self.capa_id)
            .clauses("clause_keys", self.clause, self.standard)
            .among("media_type", self.media_type)
            .between("captured_at", self.captured_from, self.captured_to)
            .between("uploaded_at", self.uploaded_from, self.uploaded_to)
            .found
        )


async def find_evidence(
    info: strawberry.Info[Context, None], gid: GlobalId, process: str | None
) -> EvidenceNode:
    record = await find_record(
        info, gid=gid, record_type=RECORD_TYPE, process=process, noun="evidence"
    )
    return EvidenceNode.from_shared(record, process)


@strawberry.type
class EvidenceQueries:
    @strawberry.field(
        description="Evidence metadata of every organisation you may read, newest upload "
        "first, at the level each owner granted. Owners that cannot be read are named in "
        "`errors`."
    )
    async def evidence_items(
        self,
        info: strawberry.Info[Context, None],
        first: int = 20,
        after: str | None = None,
        filter: EvidenceFilter | None = None,
        order_by: EvidenceOrder = EvidenceOrder.UPLOADED_AT,
        process: Process = None,
    ) -> EvidenceConnection:
        wanted = filter or EvidenceFilter()
        edges, page_info = await connection_page(
            info,
            record_type=RECORD_TYPE,
            ordering=EVIDENCE_ORDERINGS[order_by],
            conditions=wanted.conditions(),
            tenants=wanted.tenants,
            after=after,
            first=first,
            process=process,
            query=("evidenceItems", order_by.value, normalised(wanted)),
            edge=lambda cursor, r: EvidenceEdge(
                cursor=cursor, node=EvidenceNode.from_shared(r, process)
            ),
        )
        return EvidenceConnection(edges=edges, page_info=page_info)

    @strawberry.field(description="One piece of evidence by its global id.")
    async def evidence(
        self, info: strawberry.Info[Context, None], id: strawberry.ID, process: Process = None
    ) -> EvidenceNode | None:
        return await find_evidence(info, GlobalId.decode(id, expected="Evidence"), process)
