"""KPIs (their definitions and thresholds): the listing and one by id."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from accord.compliance.kpis.models import Direction
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
from accord.graphql.relay import GlobalId, Node

RECORD_TYPE = "kpi"


@strawberry.enum(name="KpiDirection")
class KpiDirectionEnum(Enum):
    HIGHER_IS_BETTER = Direction.HIGHER_IS_BETTER.value
    LOWER_IS_BETTER = Direction.LOWER_IS_BETTER.value


@strawberry.type(name="Kpi", description="A key performance indicator, owned by one tenant.")
class KpiNode(Node):
    tenant: str = strawberry.field(description="The tenant that owns the KPI.")
    level: SharingLevelEnum
    key: str
    unit: str
    direction: KpiDirectionEnum
    target: float
    warning_threshold: float
    breach_threshold: float
    standards: list[str]
    clause_keys: list[str]
    created_at: datetime
    updated_at: datetime
    name: str | None = strawberry.field(description=WITHHELD)
    definition: str | None = strawberry.field(description=WITHHELD)
    owner: str | None = strawberry.field(description="Who answers for it. " + WITHHELD)

    @classmethod
    def from_shared(cls, record: SharedRecord) -> KpiNode:
        level = level_of(record)
        fields = visible(RECORD_TYPE, level, record["fields"])
        f = fields.get
        return cls(
            id=global_id("Kpi", record),
            tenant=record["owner"],
            level=SharingLevelEnum(level.value),
            key=fields["key"],
            unit=fields["unit"],
            direction=KpiDirectionEnum(fields["direction"]),
            target=fields["target"],
            warning_threshold=fields["warning_threshold"],
            breach_threshold=fields["breach_threshold"],
            standards=list(fields["standards"]),
            clause_keys=list(fields["clause_keys"]),
            created_at=fields["created_at"],
            updated_at=fields["updated_at"],
            name=f("name"),
            definition=f("definition"),
            owner=f("owner"),
        )


@strawberry.type(name="KpiEdge")
class KpiEdge:
    cursor: str
    node: KpiNode


@strawberry.type(name="KpiConnection")
class KpiConnection:
    edges: list[KpiEdge]
    page_info: PageInfo


@strawberry.enum(name="KpiOrder", description="How a KPI listing is sorted.")
class KpiOrder(Enum):
    KEY = "key"
    CREATED_AT = "created_at"


KPI_ORDERINGS: dict[KpiOrder, Ordering] = {
    KpiOrder.KEY: Ordering("key"),
    KpiOrder.CREATED_AT: Ordering("created_at", descending=True),
}


@strawberry.input(description="Narrows a KPI listing; every given part must match.")
class KpiFilter:
    tenants: list[str] | None = strawberry.field(
        default=None, description="Only these owning tenants."
    )
    key: str | None = strawberry.field(default=None, description="e.g. 'on-time-delivery'.")
    direction: KpiDirectionEnum | None = None
    standard: str | None = strawberry.field(
        default=None, description="A standard the KPI serves, e.g. 'iso9001:2015'."
    )
    clause: str | None = strawberry.field(default=None, description="A clause key the KPI serves.")
    owner: str | None = strawberry.field(
        default=None,
        description="Who answers for it. Owners sharing only summaries are left out of a "
        "listing filtered on it.",
    )

    def conditions(self) -> list[Condition]:
        found = (
            Conditions()
            .equal("key", self.key)
            .equal("direction", self.direction)
            .clauses("clause_keys", self.clause, None)
            .equal("owner", self.owner)
        )
        if self.standard:
            found.add(Condition("standards", "contains", self.standard))
        return found.found


async def find_kpi(
    info: strawberry.Info[Context, None], gid: GlobalId, process: str | None
) -> KpiNode:
    record = await find_record(info, gid=gid, record_type=RECORD_TYPE, process=process, noun="kpi")
    return KpiNode.from_shared(record)


@strawberry.type
class KpiQueries:
    @strawberry.field(
        description="KPIs of every organisation you may read, by key, at the level each "
        "owner granted. Owners that cannot be read are named in `errors`."
    )
    async def kpis(
        self,
        info: strawberry.Info[Context, None],
        first: int = 20,
        after: str | None = None,
        filter: KpiFilter | None = None,
        order_by: KpiOrder = KpiOrder.KEY,
        process: Process = None,
    ) -> KpiConnection:
        wanted = filter or KpiFilter()
        edges, page_info = await connection_page(
            info,
            record_type=RECORD_TYPE,
            ordering=KPI_ORDERINGS[order_by],
            conditions=wanted.conditions(),
            tenants=wanted.tenants,
            after=after,
            first=first,
            process=process,
            query=("kpis", order_by.value, normalised(wanted)),
            edge=lambda cursor, r: KpiEdge(cursor=cursor, node=KpiNode.from_shared(r)),
        )
        return KpiConnection(edges=edges, page_info=page_info)

    @strawberry.field(description="One KPI by its global id, at the level you may see it.")
    async def kpi(
        self, info: strawberry.Info[Context, None], id: strawberry.ID, process: Process = None
    ) -> KpiNode | None:
        return await find_kpi(info, GlobalId.decode(id, expected="Kpi"), process)
