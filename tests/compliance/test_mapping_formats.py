"""CISO Assistant libraries and OSCAL mapping collections, read from the real fixtures."""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from accord.compliance.mappings.ciso_assistant import parse_library
from accord.compliance.mappings.oscal import export_mapping_collection, parse_mapping_collection
from accord.compliance.mappings.types import (
    ImportedFramework,
    ImportedMapping,
    ImportedMappingSet,
    LibraryFormatError,
    count_relationships,
    ref_id_from_urn_tail,
)
from accord.compliance.vocab import (
    ClauseKey,
    MappingMethod,
    MappingStatus,
    Rationale,
    Relationship,
)

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "ciso-assistant"
MAPPING_FILE = FIXTURES / "mapping-nist-csf-2.0-to-iso27001-2022.yaml"
FRAMEWORK_FILES = {
    "iso27001-2022.yaml": "iso27001:2022",
    "iso22301-2019.yaml": "iso22301:2019",
    "nist-csf-2.0.yaml": "nist-csf-2-0:2024",
}
# Written out here rather than imported, so the test checks the reader's table.
CISO_TO_ACCORD = {
    "equal": "equal",
    "subset": "subset",
    "superset": "superset",
    "intersect": "intersects",
    "not_related": "no_relationship",
}
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _load(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def frameworks() -> dict[str, ImportedFramework]:
    found: dict[str, ImportedFramework] = {}
    for name in FRAMEWORK_FILES:
        for framework in parse_library(FIXTURES / name).frameworks:
            found[framework.urn] = framework
    return found


def test_every_mapping_is_read_with_relationships_translated() -> None:
    raw_sets = _load(MAPPING_FILE)["objects"]["requirement_mapping_sets"]
    library = parse_library(MAPPING_FILE)

    assert [s.urn for s in library.mapping_sets] == [s["urn"] for s in raw_sets]
    for raw, parsed in zip(raw_sets, library.mapping_sets, strict=True):
        tokens = Counter(entry["relationship"] for entry in raw["requirement_mappings"])
        expected = {CISO_TO_ACCORD[token]: n for token, n in tokens.items()}
        assert len(parsed.mappings) == len(raw["requirement_mappings"])
        assert parsed.counts_by_relationship == expected
        assert count_relationships(parsed.mappings) == expected
        pairs = [
            (e["source_requirement_urn"], e["target_requirement_urn"])
            for e in raw["requirement_mappings"]
        ]
        assert [(m.source_urn, m.target_urn) for m in parsed.mappings] == pairs
        assert (parsed.source_framework_urn, parsed.target_framework_urn) == (
            raw["source_framework_urn"],
            raw["target_framework_urn"],
        )


@pytest.mark.parametrize(("file_name", "standard_id"), FRAMEWORK_FILES.items())
def test_framework_requirements_and_parent_tree(file_name: str, standard_id: str) -> None:
    raw_nodes = _load(FIXTURES / file_name)["objects"]["framework"]["requirement_nodes"]
    (framework,) = parse_library(FIXTURES / file_name).frameworks

    assert framework.standard_id == standard_id
    assert len(framework.requirements) == len(raw_nodes)
    assert [r.urn for r in framework.requirements] == [n["urn"] for n in raw_nodes]
    assert [r.position for r in framework.requirements] == list(range(len(raw_nodes)))
    assert sum(r.assessable for r in framework.requirements) == sum(
        bool(n["assessable"]) for n in raw_nodes
    )
    by_urn = {r.urn: r for r in framework.requirements}
    for requirement in framework.requirements:
        if requirement.parent_urn is None:
            assert requirement.depth == 1
            continue
        parent = by_urn[requirement.parent_urn]
        assert parent.depth is not None
        assert requirement.depth == parent.depth + 1
    keys = {framework.clause_key(r) for r in framework.requirements}
    assert len(keys) == len(raw_nodes)
    assert all(ClauseKey.parse(key).standard == standard_id for key in keys)


def test_urn_tails_derive_the_files_ref_ids(frameworks: dict[str, ImportedFramework]) -> None:
    for framework in frameworks.values():
        for requirement in framework.requirements:
            assert ref_id_from_urn_tail(requirement.urn.rsplit(":", 1)[-1]) == requirement.ref_id
    nist = frameworks["urn:intuitem:risk:framework:nist-csf-2.0"]
    assert nist.requirements[2].ref_id == "GV.OC-01"


def test_mapping_resolves_against_known_frameworks(
    frameworks: dict[str, ImportedFramework],
) -> None:
    resolved = parse_library(MAPPING_FILE, known_frameworks=frameworks)
    derived = parse_library(MAPPING_FILE)

    key_of = {r.urn: fw.clause_key(r) for fw in frameworks.values() for r in fw.requirements}
    for mapping_set in resolved.mapping_sets:
        for mapping in mapping_set.mappings:
            assert mapping.source_key == key_of[mapping.source_urn]
            assert mapping.target_key == key_of[mapping.target_urn]
    assert resolved.mapping_sets == derived.mapping_sets
    first = resolved.mapping_sets[0].mappings[0]
    assert (first.source_key, first.target_key) == (
        "nist-csf-2-0:2024/GV.OC-01",
        "iso27001:2022/4.1",
    )
    assert (first.method, first.status, first.author) == (
        MappingMethod.HUMAN,
        MappingStatus.DRAFT,
        "NIST",
    )


def test_unloaded_frameworks_fail_once_naming_the_library_to_import() -> None:
    with pytest.raises(LibraryFormatError) as caught:
        parse_library(MAPPING_FILE, known_frameworks={})

    problems = caught.value.problems
    # One problem per missing framework, not one per mapping endpoint.
    assert {p.code for p in problems} == {"framework_not_loaded"}
    messages = sorted(p.message for p in problems)
    assert len(messages) == 2
    assert "framework urn:intuitem:risk:framework:iso27001-2022 " in messages[0]
    assert "urn:intuitem:risk:library:iso27001-2022" in messages[0]
    assert "framework urn:intuitem:risk:framework:nist-csf-2.0 " in messages[1]
    assert "urn:intuitem:risk:library:nist-csf-2.0" in messages[1]


def test_singular_and_plural_keys_read_the_same(frameworks: dict[str, ImportedFramework]) -> None:
    raw_mapping = _load(MAPPING_FILE)
    plural = parse_library(raw_mapping, known_frameworks=frameworks)
    for index, raw_set in enumerate(raw_mapping["objects"]["requirement_mapping_sets"]):
        singular = copy.deepcopy(raw_mapping)
        singular["objects"] = {"requirement_mapping_set": raw_set}
        parsed = parse_library(singular, known_frameworks=frameworks)
        assert parsed.mapping_sets == (plural.mapping_sets[index],)

    for file_name in FRAMEWORK_FILES:
        raw = _load(FIXTURES / file_name)
        as_plural = copy.deepcopy(raw)
        as_plural["objects"] = {"frameworks": [raw["objects"]["framework"]]}
        assert parse_library(as_plural).frameworks == parse_library(raw).frameworks


def _node(tail: str, **fields: object) -> dict[str, object]:
    return {"urn": f"urn:intuitem:risk:req_node:demo-2020:{tail}", "ref_id": tail, **fields}


def test_malformed_library_reports_every_problem_with_its_path() -> None:
    nodes = "objects.frameworks[0].requirement_nodes"
    entries = "objects.requirement_mapping_sets[0].requirement_mappings"
    library: dict[str, object] = {
        "urn": "urn:intuitem:risk:library:demo",
        "name": "Demo",
        "version": 1,
        "objects": {
            "frameworks": [
                {
                    "urn": "urn:intuitem:risk:framework:demo-2020",
                    "name": "Demo 2020",
                    "requirement_nodes": [
                        _node("1", assessable=False, depth=1),
                        {"ref_id": "1.1", "name": "no urn"},
                        _node("1.2", depth="two", assessable="yes"),
                        _node("2", parent_urn="urn:intuitem:risk:req_node:demo-2020:3"),
                        _node("3", parent_urn="urn:intuitem:risk:req_node:demo-2020:2"),
                        _node("4", parent_urn="urn:intuitem:risk:req_node:demo-2020:9"),
                        _node("1"),
                        {"urn": 42},
                    ],
                }
            ],
            "requirement_mapping_sets": [
                {
                    "urn": "urn:intuitem:risk:req_mapping_set:demo-to-demo",
                    "source_framework_urn": "urn:intuitem:risk:framework:demo-2020",
                    "target_framework_urn": "urn:intuitem:risk:framework:demo-2020",
                    "requirement_mappings": [
                        {
                            "source_requirement_urn": "urn:intuitem:risk:req_node:demo-2020:1",
                            "target_requirement_urn": "urn:intuitem:risk:req_node:demo-2020:1.2",
                            "relationship": "overlaps",
                        },
                        {
                            "source_requirement_urn": "urn:intuitem:risk:req_node:demo-2020:1",
                            "target_requirement_urn": "urn:intuitem:risk:req_node:demo-2020:4",
                            "relationship": "subset",
                            "strength_of_relationship": 11,
                            "rationale": "vibes",
                        },
                        {
                            "source_requirement_urn": "urn:intuitem:risk:req_node:demo-2020:7",
                            "target_requirement_urn": "urn:intuitem:risk:req_node:demo-2020:1",
                            "relationship": "equal",
                        },
                    ],
                }
            ],
        },
    }
    with pytest.raises(LibraryFormatError) as caught:
        parse_library(library)

    found = {(p.path, p.code) for p in caught.value.problems}
    assert found == {
        (f"{nodes}[1].urn", "missing"),
        (f"{nodes}[2].depth", "wrong_type"),
        (f"{nodes}[2].assessable", "wrong_type"),
        (f"{nodes}[3].parent_urn", "parent_cycle"),
        (f"{nodes}[5].parent_urn", "unknown_parent"),
        (f"{nodes}[6].urn", "duplicate_urn"),
        (f"{nodes}[7].urn", "wrong_type"),
        (f"{entries}[0].relationship", "unknown_relationship"),
        (f"{entries}[1].strength_of_relationship", "strength_out_of_range"),
        (f"{entries}[1].rationale", "unknown_rationale"),
        (f"{entries}[2].source_requirement_urn", "unknown_requirement"),
    }
    assert len(caught.value.problems) == len(found)
    assert "demo-2020:2 -> urn:intuitem:risk:req_node:demo-2020:3" in str(caught.value)


def test_framework_without_edition_year_needs_one() -> None:
    raw = _load(FIXTURES / "nist-csf-2.0.yaml")
    raw["objects"]["framework"]["urn"] = "urn:intuitem:risk:framework:acme-controls-3.1"
    with pytest.raises(LibraryFormatError) as caught:
        parse_library(raw)
    assert [(p.path, p.code) for p in caught.value.problems] == [
        ("objects.framework.urn", "no_standard_id")
    ]
    (framework,) = parse_library(raw, edition_years={"acme-controls-3.1": 2023}).frameworks
    assert framework.standard_id == "acme-controls-3-1:2023"


def _export(mapping_set: ImportedMappingSet, now: datetime = NOW) -> dict[str, object]:
    return export_mapping_collection(
        mapping_set,
        title="NIST CSF 2.0 to ISO/IEC 27001:2022",
        source_href="https://example.org/nist-csf-2.0.json",
        target_href="https://example.org/iso27001-2022.json",
        now=now,
    )


def _maps(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    collection = document["mapping-collection"]
    return [m for mapping in collection["mappings"] for m in mapping["maps"]]


def test_oscal_export_then_parse_gives_the_fixture_mappings_back(
    frameworks: dict[str, ImportedFramework],
) -> None:
    for mapping_set in parse_library(MAPPING_FILE, known_frameworks=frameworks).mapping_sets:
        document = _export(mapping_set)
        collection = json.loads(json.dumps(document))["mapping-collection"]

        assert set(collection) == {"uuid", "metadata", "provenance", "mappings"}
        assert {"title", "last-modified", "version", "oscal-version"} <= set(collection["metadata"])
        assert set(collection["provenance"]) == {
            "method",
            "matching-rationale",
            "status",
            "mapping-description",
        }
        for mapping in collection["mappings"]:
            assert {"uuid", "source-resource", "target-resource", "maps"} <= set(mapping)
        maps = _maps(document)
        assert {m["relationship"] for m in maps} == {"intersects-with"}
        assert len({m["uuid"] for m in maps}) == len(maps) == len(mapping_set.mappings)

        back = parse_mapping_collection(document)
        assert back == mapping_set
        later = _export(back, now=NOW + timedelta(days=30))
        assert later["mapping-collection"]["uuid"] == collection["uuid"]  # type: ignore[index]
        assert _maps(later) == maps


def _mapping(relationship: Relationship, **changes: Any) -> ImportedMapping:
    fields: dict[str, Any] = {
        "source_urn": f"urn:demo:src:{relationship.value}",
        "target_urn": f"urn:demo:tgt:{relationship.value}",
        "source_key": "iso9001:2015/9.2",
        "target_key": "iso14001:2015/9.2.1",
        "relationship": relationship,
        "rationale": Rationale.SEMANTIC,
        "strength": None,
        "method": MappingMethod.HUMAN,
        "status": MappingStatus.APPROVED,
        "author": None,
        "source_document": "urn:demo:document",
    }
    return ImportedMapping(**{**fields, **changes})


def test_oscal_round_trip_keeps_every_field() -> None:
    mappings = (
        _mapping(Relationship.EQUAL, strength=10, author="Quality team"),
        _mapping(Relationship.SUBSET, rationale=None, method=MappingMethod.HYBRID),
        _mapping(Relationship.SUPERSET, rationale=Rationale.FUNCTIONAL, strength=0),
        _mapping(Relationship.INTERSECTS, status=MappingStatus.DRAFT),
        _mapping(Relationship.NO_RELATIONSHIP, method=MappingMethod.AUTOMATION),
    )
    mapping_set = ImportedMappingSet(
        urn="urn:demo:set",
        name="ISO 9001 to ISO 14001",
        source_framework_urn="urn:demo:iso9001",
        target_framework_urn="urn:demo:iso14001",
        mappings=mappings,
        counts_by_relationship=count_relationships(mappings),
    )
    document = _export(mapping_set, now=datetime(2026, 3, 1, tzinfo=timezone(timedelta(hours=2))))

    assert parse_mapping_collection(document) == mapping_set
    assert [m["relationship"] for m in _maps(document)] == [
        "equal-to",
        "subset-of",
        "superset-of",
        "intersects-with",
        "no-relationship",
    ]
    methods = [m["method"] for m in document["mapping-collection"]["mappings"]]  # type: ignore[index]
    assert set(methods) <= {"human", "automation"}
    with pytest.raises(ValueError, match="time zone"):
        _export(mapping_set, now=datetime(2026, 3, 1))


def _collection(maps: list[dict[str, Any]], **provenance: str) -> dict[str, Any]:
    return {
        "mapping-collection": {
            "uuid": "6f1c2a52-5d8b-4f7e-9b1a-0c2d3e4f5a6b",
            "metadata": {
                "title": "Handcrafted",
                "last-modified": "2026-03-01T00:00:00Z",
                "version": "1",
                "oscal-version": "1.2.0",
            },
            "provenance": {
                "method": "human",
                "matching-rationale": "semantic",
                "status": "complete",
                "mapping-description": "Every relationship token once.",
                **provenance,
            },
            "mappings": [
                {
                    "uuid": "0b6a0c1e-8c1f-4b43-a1f6-7d7c35d0f0a1",
                    "source-resource": {"type": "catalog", "href": "sp800-53.json"},
                    "target-resource": {"type": "catalog", "href": "iso27001.json"},
                    "maps": maps,
                }
            ],
        }
    }


def _map(relationship: str, source: str, target: str, **extra: Any) -> dict[str, Any]:
    return {
        "uuid": f"00000000-0000-4000-8000-{len(source + target):012d}",
        "relationship": relationship,
        "sources": [{"type": "control", "id-ref": source}],
        "targets": [{"type": "control", "id-ref": target}],
        **extra,
    }


def test_oscal_parse_reads_each_relationship_token() -> None:
    tokens = {
        "equivalent-to": Relationship.EQUAL,
        "equal-to": Relationship.EQUAL,
        "subset-of": Relationship.SUBSET,
        "superset-of": Relationship.SUPERSET,
        "intersects-with": Relationship.INTERSECTS,
        "no-relationship": Relationship.NO_RELATIONSHIP,
    }
    maps = [_map(token, "ac-1", "A.5.1") for token in tokens]
    maps[2]["matching-rationale"] = "syntactic"
    maps[3]["props"] = [{"name": "strength", "value": "7"}]
    parsed = parse_mapping_collection(
        _collection(maps), source_standard="sp800-53:2020", target_standard="iso27001:2022"
    )

    assert [m.relationship for m in parsed.mappings] == list(tokens.values())
    assert parsed.counts_by_relationship == {
        "equal": 2,
        "subset": 1,
        "superset": 1,
        "intersects": 1,
        "no_relationship": 1,
    }
    assert [m.rationale for m in parsed.mappings][1:4] == [
        Rationale.SEMANTIC,
        Rationale.SYNTACTIC,
        Rationale.SEMANTIC,
    ]
    assert [m.strength for m in parsed.mappings][2:4] == [None, 7]
    first = parsed.mappings[0]
    assert (first.source_key, first.target_key) == ("sp800-53:2020/ac-1", "iso27001:2022/A.5.1")
    assert (first.source_urn, first.target_urn) == ("sp800-53.json#ac-1", "iso27001.json#A.5.1")
    assert (first.method, first.status) == (MappingMethod.HUMAN, MappingStatus.APPROVED)
    assert parsed.urn == "urn:uuid:6f1c2a52-5d8b-4f7e-9b1a-0c2d3e4f5a6b"
    assert parsed.source_framework_urn == "sp800-53.json"

    superseded = _collection([_map("equal-to", "ac-1", "A.5.1")], status="superseded")
    parsed = parse_mapping_collection(
        superseded, source_standard="sp800-53:2020", target_standard="iso27001:2022"
    )
    assert parsed.mappings[0].status is MappingStatus.DRAFT


def test_oscal_parse_reports_every_problem() -> None:
    maps = [
        _map("overlaps-with", "ac-1", "A.5.1"),
        {
            **_map("subset-of", "ac-2", "A.5.2"),
            "targets": [
                {"type": "control", "id-ref": "A.5.2"},
                {"type": "control", "id-ref": "A.5.3"},
            ],
        },
        _map("equal-to", "ac-3", "A.5.3", props=[{"name": "strength", "value": "11"}]),
        _map("equal-to", "ac-4", "A 5 4"),
    ]
    document = _collection(maps, method="telepathy")
    del document["mapping-collection"]["provenance"]["mapping-description"]

    with pytest.raises(LibraryFormatError) as caught:
        parse_mapping_collection(
            document, source_standard="sp800-53:2020", target_standard="iso27001:2022"
        )

    base = "mapping-collection.mappings[0].maps"
    assert {(p.path, p.code) for p in caught.value.problems} == {
        ("mapping-collection.provenance.method", "unknown_method"),
        ("mapping-collection.provenance.mapping-description", "missing"),
        (f"{base}[0].relationship", "unknown_relationship"),
        (f"{base}[1].targets", "unsupported_cardinality"),
        (f"{base}[2].props[0]", "strength_out_of_range"),
        (f"{base}[3].targets[0].id-ref", "invalid_clause_key"),
    }
