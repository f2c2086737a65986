"""Finding reads. Every one goes through ``read_records``: the sovereignty gate (agreements),
the action gate (Casbin), the granted level and the grantors' access logs.

``read_records`` returns each owner's newest ``READ_WINDOW`` rows; filters and keyset
pages are applied to that window here, after the gates. Pushing the filter and the
cursor down into the per-owner queries is the federation work that follows.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from accord.compliance.sharing.reads import SharedRead, read_records
from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.graphql.errors import tenant_errors
from accord.graphql.findings.types import (
    FindingAggregateGroup,
    FindingAggregates,
    FindingConnection,
    FindingEdge,
    FindingFilter,
    FindingGradeEnum,
    FindingStateEnum,
    FindingType,
    SuppressedGroups,
)
from accord.graphql.pagination import PageInfo, check_first, keyset_page, newest_first
from accord.graphql.relay import GlobalId
from accord.platform.errors import AccordError, ErrorCode, NotFound

READ_WINDOW = 1000


async def _read(info: strawberry.Info[Context, None], process: str | None) -> SharedRead:
    context = info.context
    principal, _ = require_tenant(context)
    return await read_records(
        context.runtime,
        authorizer=context.authorizer,
        principal=principal,
        record_type="finding",
        process=process,
        request_id=context.request_id,
        limit=READ_WINDOW,
    )


def _sort_key(finding: FindingType) -> tuple[int, str]:
    return newest_first(finding.created_at, finding.id)


async def find_finding(
    info: strawberry.Info[Context, None], gid: GlobalId, process: str | None
) -> FindingType:
    read = await _read(info, process)
    for failure in read.errors:
        if failure.tenant == gid.tenant:
            raise AccordError(
                failure.message, reason="OWNER_UNREADABLE", code=ErrorCode.TENANT_UNAVAILABLE
            )
    for record in read.records:
        if record["owner"] == gid.tenant and record["fields"]["id"] == gid.record_id:
            return FindingType.from_shared(record)
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
        process: Annotated[
            str | None,
            strawberry.argument(description="The shared process the read is made in (RACI)."),
        ] = None,
    ) -> FindingConnection:
        context = info.context
        principal, _ = require_tenant(context)
        check_first(first)
        wanted = filter or FindingFilter()
        fingerprint = context.cursors.fingerprint(
            "findings", principal.tenant, principal.subject, process, wanted.normalised()
        )
        start = context.cursors.decode(after, fingerprint) if after is not None else None
        read = await _read(info, process)
        failed = [e for e in read.errors if not wanted.tenants or e.tenant in wanted.tenants]
        context.errors.extend(tenant_errors(info, failed))
        rows = [f for f in map(FindingType.from_shared, read.records) if wanted.matches(f)]
        page = keyset_page(rows, key=_sort_key, after=start, first=first)
        edges = [
            FindingEdge(cursor=context.cursors.encode(fingerprint, key), node=node)
            for key, node in page.items
        ]
        return FindingConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )

    @strawberry.field(description="One finding by its global id, at the level you may see it.")
    async def finding(
        self,
        info: strawberry.Info[Context, None],
        id: strawberry.ID,
        process: str | None = None,
    ) -> FindingType | None:
        return await find_finding(info, GlobalId.decode(id, expected="Finding"), process)

    @strawberry.field(
        description="Counts by grade and state from owners that share findings in aggregate."
    )
    async def finding_aggregates(
        self, info: strawberry.Info[Context, None], process: str | None = None
    ) -> FindingAggregates:
        read = await _read(info, process)
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
