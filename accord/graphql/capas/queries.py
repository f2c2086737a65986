"""``capaCoverage``: per finding a CAPA addresses, how far its clauses cover it.

The CAPA and its findings are read as any read is (both gates, the granted level, the
owners' access logs); only findings the caller may read are listed. Coverage itself is
computed in the owner's store from the CAPA's clauses and the approved cross-walk.
"""

from __future__ import annotations

import uuid

import strawberry

from accord.compliance.capa import flows as capa_flows
from accord.compliance.capa import service as capa_service
from accord.graphql.context import Context
from accord.graphql.findings.types import FindingType
from accord.graphql.gaps import CoverageEnum
from accord.graphql.listing import Process
from accord.graphql.records.capas import CapaNode, find_capa
from accord.graphql.records.loaders import FindingsByCapaLoader, load
from accord.graphql.relay import GlobalId
from accord.tenants.sessions import tenant_session


@strawberry.type(name="CapaClauseCoverage")
class ClauseCoverageType:
    clause: str
    coverage: CoverageEnum = strawberry.field(
        description="FULL: in the CAPA's clauses or mapped from one as equal/superset; "
        "PARTIAL: mapped as subset/intersects; NONE: neither."
    )


@strawberry.type(name="CapaFindingCoverage")
class FindingCoverageType:
    finding: FindingType
    coverage: CoverageEnum = strawberry.field(
        description="FULL when every clause of the finding is, PARTIAL when some clause is "
        "covered at all, NONE otherwise."
    )
    clauses: list[ClauseCoverageType]


@strawberry.type(name="CapaCoverage")
class CapaCoverageType:
    capa: CapaNode
    findings: list[FindingCoverageType] = strawberry.field(
        description="The findings you may read, by reference."
    )


@strawberry.type
class CapaCoverageQueries:
    @strawberry.field(
        description="How far a CAPA's clauses, through the approved clause cross-walk, cover "
        "each finding it addresses, per finding and per clause."
    )
    async def capa_coverage(
        self, info: strawberry.Info[Context, None], capa_id: strawberry.ID, process: Process = None
    ) -> CapaCoverageType:
        gid = GlobalId.decode(capa_id, expected="Capa")
        node = await find_capa(info, gid, process)
        readable = await load(info, FindingsByCapaLoader, process, (gid.tenant, gid.record_id))
        shown: dict[uuid.UUID, FindingType] = {
            r["fields"]["id"]: FindingType.from_shared(r) for r in readable
        }
        async with tenant_session(info.context.runtime, gid.tenant) as session:
            capa = await capa_service.get_capa(session=session, capa_id=gid.record_id)
            covered = await capa_flows.coverage_by_finding(
                session=session, capa=capa, owner=gid.tenant
            )
        return CapaCoverageType(
            capa=node,
            findings=[
                FindingCoverageType(
                    finding=shown[c.finding.id],
                    coverage=CoverageEnum(c.coverage.value),
                    clauses=[
                        ClauseCoverageType(clause=k.clause, coverage=CoverageEnum(k.coverage.value))
                        for k in c.clauses
                    ],
                )
                for c in covered
                if c.finding.id in shown
            ],
        )
