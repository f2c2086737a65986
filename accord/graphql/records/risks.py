"""Risks (5 × 5 register): the listing and one by id."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from accord.compliance.risks.models import SCALE, RiskLevel, RiskStatus, Treatment, level_of
from accord.compliance.sharing.federation import Condition, Ordering
from accord.compliance.sharing.reads import SharedRecord
from accord.graphql.context import Context
from accord.graphql.pagination import PageInfo
from accord.graphql.records import common
from accord.graphql.records.common import (
    WITHHELD,
    Conditions,
    Process,
    SharingLevelEnum,
    connection_page,
    find_record,
    global_id,
    normalised,
    opt,
    visible,
)
from accord.graphql.relay import GlobalId, Node

RECORD_TYPE = "risk"
SCORES = sorted({likelihood * impact for likelihood in SCALE for impact in SCALE})


@strawberry.enum(name="RiskTreatment")
class RiskTreatmentEnum(Enum):
    AVOID = Treatment.AVOID.value
    REDUCE = Treatment.REDUCE.value
    TRANSFER = Treatment.TRANSFER.value
    ACCEPT = Treatment.ACCEPT.value


@strawberry.enum(name="RiskStatus")
class RiskStatusEnum(Enum):
    OPEN = RiskStatus.OPEN.value
    TREATED = RiskStatus.TREATED.value
    ACCEPTED = RiskStatus.ACCEPTED.value
    CLOSED = RiskStatus.CLOSED.value


@strawberry.enum(name="RiskLevel", description="The band of a score on the 5 × 5 heat map.")
class RiskLevelEnum(Enum):
    LOW = RiskLevel.LOW.value
    MEDIUM = RiskLevel.MEDIUM.value
    HIGH = RiskLevel.HIGH.value
    CRITICAL = RiskLevel.CRITICAL.value


@strawberry.type(name="Risk", description="A risk of one tenant's register.")
class RiskNode(Node):
    tenant: str = strawberry.field(description="The tenant that owns the risk.")
    level: SharingLevelEnum
    reference: str
    likelihood: int
    impact: int
    score: int = strawberry.field(description="Likelihood × impact (1-25).")
    risk_level: RiskLevelEnum
    treatment: RiskTreatmentEnum | None
    status: RiskStatusEnum
    clause_keys: list[str]
    created_at: datetime
    updated_at: datetime
    title: str | None = strawberry.field(description=WITHHELD)
    description: str | None = strawberry.field(description=WITHHELD)
    treatment_plan: str | None = strawberry.field(description=WITHHELD)
    third_party_dependencies: list[str] | None = strawberry.field(
        description="Named suppliers and partners. " + WITHHELD
    )
    owner: str | None = strawberry.field(description="Who owns the risk. " + WITHHELD)

    @classmethod
    def from_shared(cls, record: SharedRecord) -> RiskNode:
        level = common.level_of(record)
        fields = visible(RECORD_TYPE, level, record["fields"])
        f = fields.get
        dependencies = f("third_party_dependencies")
        return cls(
            id=global_id("Risk", record),
            tenant=record["owner"],
            level=SharingLevelEnum(level.value),
            reference=fields["reference"],
            likelihood=fields["likelihood"],
            impact=fields["impact"],
            score=fields["score"],
            risk_level=RiskLevelEnum(level_of(fields["score"]).value),
            treatment=opt(RiskTreatmentEnum, f("treatment")),
            status=RiskStatusEnum(fields["status"]),
            clause_keys=list(fields["clause_keys"]),
            created_at=fields["created_at"],
            updated_at=fields["updated_at"],
            title=f("title"),
            description=f("description"),
            treatment_plan=f("treatment_plan"),
            third_party_dependencies=None if dependencies is None else list(dependencies),
            owner=f("owner"),
        )


@strawberry.type(name="RiskEdge")
class RiskEdge:
    cursor: str
    node: RiskNode


@strawberry.type(name="RiskConnection")
class RiskConnection:
    edges: list[RiskEdge]
    page_info: PageInfo


@strawberry.enum(name="RiskOrder", description="How a risks listing is sorted.")
class RiskOrder(Enum):
    SCORE = "score"
    CREATED_AT = "created_at"


RISK_ORDERINGS: dict[RiskOrder, Ordering] = {
    RiskOrder.SCORE: Ordering("score", descending=True),
    RiskOrder.CREATED_AT: Ordering("created_at", descending=True),
}


@strawberry.input(description="Narrows a risks listing; every given part must match.")
class RiskFilter:
    tenants: list[str] | None = strawberry.field(
        default=None, description="Only these owning tenants."
    )
    status: list[RiskStatusEnum] | None = None
    treatment: list[RiskTreatmentEnum] | None = None
    risk_level: list[RiskLevelEnum] | None = strawberry.field(
        default=None, description="Only risks whose score falls in these bands."
    )
    min_score: int | None = None
    max_score: int | None = None
    clause: str | None = strawberry.field(default=None, description="A clause key the risk names.")
    standard: str | None = strawberry.field(
        default=None, description="Only risks naming a clause of this standard."
    )
    owner: str | None = strawberry.field(
        default=None,
        description="Who owns the risk. Owners sharing only summaries are left out of a "
        "listing filtered on it.",
    )

    def conditions(self) -> list[Condition]:
        found = (
            Conditions()
            .among("status", self.status)
            .among("treatment", self.treatment)
            .between("score", self.min_score, self.max_score)
            .clauses("clause_keys", self.clause, self.standard)
            .equal("owner", self.owner)
        )
        if self.risk_level:
            bands = {b.value for b in self.risk_level}
            found.add(Condition("score", "in", [s for s in SCORES if level_of(s) in bands]))
        return found.found


async def find_risk(
    info: strawberry.Info[Context, None], gid: GlobalId, process: str | None
) -> RiskNode:
    record = await find_record(info, gid=gid, record_type=RECORD_TYPE, process=process, noun="risk")
    return RiskNode.from_shared(record)


@strawberry.type
class RiskQueries:
    @strawberry.field(
        description="Risks of every organisation you may read, highest score first, at the "
        "level each owner granted. Owners that cannot be read are named in `errors`."
    )
    async def risks(
        self,
        info: strawberry.Info[Context, None],
        first: int = 20,
        after: str | None = None,
        filter: RiskFilter | None = None,
        order_by: RiskOrder = RiskOrder.SCORE,
        process: Process = None,
    ) -> RiskConnection:
        wanted = filter or RiskFilter()
        edges, page_info = await connection_page(
            info,
            record_type=RECORD_TYPE,
            ordering=RISK_ORDERINGS[order_by],
            conditions=wanted.conditions(),
            tenants=wanted.tenants,
            after=after,
            first=first,
            process=process,
            query=("risks", order_by.value, normalised(wanted)),
            edge=lambda cursor, r: RiskEdge(cursor=cursor, node=RiskNode.from_shared(r)),
        )
        return RiskConnection(edges=edges, page_info=page_info)

    @strawberry.field(description="One risk by its global id, at the level you may see it.")
    async def risk(
        self, info: strawberry.Info[Context, None], id: strawberry.ID, process: Process = None
    ) -> RiskNode | None:
        return await find_risk(info, GlobalId.decode(id, expected="Risk"), process)
