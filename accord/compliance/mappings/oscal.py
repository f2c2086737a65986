"""OSCAL 1.2 mapping collections (the ``oscal_mapping`` model), read and written.

OSCAL, like NIST IR 8477 and Accord, states a relationship of the source relative to the
target, so tokens translate without flipping: ``equivalent-to`` and ``equal-to`` → equal,
``subset-of`` → subset, ``superset-of`` → superset, ``intersects-with`` → intersects,
``no-relationship`` → no_relationship; export writes ``equal-to`` for equal.

Provenance: ``complete`` reads as approved; ``draft``, ``not-complete``, ``deprecated`` and
``superseded`` read as draft, since importing never approves a withdrawn mapping. The
OSCAL 1.2.0 metaschema lists only ``human`` and ``automation`` as methods: ``hybrid`` is
read when present and written as ``human`` plus an Accord prop, keeping the document valid.

OSCAL has no field for Accord's urns, strength or author; they travel as props in
`ACCORD_NS`, and collections from elsewhere get ``<href>#<id-ref>`` urns instead.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import astuple, dataclass
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import TypeVar

from accord.compliance.mappings.types import (
    ImportedMapping,
    ImportedMappingSet,
    ImportProblemCode,
    LibraryFormatError,
    ProblemLog,
    count_relationships,
    join_path,
    load_document,
)
from accord.compliance.vocab import (
    ClauseKey,
    MappingMethod,
    MappingStatus,
    Rationale,
    Relationship,
    is_standard_id,
)

Code = ImportProblemCode
ACCORD_NS = "urn:accord:ns:oscal"
OSCAL_NS = "http://csrc.nist.gov/ns/oscal"
OSCAL_VERSION = "1.2.0"
_ROOT = "mapping-collection"
_UUIDS = uuid.uuid5(uuid.NAMESPACE_URL, ACCORD_NS)

RELATIONSHIPS: Mapping[str, Relationship] = {
    "equivalent-to": Relationship.EQUAL,
    "equal-to": Relationship.EQUAL,
    "subset-of": Relationship.SUBSET,
    "superset-of": Relationship.SUPERSET,
    "intersects-with": Relationship.INTERSECTS,
    "no-relationship": Relationship.NO_RELATIONSHIP,
}
_EXPORT_RELATIONSHIPS = {
    Relationship.EQUAL: "equal-to",
    Relationship.SUBSET: "subset-of",
    Relationship.SUPERSET: "superset-of",
    Relationship.INTERSECTS: "intersects-with",
    Relationship.NO_RELATIONSHIP: "no-relationship",
}
_METHODS = {method.value: method for method in MappingMethod}
_RATIONALES = {rationale.value: rationale for rationale in Rationale}
_STATUSES = {
    "complete": MappingStatus.APPROVED,
    "draft": MappingStatus.DRAFT,
    "not-complete": MappingStatus.DRAFT,
    "deprecated": MappingStatus.DRAFT,
    "superseded": MappingStatus.DRAFT,
}
_EXPORT_STATUSES = {MappingStatus.APPROVED: "complete", MappingStatus.DRAFT: "draft"}
_ITEM_TYPES = ("control", "statement")
_UNSPECIFIED = "unspecified"
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Scope:
    """Provenance flags; a mapping's flags override the collection's, a map's its mapping's."""

    method: MappingMethod | None
    rationale: Rationale | None
    status: MappingStatus | None


@dataclass(frozen=True, slots=True)
class _Side:
    href: str
    standard: str | None
    framework_urn: str


def parse_mapping_collection(
    data: Mapping[str, object] | str | Path,
    *,
    source_standard: str | None = None,
    target_standard: str | None = None,
) -> ImportedMappingSet:
    """Read a collection; ``*_standard`` name the Accord standards its id-refs belong to.

    Without them the standard ids come from Accord props on the source and target
    resources, which `export_mapping_collection` writes.
    """
    raw, log = load_document(data), ProblemLog()
    root = log.mapping(raw.get(_ROOT), _ROOT)
    if root is None:
        raise LibraryFormatError(log.problems)
    collection_uuid = log.text(root, "uuid", _ROOT, required=True) or ""
    metadata = log.mapping(root.get("metadata"), join_path(_ROOT, "metadata")) or {}
    title = log.text(metadata, "title", join_path(_ROOT, "metadata"), required=True)
    provenance_path = join_path(_ROOT, "provenance")
    provenance = log.mapping(root.get("provenance"), provenance_path) or {}
    log.text(provenance, "mapping-description", provenance_path, required=True)
    scope = _read_scope(provenance, provenance_path, _Scope(None, None, None), log, required=True)
    overrides = {"source": source_standard, "target": target_standard}
    for side, standard in overrides.items():
        if standard is not None and not is_standard_id(standard):
            log.add(f"{side}_standard", Code.NO_STANDARD_ID, f"{standard!r} is not a standard id")

    mappings_path = join_path(_ROOT, "mappings")
    entries = log.items(root.get("mappings"), mappings_path) or []
    if not entries:
        log.add(mappings_path, Code.MISSING, "at least one mapping is required")
    sides: dict[str, _Side] = {}
    result: list[ImportedMapping] = []
    for index, item in enumerate(entries):
        path = join_path(mappings_path, index)
        entry = log.mapping(item, path)
        if entry is None:
            continue
        mapping_scope = _read_scope(entry, path, scope, log, required=False)
        for side in ("source", "target"):
            found = _read_side(entry, path, side, overrides[side], log)
            if found is None:
                continue
            if sides.setdefault(side, found) != found:
                message = f"{side}-resource differs from the first mapping's"
                log.add(join_path(path, f"{side}-resource"), Code.MIXED_RESOURCES, message)
        if "source" in sides and "target" in sides:
            document = f"urn:uuid:{collection_uuid}"
            context = (sides["source"], sides["target"], document)
            result.extend(_read_maps(entry, path, mapping_scope, context, log))

    log.raise_if_any()
    return ImportedMappingSet(
        urn=_accord_props(metadata).get("mapping-set-urn") or f"urn:uuid:{collection_uuid}",
        name=_accord_props(metadata).get("mapping-set-name") or title or collection_uuid,
        source_framework_urn=sides["source"].framework_urn,
        target_framework_urn=sides["target"].framework_urn,
        mappings=tuple(result),
        counts_by_relationship=count_relationships(result),
    )


def _read_scope(
    obj: Mapping[str, object], path: str, outer: _Scope, log: ProblemLog, *, required: bool
) -> _Scope:
    method = log.token(obj, "method", path, _METHODS, Code.UNKNOWN_METHOD, required=required)
    if _accord_props(obj).get("mapping-method") == MappingMethod.HYBRID.value:
        method = MappingMethod.HYBRID
    rationale = log.token(
        obj, "matching-rationale", path, _RATIONALES, Code.UNKNOWN_RATIONALE, required=required
    )
    status = log.token(obj, "status", path, _STATUSES, Code.UNKNOWN_STATUS, required=required)
    return _Scope(
        method=method or outer.method,
        rationale=rationale or outer.rationale,
        status=status or outer.status,
    )


def _read_side(
    entry: Mapping[str, object], path: str, side: str, standard: str | None, log: ProblemLog
) -> _Side | None:
    side_path = join_path(path, f"{side}-resource")
    resource = log.mapping(entry.get(f"{side}-resource"), side_path)
    if resource is None:
        return None
    href = log.text(resource, "href", side_path, required=True)
    props = _accord_props(resource)
    standard = standard or props.get("standard-id")
    if standard is None:
        message = f"pass {side}_standard: the {side} catalog's Accord standard is not recorded"
        log.add(side_path, Code.NO_STANDARD_ID, message)
    if href is None:
        return None
    return _Side(href=href, standard=standard, framework_urn=props.get("framework-urn") or href)


def _read_maps(
    entry: Mapping[str, object],
    path: str,
    scope: _Scope,
    context: tuple[_Side, _Side, str],
    log: ProblemLog,
) -> list[ImportedMapping]:
    maps_path = join_path(path, "maps")
    items = log.items(entry.get("maps"), maps_path) or []
    if not items:
        log.add(maps_path, Code.MISSING, "at least one map is required")
    found: list[ImportedMapping] = []
    for index, item in enumerate(items):
        map_path = join_path(maps_path, index)
        obj = log.mapping(item, map_path)
        mapping = None if obj is None else _read_map(obj, map_path, scope, context, log)
        if mapping is not None:
            found.append(mapping)
    return found


def _read_map(
    obj: Mapping[str, object],
    path: str,
    scope: _Scope,
    context: tuple[_Side, _Side, str],
    log: ProblemLog,
) -> ImportedMapping | None:
    source_side, target_side, document = context
    ns = obj.get("ns", OSCAL_NS)
    if ns != OSCAL_NS:
        message = f"relationship tokens of namespace {ns!r} have no known meaning"
        log.add(join_path(path, "ns"), Code.UNKNOWN_RELATIONSHIP, message)
    relationship = log.token(
        obj, "relationship", path, RELATIONSHIPS, Code.UNKNOWN_RELATIONSHIP, required=True
    )
    scope = _read_scope(obj, path, scope, log, required=False)
    props = _accord_props(obj)
    rationale = None if props.get("matching-rationale") == _UNSPECIFIED else scope.rationale
    strength = _strength(obj, path, log)
    source = _endpoint(obj, path, "sources", source_side, props.get("source-urn"), log)
    target = _endpoint(obj, path, "targets", target_side, props.get("target-urn"), log)
    if source is None or target is None or relationship is None:
        return None
    if scope.method is None or scope.status is None:
        return None
    return ImportedMapping(
        source_urn=source[0],
        target_urn=target[0],
        source_key=source[1],
        target_key=target[1],
        relationship=relationship,
        rationale=rationale,
        strength=strength,
        method=scope.method,
        status=scope.status,
        author=props.get("author"),
        source_document=props.get("source-document") or document,
    )


def _endpoint(
    obj: Mapping[str, object],
    path: str,
    field: str,
    side: _Side,
    urn: str | None,
    log: ProblemLog,
) -> tuple[str, str] | None:
    """The (urn, clause key) of a map's only source or target."""
    items = log.items(obj.get(field), join_path(path, field)) or []
    if len(items) != 1:
        # Splitting n:m maps into pairs is unsound: {a, b} ⊇ c says nothing of a ⊇ c.
        message = f"Accord maps one clause to one clause; {field} has {len(items)} items"
        log.add(join_path(path, field), Code.UNSUPPORTED_CARDINALITY, message)
        return None
    item_path = join_path(join_path(path, field), 0)
    item = log.mapping(items[0], item_path)
    if item is None:
        return None
    kind = log.text(item, "type", item_path, required=True)
    if kind is not None and kind not in _ITEM_TYPES:
        log.add(join_path(item_path, "type"), Code.WRONG_TYPE, f"{kind!r} is not control/statement")
    id_ref = log.text(item, "id-ref", item_path, required=True)
    if id_ref is None or side.standard is None:
        return None
    try:
        key = str(ClauseKey.parse(f"{side.standard}/{id_ref}"))
    except ValueError as exc:
        log.add(join_path(item_path, "id-ref"), Code.INVALID_CLAUSE_KEY, str(exc))
        return None
    return urn or f"{side.href}#{id_ref}", key


def _strength(obj: Mapping[str, object], path: str, log: ProblemLog) -> int | None:
    # IR 8477 strength has no OSCAL field; any namespace's `strength` prop is accepted.
    for index, prop in enumerate(_prop_list(obj)):
        if prop.get("name") == "strength":
            value = prop.get("value")
            if isinstance(value, str) and value.isdigit() and int(value) in range(11):
                return int(value)
            prop_path = join_path(join_path(path, "props"), index)
            message = f"strength must be 0-10, got {value!r}"
            log.add(prop_path, Code.STRENGTH_OUT_OF_RANGE, message)
    return None


def _prop_list(obj: Mapping[str, object]) -> list[Mapping[str, object]]:
    props = obj.get("props")
    if not isinstance(props, list):
        return []
    return [prop for prop in props if isinstance(prop, Mapping)]


def _accord_props(obj: Mapping[str, object]) -> dict[str, str]:
    return {
        str(prop["name"]): str(prop["value"])
        for prop in _prop_list(obj)
        if prop.get("ns") == ACCORD_NS and "name" in prop and "value" in prop
    }


def export_mapping_collection(
    mapping_set: ImportedMappingSet,
    *,
    title: str,
    source_href: str,
    target_href: str,
    now: datetime,
) -> dict[str, object]:
    """An OSCAL 1.2 ``mapping-collection`` document for one mapping set.

    Mapping and map uuids derive from urns, so they stay the same across re-exports as
    OSCAL asks ("per-subject"); the collection uuid and version also cover the content,
    because OSCAL asks for a new collection uuid whenever the document is revised.
    """
    if now.tzinfo is None:
        raise ValueError("OSCAL timestamps need a time zone; pass an aware datetime")
    mappings = mapping_set.mappings
    if not mappings:
        raise ValueError("an OSCAL mapping collection needs at least one map")
    for side in ("source", "target"):
        standards = {ClauseKey.parse(getattr(m, f"{side}_key")).standard for m in mappings}
        if len(standards) != 1:
            # One OSCAL resource is one catalog, so every key on a side needs one standard.
            raise ValueError(f"{side} keys span several standards: {sorted(standards)}")
    digest = _digest(mapping_set)
    # The collection must name one rationale; maps state their own, so any choice is safe.
    rationales = [m.rationale for m in mappings if m.rationale is not None] or [Rationale.SEMANTIC]
    provenance = {
        "method": _export_method(_most_common(m.method for m in mappings)),
        "matching-rationale": _most_common(rationales).value,
        "status": _EXPORT_STATUSES[_most_common(m.status for m in mappings)],
        "mapping-description": mapping_set.name,
    }
    runs = groupby(mappings, key=lambda m: (m.method, m.status))
    used: Counter[str] = Counter()
    hrefs = (source_href, target_href)
    entries = [
        _export_mapping(mapping_set, index, provenance_key, list(run), used, hrefs)
        for index, (provenance_key, run) in enumerate(runs)
    ]
    return {
        _ROOT: {
            "uuid": str(uuid.uuid5(_UUIDS, f"{mapping_set.urn}#{digest}")),
            "metadata": {
                "title": title,
                "last-modified": now.isoformat(),
                "version": f"sha256-{digest[:16]}",
                "oscal-version": OSCAL_VERSION,
                "props": [
                    _prop("mapping-set-urn", mapping_set.urn),
                    _prop("mapping-set-name", mapping_set.name),
                ],
            },
            "provenance": provenance,
            "mappings": entries,
        }
    }


def _export_mapping(
    mapping_set: ImportedMappingSet,
    index: int,
    provenance: tuple[MappingMethod, MappingStatus],
    run: list[ImportedMapping],
    used: Counter[str],
    hrefs: tuple[str, str],
) -> dict[str, object]:
    # Consecutive mappings sharing method and status form one OSCAL mapping, which keeps
    # the order of maps and so makes export then parse give back the same tuple.
    method, status = provenance
    entry: dict[str, object] = {
        "uuid": str(uuid.uuid5(_UUIDS, f"{mapping_set.urn}#mapping-{index}-{method}-{status}")),
        "method": _export_method(method),
        "status": _EXPORT_STATUSES[status],
        "source-resource": _resource(hrefs[0], run[0].source_key, mapping_set.source_framework_urn),
        "target-resource": _resource(hrefs[1], run[0].target_key, mapping_set.target_framework_urn),
        "maps": [_export_map(mapping_set, mapping, used) for mapping in run],
    }
    if method is MappingMethod.HYBRID:
        entry["props"] = [_prop("mapping-method", method.value)]
    return entry


def _export_map(
    mapping_set: ImportedMappingSet, mapping: ImportedMapping, used: Counter[str]
) -> dict[str, object]:
    subject = f"{mapping_set.urn}#{mapping.source_urn}|{mapping.target_urn}|{mapping.relationship}"
    used[subject] += 1
    # Libraries do repeat a pair (the NIST CSF → ISO 27001 set lists GV.OC-03 → 4.2 twice).
    if used[subject] > 1:
        subject = f"{subject}|{used[subject]}"
    props = [
        _prop("source-urn", mapping.source_urn),
        _prop("target-urn", mapping.target_urn),
        _prop("source-document", mapping.source_document),
    ]
    if mapping.author is not None:
        props.append(_prop("author", mapping.author))
    if mapping.strength is not None:
        props.append(_prop("strength", str(mapping.strength)))
    entry: dict[str, object] = {
        "uuid": str(uuid.uuid5(_UUIDS, subject)),
        "relationship": _EXPORT_RELATIONSHIPS[mapping.relationship],
    }
    if mapping.rationale is not None:
        entry["matching-rationale"] = mapping.rationale.value
    else:
        # Without this, the collection's required matching-rationale would be inherited.
        props.append(_prop("matching-rationale", _UNSPECIFIED))
    entry["sources"] = [{"type": "control", "id-ref": ClauseKey.parse(mapping.source_key).number}]
    entry["targets"] = [{"type": "control", "id-ref": ClauseKey.parse(mapping.target_key).number}]
    entry["props"] = props
    return entry


def _resource(href: str, key: str, framework_urn: str) -> dict[str, object]:
    return {
        "type": "catalog",
        "href": href,
        "props": [
            _prop("standard-id", ClauseKey.parse(key).standard),
            _prop("framework-urn", framework_urn),
        ],
    }


def _prop(name: str, value: str) -> dict[str, str]:
    return {"name": name, "ns": ACCORD_NS, "value": value.strip()}


def _export_method(method: MappingMethod) -> str:
    return MappingMethod.HUMAN.value if method is MappingMethod.HYBRID else method.value


def _most_common(values: Iterable[_T]) -> _T:
    return Counter(values).most_common(1)[0][0]


def _digest(mapping_set: ImportedMappingSet) -> str:
    rows = [astuple(mapping) for mapping in mapping_set.mappings]
    canonical = json.dumps([mapping_set.urn, rows], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
