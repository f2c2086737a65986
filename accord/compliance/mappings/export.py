"""Mapping rows (global or a tenant's) as an OSCAL mapping collection document.

Clause urns come from the catalog where a library linked them, else ``urn:accord:clause:``
urns; Accord's standard ids travel as props, so re-importing the file needs no options.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.catalog.models import CatalogMapping, Clause, Standard
from accord.compliance.mappings.models import TenantClauseMapping
from accord.compliance.mappings.oscal import export_mapping_collection
from accord.compliance.mappings.types import ImportedMapping, ImportedMappingSet
from accord.compliance.mappings.writer import sides as set_sides
from accord.compliance.vocab import ClauseKey, MappingMethod, MappingStatus, Rationale, Relationship
from accord.platform.errors import BadInput


async def collection_document(
    session: AsyncSession,
    *,
    urn: str,
    name: str,
    document: str,
    rows: Sequence[CatalogMapping | TenantClauseMapping],
    now: datetime,
) -> dict[str, object]:
    """The OSCAL document of ``rows`` (one source and one target standard)."""
    keys = {k for row in rows for k in (row.source_key, row.target_key)}
    found = await session.execute(select(Clause.key, Clause.urn).where(Clause.key.in_(keys)))
    clause_urns = {key: urn for key, urn in found.all()}
    sides = {
        ClauseKey.parse(getattr(r, f"{side}_key")).standard
        for r in rows
        for side in ("source", "target")
    }
    found_standards = await session.execute(
        select(Standard.id, Standard.library_urn).where(Standard.id.in_(sides))
    )
    standard_urns = {standard: urn for standard, urn in found_standards.all()}

    def clause_urn(key: str) -> str:
        return clause_urns.get(key) or f"urn:accord:clause:{key}"

    mappings = tuple(
        ImportedMapping(
            source_urn=clause_urn(row.source_key),
            target_urn=clause_urn(row.target_key),
            source_key=row.source_key,
            target_key=row.target_key,
            relationship=Relationship(row.relationship),
            rationale=None if row.rationale is None else Rationale(row.rationale),
            strength=row.strength,
            method=MappingMethod(row.method),
            status=MappingStatus(row.status),
            author=row.author,
            source_document=document,
        )
        for row in rows
    )
    imported = ImportedMappingSet(
        urn=urn,
        name=name,
        source_framework_urn="",
        target_framework_urn="",
        mappings=mappings,
        counts_by_relationship={},
    )
    source, target = set_sides(imported)
    if source is None or target is None:
        raise BadInput(
            "An OSCAL collection maps one standard to one standard; this set spans several.",
            reason="MIXED_STANDARDS",
            field="set",
        )
    imported = ImportedMappingSet(
        urn=urn,
        name=name,
        source_framework_urn=standard_urns.get(source) or f"urn:accord:standard:{source}",
        target_framework_urn=standard_urns.get(target) or f"urn:accord:standard:{target}",
        mappings=mappings,
        counts_by_relationship={},
    )
    return export_mapping_collection(
        imported,
        title=name,
        source_href=f"urn:accord:catalog:{source}",
        target_href=f"urn:accord:catalog:{target}",
        now=now,
    )
