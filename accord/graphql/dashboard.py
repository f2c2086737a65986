"""The network dashboard: per owner, open findings by grade, state and clause and overdue
CAPA actions, from maintained tallies.

One object per owner with its counts as maps (``{"major_nonconformity": 3, …}``): a
network of 100 partners is 100 objects, not thousands of tiny ones, which is what keeps
the dashboard cheap to serve."""

from __future__ import annotations

from typing import cast

import strawberry
from strawberry.scalars import JSON

from accord.compliance.sharing.dashboard import Dashboard, network_dashboard
from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.graphql.errors import tenant_errors
from accord.graphql.listing import require_known_process
from accord.platform import clock


@strawberry.type(description="One organisation's counts on the network dashboard.")
class TenantCounts:
    tenant: str
    open_by_grade: JSON = strawberry.field(
        description="Open (not closed) findings per grade, e.g. {major_nonconformity: 2}."
    )
    open_by_state: JSON = strawberry.field(description="Open findings per state.")
    open_by_clause: JSON = strawberry.field(
        description="Open findings per clause key (a finding naming several counts under each)."
    )
    overdue_capa_actions: int | None = strawberry.field(
        description="CAPA actions not done and past due; null if CAPAs are not shared with you."
    )
    rounded_to: int | None = strawberry.field(
        description="Null: the counts are exact. Under an aggregate agreement, each "
        "(grade, state) cell and the overdue actions are rounded to a multiple of this "
        "base (the agreement's minimum group size, at least 3) with a secret offset per "
        "cell; the counts per grade and per state are sums of the rounded cells, and no "
        "counts per clause are given."
    )
    suppressed_groups: int = strawberry.field(
        description="Always 0: aggregate counts are rounded, not withheld.",
        deprecation_reason="Aggregate counts are rounded (see roundedTo), never withheld.",
    )


@strawberry.type
class NetworkDashboard:
    tenants: list[TenantCounts]


def _shape(board: Dashboard) -> NetworkDashboard:
    return NetworkDashboard(
        tenants=[
            TenantCounts(
                tenant=o.owner,
                open_by_grade=cast(JSON, o.by_grade),
                open_by_state=cast(JSON, o.by_state),
                open_by_clause=cast(JSON, o.by_clause),
                overdue_capa_actions=o.overdue_actions,
                rounded_to=o.rounded_to,
                suppressed_groups=0,
            )
            for o in board.owners
        ]
    )


@strawberry.type
class DashboardQueries:
    @strawberry.field(
        description="Counts across every organisation you may read (any sharing level); "
        "an aggregate agreement's counts are rounded (see `roundedTo`)."
    )
    async def network_dashboard(
        self, info: strawberry.Info[Context, None], process: str | None = None
    ) -> NetworkDashboard:
        context = info.context
        principal, _ = require_tenant(context)
        await require_known_process(context, process)
        board = await network_dashboard(
            context.runtime,
            authorizer=context.authorizer,
            principal=principal,
            today=clock.today(),
            process=process,
            request_id=context.request_id,
            hub=context.hub,
        )
        context.errors.extend(tenant_errors(info, board.errors))
        return _shape(board)
