"""The network dashboard: open findings by grade, state and clause and overdue CAPA actions,
per owner, from maintained tallies."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from accord.compliance.sharing.dashboard import network_dashboard
from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.graphql.errors import tenant_errors
from accord.graphql.findings.types import FindingGradeEnum, FindingStateEnum, SuppressedGroups


@strawberry.type(description="Open findings of one owner in one grade.")
class OpenByGrade:
    tenant: str
    grade: FindingGradeEnum
    count: int


@strawberry.type(description="Open findings of one owner in one state.")
class OpenByState:
    tenant: str
    state: FindingStateEnum
    count: int


@strawberry.type(
    description="Open findings of one owner naming one clause (a finding naming several "
    "clauses counts under each)."
)
class OpenByClause:
    tenant: str
    clause_key: str
    count: int


@strawberry.type(description="CAPA actions of one owner not done and past their due date.")
class OverdueActionCount:
    tenant: str
    count: int


@strawberry.type
class NetworkDashboard:
    open_by_grade: list[OpenByGrade]
    open_by_state: list[OpenByState]
    open_by_clause: list[OpenByClause]
    overdue_capa_actions: list[OverdueActionCount]
    suppressed: list[SuppressedGroups]


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
            today=datetime.now(UTC).date(),
            process=process,
            request_id=context.request_id,
        )
        context.errors.extend(tenant_errors(info, board.errors))
        return NetworkDashboard(
            open_by_grade=[
                OpenByGrade(tenant=c.owner, grade=FindingGradeEnum(c.value), count=c.count)
                for c in board.open_findings
                if c.dimension == "grade"
            ],
            open_by_state=[
                OpenByState(tenant=c.owner, state=FindingStateEnum(c.value), count=c.count)
                for c in board.open_findings
                if c.dimension == "state"
            ],
            open_by_clause=[
                OpenByClause(tenant=c.owner, clause_key=c.value, count=c.count)
                for c in board.open_findings
                if c.dimension == "clause"
            ],
            overdue_capa_actions=[
                OverdueActionCount(tenant=c.owner, count=c.count) for c in board.overdue_actions
            ],
            suppressed=[
                SuppressedGroups(tenant=t, groups=n) for t, n in sorted(board.suppressed.items())
            ],
        )
