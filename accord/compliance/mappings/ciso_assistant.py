"""Reader for CISO Assistant libraries: frameworks and requirement mapping sets.

Direction of relationships. A CISO Assistant requirement mapping reads
``source <relationship> target``: the project documents its mappings as a directed graph
from the SRC to the TGT framework following NIST OLIR (IR 8477) conventions, and its
mapping engine (``backend/core/mappings/engine.py``) copies a source result in full to the
target only for ``equal`` and ``superset`` while ``subset`` and ``intersect`` give partial
coverage, i.e. ``superset`` means the source contains everything the target asks for.
That is the meaning of Accord's `Relationship` (source relative to target), so tokens are
translated one to one and never flipped: ``equal→equal``, ``subset→subset``,
``superset→superset``, ``intersect→intersects``, ``not_related→no_relationship``. A
``…-revert`` set is a separate set with its endpoints already swapped, read like any other.

Mapping files name requirements of frameworks that live in other library files; pass
those frameworks as ``known_frameworks`` to resolve (and check) every urn. Without them,
clause keys are derived from the node urns alone (see `ref_id_from_urn_tail`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from accord.compliance.mappings.types import (
    KNOWN_EDITION_YEARS,
    ImportedFramework,
    ImportedLibrary,
    ImportedMapping,
    ImportedMappingSet,
    ImportedRequirement,
    ImportProblemCode,
    ProblemLog,
    clause_number_for,
    count_relationships,
    join_path,
    load_document,
    ref_id_from_urn_tail,
    standard_id_for,
)
from accord.compliance.vocab import MappingMethod, MappingStatus, Rationale, Relationship

Code = ImportProblemCode

RELATIONSHIPS: Mapping[str, Relationship] = {
    "equal": Relationship.EQUAL,
    "subset": Relationship.SUBSET,
    "superset": Relationship.SUPERSET,
    "intersect": Relationship.INTERSECTS,
    "not_related": Relationship.NO_RELATIONSHIP,
}
_NODE_URN = re.compile(r"^urn:[^:]+:[^:]+:req_node:(?P<framework>[^:]+):(?P<node>.+)$")
_RATIONALES: Mapping[str, Rationale] = {rationale.value: rationale for rationale in Rationale}
_STRENGTH = range(11)


@dataclass(frozen=True, slots=True)
class _Provenance:
    author: str | None
    document: str
    method: MappingMethod
    status: MappingStatus


def parse_library(
    data: Mapping[str, object] | str | Path,
    *,
    known_frameworks: Mapping[str, ImportedFramework] | None = None,
    edition_years: Mapping[str, int] | None = None,
    method: MappingMethod = MappingMethod.HUMAN,
    status: MappingStatus = MappingStatus.DRAFT,
) -> ImportedLibrary:
    """Read one library; raise `LibraryFormatError` listing every problem found.

    Library files do not record how mappings were made or reviewed: ``method`` defaults
    to human (curated publications such as NIST's OLIR mappings) and ``status`` to draft,
    because nothing imported is approved in Accord until someone approves it.
    """
    raw = load_document(data)
    log = ProblemLog()
    years = {**KNOWN_EDITION_YEARS, **{k.lower(): v for k, v in (edition_years or {}).items()}}
    urn = log.text(raw, "urn", "", required=True) or ""
    ref_id = _ref_id(raw, "", log)
    name = log.text(raw, "name", "") or ref_id or urn
    version = log.integer(raw, "version", "")
    provider = log.text(raw, "provider", "")
    document = f"{urn}@{version}" if version is not None else urn
    objects = _objects(raw, log)

    seen_urns: dict[str, str] = {}
    frameworks: list[ImportedFramework] = []
    for path, obj in _entries(objects, "framework", "frameworks", log):
        framework = _read_framework(path, obj, version, provider, years, seen_urns, log)
        if framework is not None:
            frameworks.append(framework)

    resolver = _Resolver(frameworks, known_frameworks, years, log, _dependencies(raw))
    provenance = _Provenance(author=provider, document=document, method=method, status=status)
    mapping_sets: list[ImportedMappingSet] = []
    for path, obj in _entries(objects, "requirement_mapping_set", "requirement_mapping_sets", log):
        mapping_set = _read_mapping_set(path, obj, resolver, provenance, seen_urns, log)
        if mapping_set is not None:
            mapping_sets.append(mapping_set)

    log.raise_if_any()
    return ImportedLibrary(
        urn=urn,
        ref_id=ref_id,
        name=name,
        version=version,
        frameworks=tuple(frameworks),
        mapping_sets=tuple(mapping_sets),
    )


def _dependencies(raw: Mapping[str, object]) -> tuple[str, ...]:
    value = raw.get("dependencies")
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))


def _objects(raw: Mapping[str, object], log: ProblemLog) -> Mapping[str, object]:
    if "objects" not in raw:
        log.add("objects", Code.MISSING, "objects is required")
        return {}
    return log.mapping(raw["objects"], "objects") or {}


def _entries(
    objects: Mapping[str, object], singular: str, plural: str, log: ProblemLog
) -> list[tuple[str, Mapping[str, object]]]:
    # Older libraries hold one object under the singular key, newer ones a list under the
    # plural; either key may in practice hold either shape.
    found: list[tuple[str, Mapping[str, object]]] = []
    for key in (singular, plural):
        if key not in objects:
            continue
        path, value = join_path("objects", key), objects[key]
        members = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, member in members:
            member_path = path if index is None else join_path(path, index)
            obj = log.mapping(member, member_path)
            if obj is not None:
                found.append((member_path, obj))
    return found


def _ref_id(obj: Mapping[str, object], path: str, log: ProblemLog) -> str | None:
    value = obj.get("ref_id")
    # An unquoted YAML integer is still the identifier the author meant; a float is not
    # (`4.10` would read back as `4.1`).
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return log.text(obj, "ref_id", path)


def _read_framework(
    path: str,
    obj: Mapping[str, object],
    version: int | None,
    provider: str | None,
    years: Mapping[str, int],
    seen_urns: dict[str, str],
    log: ProblemLog,
) -> ImportedFramework | None:
    urn = log.text(obj, "urn", path, required=True)
    ref_id = _ref_id(obj, path, log)
    name = log.text(obj, "name", path)
    description = log.text(obj, "description", path)
    nodes_path = join_path(path, "requirement_nodes")
    if "requirement_nodes" not in obj:
        log.add(nodes_path, Code.MISSING, "requirement_nodes is required")
    items = log.items(obj.get("requirement_nodes", []), nodes_path) or []
    nodes: list[tuple[str, ImportedRequirement]] = []
    for position, item in enumerate(items):
        node_path = join_path(nodes_path, position)
        node = log.mapping(item, node_path)
        requirement = None if node is None else _read_node(node, node_path, position, log)
        if requirement is None:
            continue
        if _claim(requirement.urn, node_path, seen_urns, log):
            nodes.append((node_path, requirement))
    _check_tree(nodes, log)
    _check_clause_numbers(nodes, log)
    if urn is None or not _claim(urn, path, seen_urns, log):
        return None
    slug = urn.rsplit(":", 1)[-1]
    standard = standard_id_for(slug, years)
    if standard is None:
        log.add(
            join_path(path, "urn"),
            Code.NO_STANDARD_ID,
            f"no edition year is known for {slug!r}; pass edition_years={{{slug!r}: <year>}}",
        )
    return ImportedFramework(
        urn=urn,
        ref_id=ref_id,
        name=name or ref_id or slug,
        description=description,
        version=version,
        provider=provider,
        requirements=tuple(requirement for _, requirement in nodes),
        edition_year=None if standard is None else int(standard.rsplit(":", 1)[1]),
    )


def _claim(urn: str, path: str, seen_urns: dict[str, str], log: ProblemLog) -> bool:
    if urn in seen_urns:
        log.add(
            join_path(path, "urn"), Code.DUPLICATE_URN, f"{urn} is already used at {seen_urns[urn]}"
        )
        return False
    seen_urns[urn] = path
    return True


def _read_node(
    node: Mapping[str, object], path: str, position: int, log: ProblemLog
) -> ImportedRequirement | None:
    urn = log.text(node, "urn", path, required=True)
    ref_id = _ref_id(node, path, log)
    # Titles only: catalog data never carries requirement text (ISO copyright).
    name = log.text(node, "name", path)
    parent_urn = log.text(node, "parent_urn", path)
    depth = log.integer(node, "depth", path)
    assessable = node.get("assessable", False)
    if not isinstance(assessable, bool):
        log.add(join_path(path, "assessable"), Code.WRONG_TYPE, "assessable must be true or false")
        assessable = False
    if urn is None:
        return None
    return ImportedRequirement(
        urn=urn,
        ref_id=ref_id,
        name=name or ref_id or clause_number_for(None, urn),
        parent_urn=parent_urn,
        # A node without ref_id has only a synthetic clause number, which nobody can cite.
        assessable=assessable and ref_id is not None,
        depth=depth,
        position=position,
    )


def _check_tree(nodes: Sequence[tuple[str, ImportedRequirement]], log: ProblemLog) -> None:
    by_urn = {requirement.urn: (path, requirement) for path, requirement in nodes}
    for path, requirement in nodes:
        if requirement.parent_urn is not None and requirement.parent_urn not in by_urn:
            log.add(
                join_path(path, "parent_urn"),
                Code.UNKNOWN_PARENT,
                f"{requirement.parent_urn} is not a node of this framework",
            )
    done: set[str] = set()
    for _, start in nodes:
        walk: list[str] = []
        current: str | None = start.urn
        while current is not None and current in by_urn and current not in done:
            if current in walk:
                cycle = walk[walk.index(current) :]
                first = min(cycle, key=lambda urn: by_urn[urn][1].position)
                chain = " -> ".join([*cycle, current])
                log.add(join_path(by_urn[first][0], "parent_urn"), Code.PARENT_CYCLE, chain)
                break
            walk.append(current)
            current = by_urn[current][1].parent_urn
        done.update(walk)


def _check_clause_numbers(
    nodes: Sequence[tuple[str, ImportedRequirement]], log: ProblemLog
) -> None:
    seen: dict[str, str] = {}
    for path, requirement in nodes:
        number = requirement.clause_number
        if number in seen:
            log.add(
                join_path(path, "ref_id"),
                Code.DUPLICATE_CLAUSE,
                f"clause number {number!r} is already used at {seen[number]}",
            )
        else:
            seen[number] = path


class _Resolver:
    """Turns requirement urns into clause keys, checking they belong to the named framework."""

    def __init__(
        self,
        local: Sequence[ImportedFramework],
        known: Mapping[str, ImportedFramework] | None,
        years: Mapping[str, int],
        log: ProblemLog,
        dependencies: Sequence[str] = (),
    ) -> None:
        self._frameworks = {fw.urn: fw for fw in [*(known or {}).values(), *local]}
        self._dependencies = tuple(dependencies)
        self._reported_missing: set[str] = set()
        self._requirements = {
            req.urn: (fw, req) for fw in self._frameworks.values() for req in fw.requirements
        }
        self._derive = known is None
        self._years = years
        self._log = log
        self._reported_no_standard: set[str] = {fw.urn for fw in local if fw.edition_year is None}

    def key(self, urn: str, framework_urn: str, path: str) -> str | None:
        found = self._requirements.get(urn)
        if found is not None:
            framework, requirement = found
            if framework.urn != framework_urn:
                message = f"{urn} belongs to {framework.urn}, not {framework_urn}"
                self._log.add(path, Code.FRAMEWORK_MISMATCH, message)
                return None
            try:
                return framework.clause_key(requirement)
            except ValueError as exc:
                self._no_standard(framework.urn, path, str(exc))
                return None
        if self._derive and framework_urn not in self._frameworks:
            return self._derived_key(urn, framework_urn, path)
        if framework_urn not in self._frameworks:
            self._missing_framework(framework_urn, path)
            return None
        message = f"{urn} is not a requirement of {framework_urn}"
        self._log.add(path, Code.UNKNOWN_REQUIREMENT, message)
        return None

    def _missing_framework(self, framework_urn: str, path: str) -> None:
        # One problem per framework, naming the library that brings it: every mapping
        # into it would otherwise repeat the same cause.
        if framework_urn in self._reported_missing:
            return
        self._reported_missing.add(framework_urn)
        slug = framework_urn.rsplit(":", 1)[-1]
        named = [dep for dep in self._dependencies if dep.rsplit(":", 1)[-1] == slug]
        if named:
            hint = f"import the library {named[0]} first (listed in this file's dependencies)"
        elif self._dependencies:
            hint = "import the library that defines it first; this file depends on " + (
                ", ".join(self._dependencies)
            )
        else:
            hint = "import the CISO Assistant library that defines it first"
        message = f"framework {framework_urn} is not in the catalog: {hint}"
        self._log.add(path, Code.FRAMEWORK_NOT_LOADED, message)

    def _derived_key(self, urn: str, framework_urn: str, path: str) -> str | None:
        match = _NODE_URN.match(urn)
        if match is None:
            self._log.add(path, Code.UNKNOWN_REQUIREMENT, f"{urn} is not a requirement node urn")
            return None
        slug = match["framework"]
        if slug != framework_urn.rsplit(":", 1)[-1]:
            message = f"{urn} names framework {slug!r}, not {framework_urn}"
            self._log.add(path, Code.FRAMEWORK_MISMATCH, message)
            return None
        standard = standard_id_for(slug, self._years)
        if standard is None:
            self._no_standard(framework_urn, path, f"no edition year is known for {slug!r}")
            return None
        return f"{standard}/{clause_number_for(ref_id_from_urn_tail(match['node']), urn)}"

    def _no_standard(self, framework_urn: str, path: str, message: str) -> None:
        # Reported once per framework: the same cause would otherwise repeat per mapping.
        if framework_urn not in self._reported_no_standard:
            self._reported_no_standard.add(framework_urn)
            self._log.add(path, Code.NO_STANDARD_ID, message)


def _read_mapping_set(
    path: str,
    obj: Mapping[str, object],
    resolver: _Resolver,
    provenance: _Provenance,
    seen_urns: dict[str, str],
    log: ProblemLog,
) -> ImportedMappingSet | None:
    urn = log.text(obj, "urn", path, required=True)
    name = log.text(obj, "name", path) or log.text(obj, "ref_id", path)
    source_framework = log.text(obj, "source_framework_urn", path, required=True)
    target_framework = log.text(obj, "target_framework_urn", path, required=True)
    entries_path = join_path(path, "requirement_mappings")
    if "requirement_mappings" not in obj:
        log.add(entries_path, Code.MISSING, "requirement_mappings is required")
    items = log.items(obj.get("requirement_mappings", []), entries_path) or []
    mappings: list[ImportedMapping] = []
    for index, item in enumerate(items):
        entry_path = join_path(entries_path, index)
        entry = log.mapping(item, entry_path)
        if entry is None:
            continue
        frameworks = (source_framework, target_framework)
        mapping = _read_mapping(entry, entry_path, frameworks, resolver, provenance, log)
        if mapping is not None:
            mappings.append(mapping)
    if urn is None or source_framework is None or target_framework is None:
        return None
    if not _claim(urn, path, seen_urns, log):
        return None
    return ImportedMappingSet(
        urn=urn,
        name=name or urn,
        source_framework_urn=source_framework,
        target_framework_urn=target_framework,
        mappings=tuple(mappings),
        counts_by_relationship=count_relationships(mappings),
    )


def _read_mapping(
    entry: Mapping[str, object],
    path: str,
    frameworks: tuple[str | None, str | None],
    resolver: _Resolver,
    provenance: _Provenance,
    log: ProblemLog,
) -> ImportedMapping | None:
    source_urn = log.text(entry, "source_requirement_urn", path, required=True)
    target_urn = log.text(entry, "target_requirement_urn", path, required=True)
    source_key = _resolve(resolver, source_urn, frameworks[0], path, "source_requirement_urn")
    target_key = _resolve(resolver, target_urn, frameworks[1], path, "target_requirement_urn")
    relationship = log.token(
        entry, "relationship", path, RELATIONSHIPS, Code.UNKNOWN_RELATIONSHIP, required=True
    )
    rationale = log.token(entry, "rationale", path, _RATIONALES, Code.UNKNOWN_RATIONALE)
    strength = log.integer(entry, "strength_of_relationship", path)
    if strength is not None and strength not in _STRENGTH:
        message = f"strength_of_relationship must be 0-10, got {strength}"
        log.add(join_path(path, "strength_of_relationship"), Code.STRENGTH_OUT_OF_RANGE, message)
    if (
        source_urn is None
        or target_urn is None
        or source_key is None
        or target_key is None
        or relationship is None
    ):
        return None
    return ImportedMapping(
        source_urn=source_urn,
        target_urn=target_urn,
        source_key=source_key,
        target_key=target_key,
        relationship=relationship,
        rationale=rationale,
        strength=strength,
        method=provenance.method,
        status=provenance.status,
        author=provenance.author,
        source_document=provenance.document,
    )


def _resolve(
    resolver: _Resolver, urn: str | None, framework: str | None, path: str, field: str
) -> str | None:
    if urn is None or framework is None:
        return None
    return resolver.key(urn, framework, join_path(path, field))
