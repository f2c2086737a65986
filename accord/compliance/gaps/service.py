"""Gap analysis of one tenant against one standard, using the cross-walk.

Direct results come from the tenant's own records: an open major or minor nonconformity
makes a clause nonconforming; evidence filed against a clause, or a completed audit that
covered it, makes it conforming. Mappings (global and the tenant's own) then carry those
results to other standards (``coverage.infer_coverage``: weakest link per path, strongest
path wins, a direct result is never overwritten).

Runs inside the tenant's session; the three aggregate queries use the GIN indexes on
``clause_keys`` and return one row per clause, so the cost does not grow with the number
of records beyond the scan. The global mapping edges are cached per catalog version.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.audits.models import Audit, AuditStatus
from accord.compliance.catalog import service as catalog_service
from accord.compliance.catalog.models import CatalogMeta, Clause, MappingSet
from accord.compliance.coverage import (
    CoverageResult,
    DirectResult,
    GapReport,
    gap_analysis,
    infer_coverage,
)
from accord.compliance.crosswalk import MappingEdge
from accord.compliance.evidence.models import Evidence
from accord.compliance.findings.models import Finding, FindingGrade
from accord.compliance.findings.states import FindingState
from accord.compliance.mappings import service as mapping_service
from accord.compliance.vocab import Coverage

NONCONFORMITY_GRADES = (FindingGrade.MAJOR_NONCONFORMITY, FindingGrade.MINOR_NONCONFORMITY)
RECORD_IDS_PER_CLAUSE = 5
_edge_cache: dict[tuple[str, ...], list[MappingEdge]] = {}


@dataclass(frozen=True, slots=True)
class TenantGapReport:
    tenant: str
    standard_id: str
    report: GapReport
    titles: dict[str, str]


async def _catalog_version(session: AsyncSession) -> tuple[str, ...]:
    digest = await session.scalar(select(CatalogMeta.value).where(CatalogMeta.key == "data_digest"))
    sets = (
        await session.execute(
            select(
                func.count(), func.max(MappingSet.imported_at), func.sum(MappingSet.mapping_count)
            )
        )
    ).one()
    return (str(digest), *(str(v) for v in sets))


async def _edges(session: AsyncSession, tenant_slug: str) -> list[MappingEdge]:
    version = await _catalog_version(session)
    global_edges = _edge_cache.get(version)
    if global_edges is None:
        global_edges = await mapping_service.mapping_edges(session=session)
        _edge_cache.clear()  # one catalog version is current at a time
        _edge_cache[version] = global_edges
    own = await mapping_service.tenant_mapping_edges(session=session, tenant_slug=tenant_slug)
    return [*global_edges, *own] if own else global_edges


async def _direct_results(session: AsyncSession) -> tuple[dict[str, DirectResult], dict[str, int]]:
    key = func.unnest(Finding.clause_keys).label("key")
    open_nc = (
        select(key, Finding.id)
        .where(Finding.grade.in_(NONCONFORMITY_GRADES), Finding.state != FindingState.CLOSED)
        .subquery()
    )
    nonconforming = {
        row.key: (row.n, row.ids)
        for row in await session.execute(
            select(
                open_nc.c.key,
                func.count().label("n"),
                func.array_agg(open_nc.c.id).label("ids"),
            ).group_by(open_nc.c.key)
        )
    }
    supporting: dict[str, list[str]] = defaultdict(list)
    evidence_keys = func.unnest(Evidence.clause_keys).label("key")
    audit_keys = func.unnest(Audit.clause_keys).label("key")
    for rows in (
        select(evidence_keys, Evidence.id).subquery(),
        select(audit_keys, Audit.id).where(Audit.status == AuditStatus.COMPLETED).subquery(),
    ):
        for row in await session.execute(
            select(rows.c.key, func.array_agg(rows.c.id).label("ids")).group_by(rows.c.key)
        ):
            supporting[row.key].extend(str(i) for i in row.ids[:RECORD_IDS_PER_CLAUSE])

    direct: dict[str, DirectResult] = {}
    for clause, ids in supporting.items():
        direct[clause] = DirectResult(
            status="conforming", record_ids=tuple(ids[:RECORD_IDS_PER_CLAUSE])
        )
    for clause, (_count, ids) in nonconforming.items():
        direct[clause] = DirectResult(
            status="nonconforming", record_ids=tuple(str(i) for i in ids[:RECORD_IDS_PER_CLAUSE])
        )
    return direct, {clause: count for clause, (count, _ids) in nonconforming.items()}


def _inherit_from_ancestors(
    coverage: dict[str, CoverageResult], parent_of: dict[str, str | None], leaves: set[str]
) -> dict[str, CoverageResult]:
    """A leaf with nothing of its own is partly covered by a covered ancestor.

    Evidence against "9.2 Internal audit" speaks to "9.2.1 General" only in part, so the
    inherited coverage is at most PARTIAL and never replaces the leaf's own result.
    """
    out = dict(coverage)
    for leaf in leaves:
        own = coverage.get(leaf)
        if own is not None and (own.direct or own.coverage != Coverage.NONE):
            continue
        ancestor = parent_of.get(leaf)
        while ancestor is not None:
            found = coverage.get(ancestor)
            if found is not None and found.coverage != Coverage.NONE:
                out[leaf] = CoverageResult(
                    clause=leaf,
                    coverage=Coverage.PARTIAL,
                    direct=False,
                    via=(*found.via, leaf),
                    hops=found.hops,
                    sources=found.sources,
                    related_nonconformities=own.related_nonconformities if own else (),
                )
                break
            ancestor = parent_of.get(ancestor)
    return out


async def analyse(*, session: AsyncSession, tenant_slug: str, standard_id: str) -> TenantGapReport:
    """Gaps of ``tenant_slug`` (whose session this is) against ``standard_id``."""
    await catalog_service.get_standard(session=session, standard_id=standard_id)
    clauses = (
        await session.execute(
            select(Clause.key, Clause.title, Clause.parent_key, Clause.assessable)
            .where(Clause.standard_id == standard_id)
            .order_by(Clause.position)
        )
    ).all()
    parents = {c.parent_key for c in clauses if c.parent_key}
    assessable = {c.key for c in clauses if c.assessable and c.key not in parents}
    direct, open_counts = await _direct_results(session)
    edges = await _edges(session, tenant_slug)
    coverage = _inherit_from_ancestors(
        infer_coverage(direct, edges), {c.key: c.parent_key for c in clauses}, assessable
    )
    report = gap_analysis([c.key for c in clauses], coverage, open_counts, assessable=assessable)
    return TenantGapReport(
        tenant=tenant_slug,
        standard_id=standard_id,
        report=report,
        titles={c.key: c.title for c in clauses},
    )
