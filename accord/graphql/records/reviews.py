"""Management reviews: the listing, one by id, and the revision each one revises."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import Enum

import strawberry
from strawberry.scalars import JSON

from accord.compliance.reviews.models import ReviewStatus
from accord.compliance.sharing.federation import Condition, Ordering
from accord.compliance.sharing.reads import SharedRecord
from accord.graphql.context import Context
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
from accord.graphql.records.loaders import ManagementReviewByIdLoader, load
from accord.graphql.relay import GlobalId, Node

RECORD_TYPE = "management_review"


@strawberry.enum(name="ManagementReviewStatus")
class ManagementReviewStatusEnum(Enum):
    DRAFT = ReviewStatus.DRAFT.value
    FROZEN = ReviewStatus.FROZEN.value
    APPROVED = ReviewStatus.APPROVED.value


def _json(value: object) -> JSON | None:
    return None if value is None else JSON(value)


@strawberry.type(
    name="ManagementReview",
    description="One revision of a management review (ISO 9.3), owned by one tenant.",
)
class ManagementReviewNode(Node):
    tenant: str = strawberry.field(description="The tenant that owns the review.")
    level: SharingLevelEnum
    period_start: date
    period_end: date
    standards: list[str]
    status: ManagementReviewStatusEnum
    revision: int
    previous_id: uuid.UUID | None = strawberry.field(
        description="Raw id of the revision this one replaces (a UUID).",
        deprecation_reason="Use `previous` (the object, with its global id).",
    )
    frozen_at: datetime | None
    approved_at: datetime | None
    created_at: datetime
    updated_at: datetime
    title: str | None = strawberry.field(description=WITHHELD)
    inputs: JSON | None = strawberry.field(description=WITHHELD)
    minutes: str | None = strawberry.field(description=WITHHELD)
    decisions: JSON | None = strawberry.field(description=WITHHELD)
    content_digest: str | None = strawberry.field(description=WITHHELD)
    required_signatories: JSON | None = strawberry.field(description=WITHHELD)
    frozen_by: str | None = strawberry.field(description=WITHHELD)
    approved_by: str | None = strawberry.field(description=WITHHELD)
    process: strawberry.Private[str | None]

    @strawberry.field(description="The revision this one revises, if you may read it.")
    async def previous(self, info: strawberry.Info[Context, None]) -> ManagementReviewNode | None:
        if self.previous_id is None:
            return None
        key = (self.tenant, self.previous_id)
        record = await load(info, ManagementReviewByIdLoader, self.process, key)
        return None if record is None else ManagementReviewNode.from_shared(record, self.process)

    @classmethod
    def from_shared(cls, record: SharedRecord, process: str | None) -> ManagementReviewNode:
        level = level_of(record)
        fields = visible(RECORD_TYPE, level, record["fields"])
        f = fields.get
        return cls(
            id=global_id("ManagementReview", record),
            tenant=record["owner"],
            level=SharingLevelEnum(level.value),
            period_start=fields["period_start"],
            period_end=fields["period_end"],
            standards=list(fields["standards"]),
            status=ManagementReviewStatusEnum(fields["status"]),
            revision=fields["revision"],
            previous_id=f("previous_id"),
            frozen_at=f("frozen_at"),
            approved_at=f("approved_at"),
            created_at=fields["created_at"],
            updated_at=fields["updated_at"],
            title=f("title"),
            inputs=_json(f("inputs")),
            minutes=f("minutes"),
            decisions=_json(f("decisions")),
            content_digest=f("content_digest"),
            required_signatories=_json(f("required_signatories")),
            frozen_by=f("frozen_by"),
            approved_by=f("approved_by"),
            process=process,
        )


@strawberry.type(name="ManagementReviewEdge")
class ManagementReviewEdge:
    cursor: str
    node: ManagementReviewNode


@strawberry.type(name="ManagementReviewConnection")
class ManagementReviewConnection:
    edges: list[ManagementReviewEdge]
    page_info: PageInfo


@strawberry.enum(name="ManagementReviewOrder", description="How a reviews listing is sorted.")
class ManagementReviewOrder(Enum):
    PERIOD_END = "period_end"
    CREATED_AT = "created_at"


REVIEW_ORDERINGS: dict[ManagementReviewOrder, Ordering] = {
    ManagementReviewOrder.PERIOD_END: Ordering("period_end", descending=True),
    ManagementReviewOrder.CREATED_AT: Ordering("created_at", descending=True),
}


@strawberry.input(description="Narrows a reviews listing; every given part must match.")
class ManagementReviewFilter:
    tenants: list[str] | None = strawberry.field(
        default=None, description="Only these owning tenants."
    )
    status: list[ManagementReviewStatusEnum] | None = None
    standard: str | None = strawberry.field(
        default=None, description="A standard the review covers, e.g. 'iso9001:2015'."
    )
    period_from: date | None = strawberry.field(
        default=None, description="Only reviews whose period ends on or after this day."
    )
    period_to: date | None = strawberry.field(
        default=None, description="Only reviews whose period starts on or before this day."
    )

    def conditions(self) -> list[Condition]:
        found = (
            Conditions()
            .among("status", self.status)
            .between("period_end", self.period_from, None)
            .between("period_start", None, self.period_to)
        )
        if self.standard:
            found.add(Condition("standards", "contains", self.standard))
        return found.found


async def find_review(
    info: strawberry.Info[Context, None], gid: GlobalId, process: str | None
) -> ManagementReviewNode:
    record = await find_record(
        info, gid=gid, record_type=RECORD_TYPE, process=process, noun="management review"
    )
    return ManagementReviewNode.from_shared(record, process)


@strawberry.type
class ManagementReviewQueries:
    @strawberry.field(
        description="Management reviews of every organisation you may read, latest period "
        "first, at the level each owner granted. Owners that cannot be read are named in "
        "`errors`."
    )
    async def management_reviews(
        self,
        info: strawberry.Info[Context, None],
        first: int = 20,
        after: str | None = None,
        filter: ManagementReviewFilter | None = None,
        order_by: ManagementReviewOrder = ManagementReviewOrder.PERIOD_END,
        process: Process = None,
    ) -> ManagementReviewConnection:
        wanted = filter or ManagementReviewFilter()
        edges, page_info = await connection_page(
            info,
            record_type=RECORD_TYPE,
            ordering=REVIEW_ORDERINGS[order_by],
            conditions=wanted.conditions(),
            tenants=wanted.tenants,
            after=after,
            first=first,
            process=process,
            query=("managementReviews", order_by.value, normalised(wanted)),
            edge=lambda cursor, r: ManagementReviewEdge(
                cursor=cursor, node=ManagementReviewNode.from_shared(r, process)
            ),
        )
        return ManagementReviewConnection(edges=edges, page_info=page_info)

    @strawberry.field(description="One management review by its global id.")
    async def management_review(
        self, info: strawberry.Info[Context, None], id: strawberry.ID, process: Process = None
    ) -> ManagementReviewNode | None:
        gid = GlobalId.decode(id, expected="ManagementReview")
        return await find_review(info, gid, process)
