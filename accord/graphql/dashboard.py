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
    suppressed_groups: int = strawberry.field(
        description="Counts withheld below an aggregate agreement's minimum group size."
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
                suppressed_groups=o.suppressed,
            )
            for o in board.owners
        ]
    )


@strawberry.type
class DashboardQueries:
    @strawberry.field(
        description="Counts across every organisation you may read (any sharing level); "
        "groups below an aggregate agreement's minimum size are withheld."
    )
    async def network_dashboard(
        self, info: strawberry.Info[Context, None], process: str | None = None
    ) -> NetworkDashboard:
        context = info.context
        principal, _ = require_tenant(context)
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
