"""Finding reads. Listings go through the federated read (``list_records``) and aggregates
through ``read_records``: both apply the sovereignty gate (agreements), the action gate
(Casbin), the granted level and the grantors' access logs.

A listing pushes its filter, order and cursor into every owner's branch of one statement
per store; see ``accord.compliance.sharing.federation``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import strawberry

from accord.compliance.sharing.federation import (
    Condition,
    ListedPage,
    Position,
    list_records,
    python_type,
)
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
    SuppressedGroups,
)
from accord.graphql.pagination import PageInfo, check_first
from accord.graphql.relay import GlobalId
from accord.platform.errors import AccordError, ErrorCode, NotFound

Process = Annotated[
    str | None,
    strawberry.argument(description="The shared process the read is made in (RACI)."),
]


async def _aggregate_read(info: strawberry.Info[Context, None], process: str | None) -> SharedRead:
    context = info.context
    principal, _ = require_tenant(context)
    return await read_records(
        context.runtime,
        authorizer=context.authorizer,
        principal=principal,
        record_type="finding",
        process=process,
        request_id=context.request_id,
        limit=0,
    )


async def _list(
    info: strawberry.Info[Context, None],
    *,
    order: FindingOrder,
    conditions: list[Condition],
    tenants: list[str] | None,
    after: Position | None,
    first: int,
    process: str | None,
) -> ListedPage:
    context = info.context
    principal, _ = require_tenant(context)
    return await list_records(
        context.runtime,
        authorizer=context.authorizer,
        principal=principal,
        record_type="finding",
        ordering=FINDING_ORDERINGS[order],
        conditions=conditions,
        tenants=tenants,
        after=after,
        first=first,
        process=process,
        request_id=context.request_id,
    )


async def find_finding(
    info: strawberry.Info[Context, None], gid: GlobalId, process: str | None
) -> FindingType:
    page = await _list(
        info,
        order=FindingOrder.CREATED_AT,
        conditions=[Condition("id", "eq", gid.record_id)],
        tenants=[gid.tenant],
        after=None,
        first=1,
        process=process,
    )
    for failure in page.errors:
        if failure.tenant == gid.tenant:
            raise AccordError(
                failure.message, reason="OWNER_UNREADABLE", code=ErrorCode.TENANT_UNAVAILABLE
            )
    if page.records:
        return FindingType.from_shared(page.records[0])
    # Missing, or not shared with you: the same answer, so ids reveal nothing.
    raise NotFound("No such finding.", reason="FINDING_NOT_FOUND", field="id")


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
        context = info.context
        principal, _ = require_tenant(context)
        check_first(first)
        wanted = filter or FindingFilter()
        fingerprint = context.cursors.fingerprint(
            "findings",
            principal.tenant,
            principal.subject,
            process,
            order_by.value,
            wanted.normalised(),
        )
        ordering = FINDING_ORDERINGS[order_by]
        start = (
            Position.from_json(
                context.cursors.decode_parts(after, fingerprint),
                python_type("finding", ordering.column),
            )
            if after is not None
            else None
        )
        page = await _list(
            info,
            order=order_by,
            conditions=wanted.conditions(datetime.now(UTC).date()),
            tenants=wanted.tenants,
            after=start,
            first=first,
            process=process,
        )
        context.errors.extend(tenant_errors(info, page.errors))
        edges = [
            FindingEdge(
                cursor=context.cursors.encode_parts(fingerprint, position.as_json()),
                node=FindingType.from_shared(record),
            )
            for record, position in zip(page.records, page.positions, strict=True)
        ]
        return FindingConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=start is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )

    @strawberry.field(description="One finding by its global id, at the level you may see it.")
    async def finding(
        self,
        info: strawberry.Info[Context, None],
        id: strawberry.ID,
        process: Process = None,
    ) -> FindingType | None:
        return await find_finding(info, GlobalId.decode(id, expected="Finding"), process)

    @strawberry.field(
        description="Counts by grade and state from owners that share findings in aggregate."
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
                )
                for g in read.aggregates
            ],
            suppressed=[
                SuppressedGroups(tenant=t, groups=n) for t, n in sorted(read.suppressed.items())
            ],
        )
