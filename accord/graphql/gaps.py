"""``gapAnalysis``: the caller's own organisation against one standard."""

from __future__ import annotations

from enum import Enum

import strawberry

from accord.compliance.coverage import GapStatus
from accord.compliance.gaps import service as gaps_service
from accord.compliance.vocab import Coverage
from accord.graphql.auth import require_own_tenant
from accord.graphql.context import Context
from accord.platform.errors import Forbidden
from accord.policies.schemas import Resource
from accord.tenants.sessions import tenant_session


@strawberry.enum(name="GapStatus")
class GapStatusEnum(Enum):
    COVERED = GapStatus.COVERED.value
    PARTIAL_ONLY = GapStatus.PARTIAL_ONLY.value
    NO_EVIDENCE = GapStatus.NO_EVIDENCE.value
    NONCONFORMING = GapStatus.NONCONFORMING.value


@strawberry.enum(name="Coverage")
class CoverageEnum(Enum):
    FULL = Coverage.FULL.value
    PARTIAL = Coverage.PARTIAL.value
    NONE = Coverage.NONE.value


@strawberry.type
class GapEntry:
    clause: str
    title: str
    status: GapStatusEnum
    coverage: CoverageEnum
    direct: bool = strawberry.field(description="Assessed on this clause, not via a mapping.")
    via: list[str] = strawberry.field(description="Clause path the coverage came through.")
    open_nonconformities: int
    related_nonconformities: list[str]


@strawberry.type
class GapAnalysis:
    tenant: str
    standard: str
    assessable: int
    covered: int
    coverage_pct: float
    entries: list[GapEntry]


@strawberry.type
class GapQueries:
    @strawberry.field(description="Your organisation's gaps against one standard.")
    async def gap_analysis(
        self, info: strawberry.Info[Context, None], tenant: str, standard: str
    ) -> GapAnalysis:
        context = info.context
        principal = require_own_tenant(context, tenant)
        decision = context.authorizer.authorize(principal, "read", Resource(tenant, "finding"))
        if not decision.allowed:
            raise Forbidden("You may not read your organisation's findings.", reason="NO_READ")
        async with tenant_session(context.runtime, tenant) as session:
            found = await gaps_service.analyse(
                session=session, tenant_slug=tenant, standard_id=standard
            )
        report = found.report
        return GapAnalysis(
            tenant=found.tenant,
            standard=found.standard_id,
            assessable=report.assessable,
            covered=report.covered,
            coverage_pct=report.coverage_pct,
            entries=[
                GapEntry(
                    clause=e.clause,
                    title=found.titles.get(e.clause, ""),
                    status=GapStatusEnum(e.status.value),
                    coverage=CoverageEnum(e.coverage.value),
                    direct=e.direct,
                    via=list(e.via),
                    open_nonconformities=e.open_nonconformities,
                    related_nonconformities=list(e.related_nonconformities),
                )
                for e in report.entries
            ],
        )
