"""CISO Assistant frameworks in the catalog: as new standards, or linked to Accord's own.

A framework whose standard id Accord does not ship (NIST CSF 2.0) becomes a catalog
standard of origin ``ciso-assistant`` with its requirement tree as clauses. A framework
for a standard Accord ships (ISO 27001:2022) never rewrites Accord's numbers and titles:
its requirement urns are linked to the matching clauses, so later mapping libraries that
name those urns resolve, and an assessable requirement Accord lacks is a problem.
Clauses are never deleted here; records elsewhere may cite them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.catalog.models import CISO_ORIGIN, Clause, Standard
from accord.compliance.mappings.types import (
    ImportedFramework,
    ImportedRequirement,
    ImportProblem,
)
from accord.compliance.vocab import StandardKind


@dataclass(frozen=True, slots=True)
class FrameworkPlan:
    """What a global import does with each framework of a library."""

    create: tuple[ImportedFramework, ...]
    link: tuple[ImportedFramework, ...]
    problems: tuple[ImportProblem, ...]
    new_keys: frozenset[str]
    new_standards: frozenset[str]


def referenced_framework_urns(raw: Mapping[str, object]) -> set[str]:
    """Framework urns named by a CISO library's mapping sets (read tolerantly)."""
    objects = raw.get("objects")
    if not isinstance(objects, Mapping):
        return set()
    urns: set[str] = set()
    for key in ("requirement_mapping_set", "requirement_mapping_sets"):
        value = objects.get(key)
        for member in value if isinstance(value, list) else [value]:
            if isinstance(member, Mapping):
                for side in ("source_framework_urn", "target_framework_urn"):
                    if isinstance(member.get(side), str):
                        urns.add(member[side])
    return urns


async def known_frameworks(
    session: AsyncSession, urns: Iterable[str]
) -> dict[str, ImportedFramework]:
    """Frameworks imported or linked earlier, rebuilt from the catalog's clause urns."""
    wanted = set(urns)
    if not wanted:
        return {}
    standards = list(
        await session.scalars(select(Standard).where(Standard.library_urn.in_(wanted)))
    )
    if not standards:
        return {}
    clauses = await session.scalars(
        select(Clause)
        .where(Clause.standard_id.in_([s.id for s in standards]), Clause.urn.is_not(None))
        .order_by(Clause.standard_id, Clause.position)
    )
    requirements: dict[str, list[ImportedRequirement]] = {s.id: [] for s in standards}
    for clause in clauses:
        assert clause.urn is not None
        requirements[clause.standard_id].append(
            ImportedRequirement(
                urn=clause.urn,
                ref_id=clause.number,
                name=clause.title,
                parent_urn=None,
                assessable=clause.assessable,
                depth=clause.depth,
                position=clause.position,
            )
        )
    found: dict[str, ImportedFramework] = {}
    for standard in standards:
        assert standard.library_urn is not None
        framework = ImportedFramework(
            urn=standard.library_urn,
            ref_id=standard.number,
            name=standard.title,
            description=None,
            version=standard.version,
            provider=None,
            requirements=tuple(requirements[standard.id]),
            edition_year=standard.year,
        )
        if framework.standard_id == standard.id:
            found[framework.urn] = framework
    return found


def _problem(path: str, code: str, message: str) -> ImportProblem:
    return ImportProblem(path=path, message=message, code=code)


async def plan_frameworks(
    session: AsyncSession, frameworks: Sequence[ImportedFramework]
) -> FrameworkPlan:
    ids = [fw.standard_id for fw in frameworks]
    existing = {
        s.id: s for s in await session.scalars(select(Standard).where(Standard.id.in_(ids)))
    }
    catalog_keys: set[str] = set()
    linked_ids = [sid for sid in ids if sid in existing and existing[sid].origin != CISO_ORIGIN]
    if linked_ids:
        catalog_keys = set(
            await session.scalars(select(Clause.key).where(Clause.standard_id.in_(linked_ids)))
        )
    create: list[ImportedFramework] = []
    link: list[ImportedFramework] = []
    problems: list[ImportProblem] = []
    for fw in frameworks:
        current = existing.get(fw.standard_id)
        if current is None or current.origin == CISO_ORIGIN:
            if current is not None and current.library_urn not in (None, fw.urn):
                message = f"{fw.standard_id} was imported from {current.library_urn}"
                problems.append(_problem(fw.urn, "standard_conflict", message))
            create.append(fw)
            continue
        link.append(fw)
        for requirement in fw.requirements:
            key = fw.clause_key(requirement)
            if requirement.assessable and key not in catalog_keys:
                message = (
                    f"{requirement.urn} ({requirement.ref_id}) has no clause {key} in the "
                    f"catalog's {fw.standard_id} (origin {current.origin})"
                )
                problems.append(_problem(fw.urn, "unknown_clause", message))
    new_keys = frozenset(fw.clause_key(r) for fw in create for r in fw.requirements)
    return FrameworkPlan(
        create=tuple(create),
        link=tuple(link),
        problems=tuple(problems),
        new_keys=new_keys,
        new_standards=frozenset(fw.standard_id for fw in create),
    )


def _depths(fw: ImportedFramework) -> dict[str, int]:
    by_urn = {r.urn: r for r in fw.requirements}
    depths: dict[str, int] = {}

    def depth(urn: str) -> int:
        if urn not in depths:
            parent = by_urn[urn].parent_urn
            # The reader has rejected parent cycles and unknown parents.
            depths[urn] = 1 if parent is None else depth(parent) + 1
        return depths[urn]

    for requirement in fw.requirements:
        depth(requirement.urn)
    return depths


async def write_frameworks(session: AsyncSession, plan: FrameworkPlan) -> int:
    """Create/refresh the planned standards and link the rest; return clauses written."""
    written = 0
    urns_to_keys: dict[str, str] = {}
    for fw in plan.create:
        urns_to_keys.update((r.urn, fw.clause_key(r)) for r in fw.requirements)
    catalog_keys = set(
        await session.scalars(
            select(Clause.key).where(Clause.standard_id.in_([fw.standard_id for fw in plan.link]))
        )
    )
    for fw in plan.link:
        for r in fw.requirements:
            if fw.clause_key(r) in catalog_keys:
                urns_to_keys[r.urn] = fw.clause_key(r)
    if urns_to_keys:
        # Urns may move between clauses (unique): release every one involved, then set.
        await session.execute(
            update(Clause)
            .where(or_(Clause.urn.in_(urns_to_keys), Clause.key.in_(urns_to_keys.values())))
            .values(urn=None)
        )
    for fw in plan.create:
        standard = insert(Standard).values(
            id=fw.standard_id,
            number=fw.ref_id or fw.slug,
            title=fw.name,
            year=int(fw.standard_id.rsplit(":", 1)[1]),
            kind=StandardKind.REQUIREMENTS.value,
            version=fw.version or 1,
            origin=CISO_ORIGIN,
            library_urn=fw.urn,
        )
        fields = ("number", "title", "year", "kind", "version", "origin", "library_urn")
        await session.execute(
            standard.on_conflict_do_update(
                index_elements=[Standard.id],
                set_={name: standard.excluded[name] for name in fields},
            )
        )
        keys = {r.urn: fw.clause_key(r) for r in fw.requirements}
        depths = _depths(fw)
        rows = [
            {
                "key": keys[r.urn],
                "standard_id": fw.standard_id,
                "number": r.clause_number,
                "title": r.name,
                "parent_key": None if r.parent_urn is None else keys[r.parent_urn],
                "depth": depths[r.urn],
                "position": r.position,
                "hs": False,
                "hs_ref": None,
                "assessable": r.assessable,
                "urn": r.urn,
            }
            for r in fw.requirements
        ]
        if rows:
            clause = insert(Clause)
            await session.execute(
                clause.on_conflict_do_update(
                    index_elements=[Clause.key],
                    set_={name: clause.excluded[name] for name in rows[0] if name != "key"},
                ),
                rows,
            )
        written += len(rows)
    for fw in plan.link:
        links = [
            {"key": fw.clause_key(r), "urn": r.urn}
            for r in fw.requirements
            if fw.clause_key(r) in catalog_keys
        ]
        if links:
            await session.execute(update(Clause), links)
        await session.execute(
            update(Standard).where(Standard.id == fw.standard_id).values(library_urn=fw.urn)
        )
        written += len(links)
    return written
