"""Clause mappings: importing libraries, exporting OSCAL, and the conflicts between them.

Global mappings live in ``catalog.mappings`` of a store (an admin session on that store);
a tenant's own mappings in its ``clause_mappings`` (a tenant session, ``tenant_slug``
given). Imports are all or nothing: every format problem and every clause key or standard
the catalog lacks is collected into one `LibraryInvalid` before anything is written.
Re-importing a set replaces it. Services never commit; the caller owns the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.catalog.models import (
    CISO_ORIGIN,
    HS_CROSSWALK_SET,
    OSCAL_ORIGIN,
    CatalogMapping,
    MappingSet,
)
from accord.compliance.catalog.service import require_clauses
from accord.compliance.crosswalk import MappingConflict, MappingEdge, detect_conflicts
from accord.compliance.mappings import frameworks as fw_service
from accord.compliance.mappings import writer
from accord.compliance.mappings.ciso_assistant import parse_library
from accord.compliance.mappings.export import collection_document
from accord.compliance.mappings.models import OWN_MAPPING_SET, TenantClauseMapping
from accord.compliance.mappings.oscal import parse_mapping_collection
from accord.compliance.mappings.types import (
    ImportedLibrary,
    ImportProblem,
    LibraryFormatError,
)
from accord.compliance.records.history import log_change
from accord.compliance.vocab import (
    MappingMethod,
    MappingStatus,
    Rationale,
    Relationship,
)
from accord.platform import clock
from accord.platform.errors import BadInput, NotFound

GLOBAL = "global"
Document = Mapping[str, object] | str | Path


def _load_yaml(text: str) -> object:
    # libyaml's safe loader reads a large library several times faster than the Python one.
    if hasattr(yaml, "CSafeLoader"):
        return yaml.load(text, Loader=yaml.CSafeLoader)
    return yaml.safe_load(text)


class LibraryInvalid(BadInput):
    """A library or collection that cannot be imported; ``problems`` lists every one."""

    def __init__(self, problems: Sequence[ImportProblem]) -> None:
        self.problems = list(problems)
        listed = "".join(
            f"\n  - {p.path or '<root>'}: [{p.code}] {p.message}" for p in self.problems
        )
        super().__init__(
            f"{len(self.problems)} problem(s), nothing imported:{listed}",
            reason="LIBRARY_INVALID",
            field="library",
        )


@dataclass(frozen=True, slots=True)
class SetReport:
    id: str
    name: str
    source_standard: str | None
    target_standard: str | None
    count: int
    counts_by_relationship: dict[str, int]
    replaced: int


@dataclass(frozen=True, slots=True)
class ImportReport:
    scope: str  # "global" or the tenant slug
    standards: tuple[str, ...]  # created or refreshed from the library's frameworks
    linked: tuple[str, ...]  # existing standards the library's frameworks were linked to
    clauses: int
    mapping_sets: tuple[SetReport, ...]


def read_document(source: Document) -> Mapping[str, object]:
    """A library as loaded: given, or read from a JSON or YAML file (C YAML parser)."""
    if isinstance(source, Mapping):
        return source
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
        loaded = json.loads(text) if text.lstrip().startswith("{") else _load_yaml(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise LibraryInvalid([ImportProblem("", f"{path.name}: {exc}", "unreadable")]) from exc
    if not isinstance(loaded, Mapping):
        raise LibraryInvalid([ImportProblem("", f"{path.name} holds no mapping", "wrong_type")])
    return loaded


def is_oscal(document: Mapping[str, object]) -> bool:
    return "mapping-collection" in document


async def import_ciso_library(
    *,
    session: AsyncSession,
    library: Document,
    actor: str,
    tenant_slug: str | None = None,
    edition_years: Mapping[str, int] | None = None,
) -> ImportReport:
    """Import a CISO Assistant library: frameworks to the catalog, mapping sets to a scope.

    Global scope (no ``tenant_slug``; an admin session on a store) writes frameworks as
    standards and mapping sets as catalog mapping sets. Tenant scope writes the mapping
    sets into that tenant's mappings; its frameworks must already be in the catalog.
    """
    raw = read_document(library)
    known = await fw_service.known_frameworks(session, fw_service.referenced_framework_urns(raw))
    try:
        parsed = parse_library(raw, known_frameworks=known, edition_years=edition_years)
    except LibraryFormatError as exc:
        raise LibraryInvalid(exc.problems) from None
    return await _import(session, parsed, CISO_ORIGIN, actor=actor, tenant_slug=tenant_slug)


async def import_oscal_collection(
    *,
    session: AsyncSession,
    collection: Document,
    actor: str,
    tenant_slug: str | None = None,
    source_standard: str | None = None,
    target_standard: str | None = None,
) -> ImportReport:
    """Import an OSCAL mapping collection as one mapping set (global or a tenant's)."""
    raw = read_document(collection)
    try:
        mapping_set = parse_mapping_collection(
            raw, source_standard=source_standard, target_standard=target_standard
        )
    except LibraryFormatError as exc:
        raise LibraryInvalid(exc.problems) from None
    library = ImportedLibrary(
        urn=mapping_set.urn,
        ref_id=None,
        name=mapping_set.name,
        version=None,
        frameworks=(),
        mapping_sets=(mapping_set,),
    )
    return await _import(session, library, OSCAL_ORIGIN, actor=actor, tenant_slug=tenant_slug)


async def _import(
    session: AsyncSession,
    library: ImportedLibrary,
    origin: str,
    *,
    actor: str,
    tenant_slug: str | None,
) -> ImportReport:
    problems: list[ImportProblem] = []
    if tenant_slug is None:
        plan = await fw_service.plan_frameworks(session, library.frameworks)
        problems.extend(plan.problems)
        new_keys, new_standards = plan.new_keys, plan.new_standards
    else:
        plan, new_keys, new_standards = None, frozenset[str](), frozenset[str]()
        problems.extend(await writer.frameworks_must_exist(session, library.frameworks))
    problems.extend(
        await writer.check_mapping_sets(
            session,
            library.mapping_sets,
            new_keys=new_keys,
            new_standards=new_standards,
            reserved={HS_CROSSWALK_SET} if tenant_slug is None else set(),
        )
    )
    if problems:
        raise LibraryInvalid(problems)
    clauses = 0 if plan is None else await fw_service.write_frameworks(session, plan)
    reports = []
    for mapping_set in library.mapping_sets:
        if tenant_slug is None:
            replaced = await writer.replace_global_set(session, mapping_set, origin)
        else:
            replaced = await writer.replace_tenant_set(session, mapping_set, origin, actor=actor)
        source, target = writer.sides(mapping_set)
        reports.append(
            SetReport(
                id=mapping_set.urn,
                name=mapping_set.name,
                source_standard=source,
                target_standard=target,
                count=len(mapping_set.mappings),
                counts_by_relationship=dict(mapping_set.counts_by_relationship),
                replaced=replaced,
            )
        )
    return ImportReport(
        scope=tenant_slug or GLOBAL,
        standards=tuple(fw.standard_id for fw in plan.create) if plan else (),
        linked=tuple(fw.standard_id for fw in plan.link) if plan else (),
        clauses=clauses,
        mapping_sets=tuple(reports),
    )


async def add_tenant_mapping(
    *,
    session: AsyncSession,
    actor: str,
    source_key: str,
    target_key: str,
    relationship: Relationship,
    rationale: Rationale | None = None,
    strength: int | None = None,
    method: MappingMethod = MappingMethod.HUMAN,
    status: MappingStatus = MappingStatus.DRAFT,
) -> TenantClauseMapping:
    """Add one mapping to the tenant's own set (tenant session); logged as an event."""
    if strength is not None and not 0 <= strength <= 10:
        raise BadInput(
            f"strength must be 0-10, got {strength}",
            reason="STRENGTH_OUT_OF_RANGE",
            field="strength",
        )
    await require_clauses(session=session, keys=[source_key, target_key])
    last = await session.scalar(
        select(func.max(TenantClauseMapping.position)).where(
            TenantClauseMapping.mapping_set == OWN_MAPPING_SET
        )
    )
    mapping = TenantClauseMapping(
        mapping_set=OWN_MAPPING_SET,
        mapping_set_name="Own mappings",
        position=0 if last is None else last + 1,
        source_key=source_key,
        target_key=target_key,
        relationship=Relationship(relationship).value,
        rationale=None if rationale is None else Rationale(rationale).value,
        strength=strength,
        method=MappingMethod(method).value,
        author=actor,
        status=MappingStatus(status).value,
        created_by=actor,
        updated_by=actor,
    )
    session.add(mapping)
    await session.flush()
    change = writer.mapping_payload(mapping)
    await log_change(
        session, actor=actor, action="clause_mapping.created", record=mapping, change=change
    )
    return mapping


async def list_mapping_sets(*, session: AsyncSession) -> list[MappingSet]:
    return list(await session.scalars(select(MappingSet).order_by(MappingSet.id)))


async def tenant_mapping_edges(*, session: AsyncSession, tenant_slug: str) -> list[MappingEdge]:
    """The tenant's own mappings (``session`` is that tenant's session)."""
    own = await session.scalars(
        select(TenantClauseMapping).order_by(
            TenantClauseMapping.mapping_set, TenantClauseMapping.position
        )
    )
    return [writer.edge(row, tenant_slug, f"{row.mapping_set}#{row.position}") for row in own]


async def mapping_edges(
    *, session: AsyncSession, tenant_slug: str | None = None
) -> list[MappingEdge]:
    """Every global mapping, plus the tenant's own when ``tenant_slug`` (a tenant session)."""
    edges = [
        writer.edge(row, GLOBAL, f"{row.mapping_set}#{row.position}")
        for row in await session.scalars(
            select(CatalogMapping).order_by(CatalogMapping.mapping_set, CatalogMapping.position)
        )
    ]
    if tenant_slug is not None:
        edges.extend(await tenant_mapping_edges(session=session, tenant_slug=tenant_slug))
    return edges


async def list_conflicts(
    *, session: AsyncSession, tenant_slug: str | None = None
) -> list[MappingConflict]:
    """Disagreements among global mappings and, with ``tenant_slug``, the tenant's own."""
    return detect_conflicts(await mapping_edges(session=session, tenant_slug=tenant_slug))


async def export_oscal(
    *,
    session: AsyncSession,
    mapping_set: str | None = None,
    tenant_slug: str | None = None,
    now: datetime | None = None,
) -> dict[str, object]:
    """An OSCAL mapping collection of a global set, or of a tenant's mappings (or one set)."""
    rows: Sequence[CatalogMapping | TenantClauseMapping]
    if tenant_slug is None:
        if mapping_set is None:
            raise BadInput(
                "Name the mapping set to export.", reason="MAPPING_SET_REQUIRED", field="set"
            )
        found = await session.get(MappingSet, mapping_set)
        if found is None:
            raise NotFound(
                f"No mapping set {mapping_set!r}.", reason="UNKNOWN_MAPPING_SET", field="set"
            )
        urn, name, document = found.id, found.name, found.source_document or found.id
        rows = list(
            await session.scalars(
                select(CatalogMapping)
                .where(CatalogMapping.mapping_set == mapping_set)
                .order_by(CatalogMapping.position)
            )
        )
    else:
        query = select(TenantClauseMapping).order_by(
            TenantClauseMapping.mapping_set, TenantClauseMapping.position
        )
        if mapping_set is not None:
            query = query.where(TenantClauseMapping.mapping_set == mapping_set)
        rows = list(await session.scalars(query))
        if not rows:
            where = f" in {mapping_set!r}" if mapping_set else ""
            raise NotFound(
                f"Tenant {tenant_slug} has no mappings{where}.",
                reason="UNKNOWN_MAPPING_SET",
                field="set",
            )
        urn = mapping_set or f"urn:accord:tenant:{tenant_slug}:mappings"
        first = rows[0]
        assert isinstance(first, TenantClauseMapping)
        name = first.mapping_set_name if mapping_set else f"Clause mappings of {tenant_slug}"
        document = urn
    return await collection_document(
        session, urn=urn, name=name, document=document, rows=rows, now=now or clock.now()
    )
