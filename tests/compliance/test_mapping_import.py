"""Importing CISO Assistant libraries and OSCAL collections into the catalog or a tenant."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from sqlalchemy import func, select
from typer.testing import CliRunner

from accord.commands.catalog import catalog_app
from accord.compliance.catalog.models import (
    ACCORD_ORIGIN,
    CISO_ORIGIN,
    HS_CROSSWALK_SET,
    CatalogMapping,
    Clause,
    MappingSet,
    Standard,
)
from accord.compliance.catalog.service import UnknownClauses, sync_catalog
from accord.compliance.crosswalk import ConflictKind
from accord.compliance.mappings import flows
from accord.compliance.mappings import service as mapping_service
from accord.compliance.mappings.models import TenantClauseMapping
from accord.compliance.mappings.oscal import parse_mapping_collection
from accord.compliance.mappings.service import ImportReport, LibraryInvalid
from accord.compliance.vocab import Relationship
from accord.platform.errors import BadInput
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.runtime import Runtime
from tests.conftest import SECOND_STORE, TenantFactory, subprocess_env

FIXTURES = Path(__file__).parents[2].parent / "shared" / "fixtures" / "ciso-assistant"
MAPPING_FILE = FIXTURES / "mapping-nist-csf-2.0-to-iso27001-2022.yaml"
FRAMEWORKS = {
    "iso27001-2022.yaml": "iso27001:2022",
    "iso22301-2019.yaml": "iso22301:2019",
    "nist-csf-2.0.yaml": "nist-csf-2-0:2024",
}
CISO_TOKENS = {
    "equal": "equal",
    "subset": "subset",
    "superset": "superset",
    "intersect": "intersects",
    "not_related": "no_relationship",
}
STORES = ("home", SECOND_STORE)
ACTOR = "curator@test"


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def raw_nodes(file_name: str) -> list[dict[str, Any]]:
    nodes = load(FIXTURES / file_name)["objects"]["framework"]["requirement_nodes"]
    assert isinstance(nodes, list)
    return nodes


def urn_keys() -> dict[str, str]:
    """Requirement urn → clause key, from the framework files' own ref_ids."""
    return {
        node["urn"]: f"{standard}/{node['ref_id']}"
        for file_name, standard in FRAMEWORKS.items()
        for node in raw_nodes(file_name)
        if "ref_id" in node
    }


def raw_sets() -> list[dict[str, Any]]:
    sets = load(MAPPING_FILE)["objects"]["requirement_mapping_sets"]
    assert isinstance(sets, list)
    return sets


@pytest.fixture(scope="module")
async def frameworks(runtime: Runtime) -> list[ImportReport]:
    await sync_catalog(runtime)
    return [
        await flows.import_file(runtime, source=FIXTURES / name, actor=ACTOR) for name in FRAMEWORKS
    ]


@pytest.fixture(scope="module")
async def mapped(runtime: Runtime, frameworks: list[ImportReport]) -> ImportReport:
    return await flows.import_file(runtime, source=MAPPING_FILE, actor=ACTOR)


async def _global_rows(runtime: Runtime, store: str, set_id: str) -> list[CatalogMapping]:
    async with runtime.stores.control_session(store) as session:
        return list(
            await session.scalars(
                select(CatalogMapping)
                .where(CatalogMapping.mapping_set == set_id)
                .order_by(CatalogMapping.position)
            )
        )


async def test_framework_libraries_become_or_link_standards(
    runtime: Runtime, frameworks: list[ImportReport]
) -> None:
    iso27001, iso22301, nist = frameworks
    assert (nist.standards, nist.linked) == (("nist-csf-2-0:2024",), ())
    assert iso27001.linked == ("iso27001:2022",) and iso22301.linked == ("iso22301:2019",)
    nodes = raw_nodes("nist-csf-2.0.yaml")
    for store in STORES:
        async with runtime.stores.control_session(store) as session:
            standards = {s.id: s for s in await session.scalars(select(Standard))}
            clauses = list(
                await session.scalars(
                    select(Clause)
                    .where(Clause.standard_id == "nist-csf-2-0:2024")
                    .order_by(Clause.position)
                )
            )
            linked = await session.scalar(
                select(func.count()).where(
                    Clause.standard_id == "iso27001:2022", Clause.urn.is_not(None)
                )
            )
        assert standards["nist-csf-2-0:2024"].origin == CISO_ORIGIN
        assert standards["nist-csf-2-0:2024"].year == 2024
        # Accord's own ISO data is never rewritten by a library, only linked to it.
        assert standards["iso27001:2022"].origin == ACCORD_ORIGIN
        assert [c.urn for c in clauses] == [n["urn"] for n in nodes]
        assert sum(c.assessable for c in clauses) == sum(bool(n["assessable"]) for n in nodes)
        keys = {c.key for c in clauses}
        assert all(c.parent_key in keys for c in clauses if c.parent_key is not None)
        assert clauses[2].key == "nist-csf-2-0:2024/GV.OC-01"
        assessable_27001 = [n for n in raw_nodes("iso27001-2022.yaml") if n["assessable"]]
        assert linked is not None and linked >= len(assessable_27001)


async def test_every_mapping_of_the_library_lands_translated(
    runtime: Runtime, mapped: ImportReport
) -> None:
    keys = urn_keys()
    assert [s.id for s in mapped.mapping_sets] == [s["urn"] for s in raw_sets()]
    for raw, report in zip(raw_sets(), mapped.mapping_sets, strict=True):
        entries = raw["requirement_mappings"]
        expected = [
            (
                keys[e["source_requirement_urn"]],
                keys[e["target_requirement_urn"]],
                CISO_TOKENS[e["relationship"]],
            )
            for e in entries
        ]
        counts = Counter(CISO_TOKENS[e["relationship"]] for e in entries)
        assert report.count == len(entries)
        assert report.counts_by_relationship == dict(counts)
        for store in STORES:
            rows = await _global_rows(runtime, store, raw["urn"])
            assert [(r.source_key, r.target_key, r.relationship) for r in rows] == expected
            assert {r.method for r in rows} == {"human"} and {r.status for r in rows} == {"draft"}


async def test_reimport_replaces_the_sets_without_duplicates(
    runtime: Runtime, mapped: ImportReport
) -> None:
    again = await flows.import_file(runtime, source=MAPPING_FILE, actor=ACTOR)
    assert [(s.count, s.replaced) for s in again.mapping_sets] == [
        (len(raw["requirement_mappings"]), len(raw["requirement_mappings"])) for raw in raw_sets()
    ]
    for store in STORES:
        async with runtime.stores.control_session(store) as session:
            for raw in raw_sets():
                count = await session.scalar(
                    select(func.count()).where(CatalogMapping.mapping_set == raw["urn"])
                )
                mapping_set = await session.get(MappingSet, raw["urn"])
                assert mapping_set is not None
                assert count == mapping_set.mapping_count == len(raw["requirement_mappings"])


async def _catalog_snapshot(runtime: Runtime) -> list[tuple[Any, ...]]:
    snapshot: list[tuple[Any, ...]] = []
    for store in STORES:
        async with runtime.stores.control_session(store) as session:
            sets = await session.execute(
                select(MappingSet.id, MappingSet.imported_at, MappingSet.mapping_count)
            )
            snapshot.extend((store, *row) for row in sets.all())
            snapshot.append((store, await session.scalar(select(func.count(Clause.key)))))
    return sorted(snapshot, key=repr)


def _malformed_library() -> dict[str, Any]:
    library = copy.deepcopy(load(MAPPING_FILE))
    first, second = library["objects"]["requirement_mapping_sets"]
    entries = first["requirement_mappings"]
    entries[0]["relationship"] = "kinda_equal"
    entries[1]["source_requirement_urn"] = "urn:intuitem:risk:req_node:nist-csf-2.0:gv.zz-99"
    entries[2]["strength_of_relationship"] = 11
    del entries[3]["target_requirement_urn"]
    second["target_framework_urn"] = "urn:intuitem:risk:framework:nist-csf-9.9"
    return library


async def test_a_malformed_library_reports_every_problem_and_writes_nothing(
    runtime: Runtime, mapped: ImportReport, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant()
    before = await _catalog_snapshot(runtime)
    async with runtime.stores.tenant_session(tenant.scope) as session:
        events_before = await session.scalar(select(func.count(EventLogEntry.seq)))
    for scope in (None, tenant.slug):
        with pytest.raises(LibraryInvalid) as info:
            await flows.import_file(runtime, source=_malformed_library(), actor=ACTOR, tenant=scope)
        error = info.value
        assert (error.reason, error.code.value) == ("LIBRARY_INVALID", "BAD_USER_INPUT")
        first_set = "objects.requirement_mapping_sets[0].requirement_mappings"
        paths = {
            p.path.removeprefix(first_set): p.code
            for p in error.problems
            if p.path.startswith(first_set)
        }
        assert paths["[0].relationship"] == "unknown_relationship"
        assert paths["[1].source_requirement_urn"] == "unknown_requirement"
        assert paths["[2].strength_of_relationship"] == "strength_out_of_range"
        assert paths["[3].target_requirement_urn"] == "missing"
        second_set = [p for p in error.problems if "mapping_sets[1]" in p.path]
        assert len(second_set) == len(raw_sets()[1]["requirement_mappings"])
        assert {p.code for p in second_set} == {"framework_mismatch"}
        assert f"{len(error.problems)} problem(s)" in error.message
    assert await _catalog_snapshot(runtime) == before
    async with runtime.stores.tenant_session(tenant.scope) as session:
        assert await session.scalar(select(func.count(TenantClauseMapping.id))) == 0
        assert await session.scalar(select(func.count(EventLogEntry.seq))) == events_before


async def test_catalog_problems_are_reported_together(
    runtime: Runtime, frameworks: list[ImportReport]
) -> None:
    framework = {
        "urn": "urn:test:library:iso9001",
        "objects": {
            "framework": {
                "urn": "urn:test:risk:framework:iso9001-2015",
                "ref_id": "ISO 9001",
                "requirement_nodes": [
                    {"urn": "urn:test:n:9", "ref_id": "9", "assessable": False},
                    {"urn": "urn:test:n:9.9", "ref_id": "9.9", "assessable": True},
                    {"urn": "urn:test:n:9.8", "ref_id": "9.8", "assessable": True},
                ],
            }
        },
    }
    with pytest.raises(LibraryInvalid) as framework_info:
        await flows.import_file(runtime, source=framework, actor=ACTOR)
    assert sorted(p.code for p in framework_info.value.problems) == ["unknown_clause"] * 2

    collection = _collection_for("iso9001:2015/9.2", "iso14001:2015/9.2")
    maps = collection["mapping-collection"]["mappings"][0]["maps"]
    maps.append(copy.deepcopy(maps[0]))
    maps[0]["sources"][0]["id-ref"] = "99.9"
    maps[1]["targets"][0]["id-ref"] = "98.1"
    with pytest.raises(LibraryInvalid) as oscal_info:
        await flows.import_file(runtime, source=collection, actor=ACTOR)
    messages = [p.message for p in oscal_info.value.problems]
    assert any("iso9001:2015/99.9" in m for m in messages)
    assert any("iso14001:2015/98.1" in m for m in messages)


def _collection_for(source: str, target: str) -> dict[str, Any]:
    """A minimal OSCAL collection with one `subset-of` map."""
    return {
        "mapping-collection": {
            "uuid": "6f1f2d3e-0000-4000-8000-000000000001",
            "metadata": {"title": "probe"},
            "provenance": {
                "method": "human",
                "matching-rationale": "semantic",
                "status": "draft",
                "mapping-description": "probe",
            },
            "mappings": [
                {
                    "uuid": "6f1f2d3e-0000-4000-8000-000000000002",
                    "source-resource": {
                        "type": "catalog",
                        "href": "#9001",
                        "props": [
                            {
                                "name": "standard-id",
                                "ns": "urn:accord:ns:oscal",
                                "value": source.split("/")[0],
                            }
                        ],
                    },
                    "target-resource": {
                        "type": "catalog",
                        "href": "#14001",
                        "props": [
                            {
                                "name": "standard-id",
                                "ns": "urn:accord:ns:oscal",
                                "value": target.split("/")[0],
                            }
                        ],
                    },
                    "maps": [
                        {
                            "uuid": "6f1f2d3e-0000-4000-8000-000000000003",
                            "relationship": "subset-of",
                            "sources": [{"type": "control", "id-ref": source.split("/")[1]}],
                            "targets": [{"type": "control", "id-ref": target.split("/")[1]}],
                        }
                    ],
                }
            ],
        }
    }


async def test_tenant_import_is_logged_and_the_chain_verifies(
    runtime: Runtime, mapped: ImportReport, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(SECOND_STORE)
    before = await _catalog_snapshot(runtime)
    first = await flows.import_file(runtime, source=MAPPING_FILE, actor=ACTOR, tenant=tenant.slug)
    again = await flows.import_file(runtime, source=MAPPING_FILE, actor=ACTOR, tenant=tenant.slug)
    assert first.scope == again.scope == tenant.slug
    total = sum(len(raw["requirement_mappings"]) for raw in raw_sets())
    assert sum(s.replaced for s in again.mapping_sets) == total
    async with runtime.stores.tenant_session(tenant.scope) as session:
        rows = list(await session.scalars(select(TenantClauseMapping)))
        events = list(await session.scalars(select(EventLogEntry).order_by(EventLogEntry.seq)))
        verdict = await verify_chain(session)
    assert len(rows) == total
    assert {r.created_by for r in rows} == {ACTOR} and {r.source_system for r in rows} == {
        CISO_ORIGIN
    }
    actions = [e.action for e in events if e.record_type == "clause_mapping_set"]
    assert actions == ["clause_mapping_set.imported"] * 2 + ["clause_mapping_set.replaced"] * 2
    assert events[-1].change["count"] == len(raw_sets()[1]["requirement_mappings"])
    assert verdict.ok and verdict.entries == len(events)
    assert await _catalog_snapshot(runtime) == before


async def test_a_tenant_mapping_that_disagrees_with_a_global_one_is_a_conflict(
    runtime: Runtime, mapped: ImportReport, make_tenant: TenantFactory
) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    async with runtime.stores.tenant_session(tenant.scope) as session:
        own = await mapping_service.add_tenant_mapping(
            session=session,
            actor=ACTOR,
            source_key="iso9001:2015/9.2",
            target_key="iso14001:2015/9.2",
            relationship=Relationship.SUBSET,
            strength=0,
        )
        with pytest.raises(UnknownClauses):
            await mapping_service.add_tenant_mapping(
                session=session,
                actor=ACTOR,
                source_key="iso9001:2015/9.2",
                target_key="iso14001:2015/77",
                relationship=Relationship.EQUAL,
            )
        with pytest.raises(BadInput) as strength:
            await mapping_service.add_tenant_mapping(
                session=session,
                actor=ACTOR,
                source_key="iso9001:2015/9.2",
                target_key="iso14001:2015/9.2",
                relationship=Relationship.EQUAL,
                strength=11,
            )
    assert strength.value.reason == "STRENGTH_OUT_OF_RANGE"
    assert (await flows.conflicts(runtime)) == []
    assert (await flows.conflicts(runtime, tenant=other.slug)) == []
    found = await flows.conflicts(runtime, tenant=tenant.slug)
    disagreement = [c for c in found if c.kind is ConflictKind.DISAGREEMENT]
    assert [(c.source, c.target) for c in disagreement] == [
        ("iso9001:2015/9.2", "iso14001:2015/9.2")
    ]
    assert {m.scope for m in disagreement[0].mappings} == {"global", tenant.slug}
    assert f"{HS_CROSSWALK_SET}#" in disagreement[0].reason
    # Its inverse twin in the HS cross-walk is `equal`, so `subset` there is a mismatch too.
    assert any(c.kind is ConflictKind.INVERSE_MISMATCH for c in found)
    async with runtime.stores.tenant_session(tenant.scope) as session:
        logged = await session.scalar(
            select(EventLogEntry).where(EventLogEntry.record_id == str(own.id))
        )
    assert logged is not None and logged.action == "clause_mapping.created"


async def test_oscal_export_then_import_round_trips(
    runtime: Runtime, mapped: ImportReport, make_tenant: TenantFactory
) -> None:
    set_id = raw_sets()[0]["urn"]
    async with runtime.control_session() as session:
        document = await mapping_service.export_oscal(session=session, mapping_set=set_id)
        with pytest.raises(BadInput) as mixed:
            await mapping_service.export_oscal(session=session, mapping_set=HS_CROSSWALK_SET)
    assert mixed.value.reason == "MIXED_STANDARDS"
    tenant = await make_tenant()
    report = await flows.import_file(runtime, source=document, actor=ACTOR, tenant=tenant.slug)
    assert [s.id for s in report.mapping_sets] == [set_id]

    def fields(rows: list[Any]) -> list[tuple[Any, ...]]:
        return [(r.source_key, r.target_key, r.relationship, r.rationale, r.strength) for r in rows]

    original = await _global_rows(runtime, "home", set_id)
    async with runtime.stores.tenant_session(tenant.scope) as session:
        imported = list(
            await session.scalars(
                select(TenantClauseMapping).order_by(TenantClauseMapping.position)
            )
        )
        exported_again = await mapping_service.export_oscal(
            session=session, tenant_slug=tenant.slug, mapping_set=set_id
        )
    assert fields(imported) == fields(original)
    assert [(r.method, r.status, r.author) for r in imported] == [
        (r.method, r.status, r.author) for r in original
    ]
    reread = parse_mapping_collection(exported_again)
    assert reread.urn == set_id
    assert [(m.source_key, m.target_key, m.relationship) for m in reread.mappings] == [
        (r.source_key, r.target_key, Relationship(r.relationship)) for r in original
    ]


# --------------------------------------------------------------------------- CLI (in-process)

runner = CliRunner()


def catalog_cli(*args: str) -> Result:
    return runner.invoke(catalog_app, list(args), env=subprocess_env(COLUMNS="200"))


@pytest.fixture
async def tenant_slug(make_tenant: TenantFactory) -> str:
    return (await make_tenant()).slug


def test_cli_lists_and_shows_the_catalog(mapped: ImportReport) -> None:
    listed = catalog_cli("list", "--json")
    assert listed.exit_code == 0, listed.stderr
    data = json.loads(listed.stdout)
    counts = {s["id"]: s["clauses"] for s in data["standards"]}
    assert counts["nist-csf-2-0:2024"] == len(raw_nodes("nist-csf-2.0.yaml"))
    assert counts["iso22361:2022"] == 19
    assert HS_CROSSWALK_SET in {m["id"] for m in data["mapping_sets"]}

    tree = json.loads(catalog_cli("show", "iso9001:2015", "--json").stdout)
    assert [node["number"] for node in tree["tree"]] == ["4", "5", "6", "7", "8", "9", "10"]
    clause = json.loads(catalog_cli("show", "iso27001:2022/A.5.1", "--json").stdout)
    assert clause["clause"]["parent"] == "iso27001:2022/A.5"
    assert "Internal audit" in catalog_cli("show", "iso9001:2015").stdout

    for unknown in ("iso9001:2015/99", "nope:2000/1", "nope"):
        result = catalog_cli("show", unknown)
        assert result.exit_code == 2
        assert "NOT_FOUND/UNKNOWN_CLAUSE" in result.stderr


def test_cli_imports_exports_and_reports_conflicts(
    mapped: ImportReport, tenant_slug: str, tmp_path: Path
) -> None:
    imported = catalog_cli("import", str(MAPPING_FILE), "--tenant", tenant_slug)
    assert imported.exit_code == 0, imported.stderr
    for raw in raw_sets():
        count = len(raw["requirement_mappings"])
        assert f"{raw['urn']} " in imported.stdout
        assert f"{count} mappings (intersects {count})" in imported.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_malformed_library()), encoding="utf-8")
    refused = catalog_cli("import", str(bad), "--tenant", tenant_slug)
    assert refused.exit_code == 2
    assert "BAD_USER_INPUT/LIBRARY_INVALID" in refused.stderr
    for path in ("[0].relationship", "[1].source_requirement_urn", "[2].strength_of_relationship"):
        assert f"requirement_mappings{path}" in refused.stderr
    unreadable = catalog_cli("import", str(tmp_path / "missing.yaml"))
    assert unreadable.exit_code == 2

    out = tmp_path / "tenant.json"
    exported = catalog_cli("export", "--tenant", tenant_slug, "--set", raw_sets()[0]["urn"])
    assert exported.exit_code == 2  # --out is required
    exported = catalog_cli(
        "export", "--tenant", tenant_slug, "--set", raw_sets()[0]["urn"], "--out", str(out)
    )
    assert exported.exit_code == 0, exported.stderr
    collection = parse_mapping_collection(out)
    assert len(collection.mappings) == len(raw_sets()[0]["requirement_mappings"])
    assert catalog_cli("export", "--out", str(out)).exit_code == 2

    conflicts = catalog_cli("conflicts", "--tenant", tenant_slug, "--json")
    assert conflicts.exit_code == 0, conflicts.stderr
    assert json.loads(conflicts.stdout) == []
