"""Checks of imported mapping sets against the catalog, and their writes to either scope."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence, Set
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.catalog.models import CatalogMapping, Clause, MappingSet, Standard
from accord.compliance.crosswalk import MappingEdge
from accord.compliance.mappings.models import TenantClauseMapping
from accord.compliance.mappings.types import ImportedFramework, ImportedMappingSet, ImportProblem
from accord.compliance.records.provenance import content_hash_of
from accord.compliance.vocab import ClauseKey, MappingMethod, Rationale, Relationship
from accord.platform.canonical import canonical_digest
from accord.platform.eventlog import append_event

SET_RECORD_TYPE = "clause_mapping_set"


def sides(mapping_set: ImportedMappingSet) -> tuple[str | None, str | None]:
    """The one source and one target standard of a set's keys, None where they vary."""
    found: list[str | None] = []
    for side in ("source_key", "target_key"):
        standards = {ClauseKey.parse(getattr(m, side)).standard for m in mapping_set.mappings}
        found.append(standards.pop() if len(standards) == 1 else None)
    return found[0], found[1]


async def frameworks_must_exist(
    session: AsyncSession, frameworks: Sequence[ImportedFramework]
) -> list[ImportProblem]:
    """Tenant scope cannot write the catalog: a library's frameworks must be there already."""
    ids = {fw.standard_id for fw in frameworks}
    if not ids:
        return []
    present = set(await session.scalars(select(Standard.id).where(Standard.id.in_(ids))))
    return [
        ImportProblem(
            fw.urn,
            f"{fw.standard_id} is not in the catalog; import this framework globally first",
            "unknown_standard",
        )
        for fw in frameworks
        if fw.standard_id not in present
    ]


async def check_mapping_sets(
    session: AsyncSession,
    mapping_sets: Sequence[ImportedMappingSet],
    *,
    new_keys: Set[str],
    new_standards: Set[str],
    reserved: Set[str],
) -> list[ImportProblem]:
    """Every clause key named must exist (or be created by this import); one problem per key."""
    problems = [
        ImportProblem(s.urn, f"{s.urn} is reserved for Accord's own set", "reserved_mapping_set")
        for s in mapping_sets
        if s.urn in reserved
    ]
    where: dict[str, list[str]] = defaultdict(list)
    for mapping_set in mapping_sets:
        for index, m in enumerate(mapping_set.mappings):
            for side, key in (("source", m.source_key), ("target", m.target_key)):
                if key not in new_keys:
                    where[key].append(f"{mapping_set.urn} mapping {index} {side}")
    if not where:
        return problems
    known = set(await session.scalars(select(Clause.key).where(Clause.key.in_(where))))
    missing = sorted(key for key in where if key not in known)
    if not missing:
        return problems
    wanted = {ClauseKey.parse(key).standard for key in missing}
    standards = set(await session.scalars(select(Standard.id).where(Standard.id.in_(wanted))))
    for key in missing:
        standard = ClauseKey.parse(key).standard
        uses = where[key]
        more = f" (and {len(uses) - 1} more mapping ends)" if len(uses) > 1 else ""
        if standard in standards or standard in new_standards:
            problems.append(
                ImportProblem(
                    uses[0], f"{key} is not a clause of the catalog{more}", "unknown_clause"
                )
            )
        else:
            message = f"{key}: standard {standard} is not in the catalog{more}"
            problems.append(ImportProblem(uses[0], message, "unknown_standard"))
    return problems


def _rows(mapping_set: ImportedMappingSet) -> list[dict[str, Any]]:
    return [
        {
            "position": position,
            "source_key": m.source_key,
            "target_key": m.target_key,
            "relationship": m.relationship.value,
            "rationale": None if m.rationale is None else m.rationale.value,
            "strength": m.strength,
            "method": m.method.value,
            "author": m.author,
            "status": m.status.value,
        }
        for position, m in enumerate(mapping_set.mappings)
    ]


async def replace_global_set(
    session: AsyncSession, mapping_set: ImportedMappingSet, origin: str
) -> int:
    """Write (or replace) one catalog mapping set; return how many mappings it replaced."""
    previous = await session.scalar(
        select(MappingSet.mapping_count).where(MappingSet.id == mapping_set.urn)
    )
    await session.execute(delete(MappingSet).where(MappingSet.id == mapping_set.urn))
    source, target = sides(mapping_set)
    documents = {m.source_document for m in mapping_set.mappings}
    await session.execute(
        insert(MappingSet).values(
            id=mapping_set.urn,
            name=mapping_set.name,
            source_standard=source,
            target_standard=target,
            source_document=documents.pop() if len(documents) == 1 else None,
            origin=origin,
            mapping_count=len(mapping_set.mappings),
        )
    )
    rows = _rows(mapping_set)
    if rows:
        await session.execute(
            insert(CatalogMapping), [{"mapping_set": mapping_set.urn, **row} for row in rows]
        )
    return previous or 0


async def replace_tenant_set(
    session: AsyncSession, mapping_set: ImportedMappingSet, origin: str, *, actor: str
) -> int:
    """Write (or replace) one of the tenant's sets, logged as one event with a digest."""
    removed = await session.execute(
        delete(TenantClauseMapping)
        .where(TenantClauseMapping.mapping_set == mapping_set.urn)
        .returning(TenantClauseMapping.id)
    )
    replaced = len(removed.all())
    rows = []
    for row in _rows(mapping_set):
        rows.append(
            {
                **row,
                "mapping_set": mapping_set.urn,
                "mapping_set_name": mapping_set.name,
                "source_system": origin,
                "external_id": f"{mapping_set.urn}#{row['position']}",
                "content_hash": content_hash_of(row),
                "created_by": actor,
                "updated_by": actor,
            }
        )
    if rows:
        await session.execute(insert(TenantClauseMapping), rows)
    change = {
        "name": mapping_set.name,
        "origin": origin,
        "count": len(rows),
        "replaced": replaced,
        "counts_by_relationship": dict(mapping_set.counts_by_relationship),
        # The rows themselves stay verifiable: each carries its content hash.
        "digest": canonical_digest([row["content_hash"] for row in rows]),
    }
    action = "clause_mapping_set.replaced" if replaced else "clause_mapping_set.imported"
    await log_set_event(session, actor=actor, action=action, set_id=mapping_set.urn, change=change)
    return replaced


async def log_set_event(
    session: AsyncSession, *, actor: str, action: str, set_id: str, change: Mapping[str, Any]
) -> None:
    await append_event(
        session,
        actor=actor,
        action=action,
        record_type=SET_RECORD_TYPE,
        record_id=set_id,
        change=change,
    )


def mapping_payload(row: CatalogMapping | TenantClauseMapping) -> dict[str, Any]:
    return {
        "mapping_set": row.mapping_set,
        "position": row.position,
        "source_key": row.source_key,
        "target_key": row.target_key,
        "relationship": row.relationship,
        "rationale": row.rationale,
        "strength": row.strength,
        "method": row.method,
        "author": row.author,
        "status": row.status,
    }


def edge(row: CatalogMapping | TenantClauseMapping, scope: str, mapping_id: str) -> MappingEdge:
    return MappingEdge(
        source=row.source_key,
        target=row.target_key,
        relationship=Relationship(row.relationship),
        strength=row.strength,
        scope=scope,
        method=MappingMethod(row.method),
        author=row.author,
        status=row.status,
        mapping_id=mapping_id,
        rationale=None if row.rationale is None else Rationale(row.rationale),
    )
