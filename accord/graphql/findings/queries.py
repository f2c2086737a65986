"""Finding reads. Listings go through the federated read (``list_records``) and aggregates
through ``read_records``: both apply the sovereignty gate (agreements), the action gate
(Casbin), the granted level and the grantors' access logs.

A listing pushes its filter, order and cursor into every owner's branch of one statement
per store; see ``accord.compliance.sharing.federation``.
"""

from __future__ import annotations

import strawberry

from accord.compliance.sharing.reads import SharedRead, read_records
from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.graphql.errors import tenant_errors
from accord.graphql.findings.types import (
    FINDING_ORDERINGS,
    FindingAggregateGroup,
    FindingAggregates,
    FindingConnection,
    FindingEdge,
    FindingFilter,
    FindingGradeEnum,
    FindingOrder,
    FindingStateEnum,
    FindingType,
)
from accord.graphql.listing import (
    Process,
    connection_page,
    find_record,
    require_known_process,
)
from accord.graphql.relay import GlobalId
from accord.platform import clock


async def _aggregate_read(info: strawberry.Info[Context, None], process: str | None) -> SharedRead:
    context = info.context
    principal, _ = require_tenant(context)
    await require_known_process(context, process)
    return await read_records(
        context.runtime,
        authorizer=context.authorizer,
        principal=principal,
        record_type="finding",
        process=process,
        request_id=context.request_id,
        limit=0,
    )


async def find_finding(
    info: strawberry.Info[Context, None], gid: GlobalId, process: str | None
) -> FindingType:
    record = await find_record(
        info, gid=gid, record_type="finding", process=process, noun="finding"
    )
    return FindingType.from_shared(record)


@strawberry.type
class FindingQueries:
    @strawberry.field(
        description="Findings of every organisation you may read, newest first, at the level "
        "each owner granted. Owners that cannot be read are named in `errors`."
    )
    async def findings(
        self,
        info: strawberry.Info[Context, None],
        first: int = 20,
        after: str | None = None,
        filter: FindingFilter | None = None,
        order_by: FindingOrder = FindingOrder.CREATED_AT,
        process: Process = None,
    ) -> FindingConnection:
        wanted = filter or FindingFilter()
        edges, page_info = await connection_page(
            info,
            record_type="finding",
            ordering=FINDING_ORDERINGS[order_by],
            conditions=wanted.conditions(clock.today()),
            tenants=wanted.tenants,
            after=after,
            first=first,
            process=process,
            query=("findings", order_by.value, wanted.normalised()),
            edge=lambda cursor, r: FindingEdge(cursor=cursor, node=FindingType.from_shared(r)),
        )
        return FindingConnection(edges=edges, page_info=page_info)

    @strawberry.field(description="One finding by its global id, at the level you may see it.")
    async def finding(
        self,
        info: strawberry.Info[Context, None],
        id: strawberry.ID,
        process: Process = None,
    ) -> FindingType | None:
        return await find_finding(info, GlobalId.decode(id, expected="Finding"), process)

    @strawberry.field(
        description="Counts by grade and state from owners that share findings in aggregate, "
        "each rounded (see `roundedTo`)."
    )
    async def finding_aggregates(
        self, info: strawberry.Info[Context, None], process: Process = None
    ) -> FindingAggregates:
        read = await _aggregate_read(info, process)
        info.context.errors.extend(tenant_errors(info, read.errors))
        return FindingAggregates(
            groups=[
                FindingAggregateGroup(
                    tenant=g.owner,
                    grade=FindingGradeEnum(g.key["grade"]),
                    state=FindingStateEnum(g.key["state"]),
                    count=g.count,
                    rounded_to=g.rounded_to,
                )
                for g in read.aggregates
            ],
            suppressed=[],
        )
