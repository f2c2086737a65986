"""Clause mappings as a connector source: a CISO Assistant library and an OSCAL collection."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from accord.compliance.catalog.models import Standard
from accord.compliance.mappings import flows
from accord.compliance.mappings import service as mapping_service
from accord.compliance.mappings.ciso_assistant import parse_library
from accord.compliance.mappings.models import TenantClauseMapping
from accord.compliance.mappings.oscal import ACCORD_NS, export_mapping_collection
from accord.connectors import instances
from accord.connectors.instances import Loaded
from accord.connectors.models import QuarantineEntry
from accord.connectors.sync import engine
from accord.connectors.sync.quarantine import replay
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session
from tests.connectors.conftest import MakeInstance
from tests.connectors.fake_sap import ServerThread

FIXTURES = Path(__file__).parents[2].parent / "shared" / "fixtures" / "ciso-assistant"
MAPPING_FILE = FIXTURES / "mapping-nist-csf-2.0-to-iso27001-2022.yaml"
FRAMEWORKS = {"nist-csf-2.0.yaml": "nist-csf-2-0:2024", "iso27001-2022.yaml": "iso27001:2022"}
CISO_TOKENS = {
    "equal": "equal",
    "subset": "subset",
    "superset": "superset",
    "intersect": "intersects",
    "not_related": "no_relationship",
}
SET = "urn:intuitem:risk:req_mapping_set:nist-csf-2.0-to-iso27001-2022"


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def expected_sets() -> dict[str, list[tuple[str, str, str]]]:
    """Set urn → (source key, target key, relationship) per mapping, from the raw files."""
    keys = {
        node["urn"]: f"{standard}/{node['ref_id']}"
        for name, standard in FRAMEWORKS.items()
        for node in load(FIXTURES / name)["objects"]["framework"]["requirement_nodes"]
        if "ref_id" in node
    }
    return {
        raw["urn"]: [
            (
                keys[e["source_requirement_urn"]],
                keys[e["target_requirement_urn"]],
                CISO_TOKENS[e["relationship"]],
            )
            for e in raw["requirement_mappings"]
        ]
        for raw in load(MAPPING_FILE)["objects"]["requirement_mapping_sets"]
    }


@pytest.fixture(scope="module")
async def frameworks(runtime: Runtime) -> None:
    """NIST CSF 2.0 in the catalog and ISO 27001's clauses linked to the library's urns, as
    a global ``accord mappings import`` of the framework files leaves them."""
    for name, standard_id in FRAMEWORKS.items():
        async with runtime.control_session() as session:
            standard = await session.get(Standard, standard_id)
        if standard is None or standard.library_urn is None:
            await flows.import_file(runtime, source=FIXTURES / name, actor="curator@test")


async def tenant_rows(runtime: Runtime, slug: str) -> list[TenantClauseMapping]:
    async with tenant_session(runtime, slug) as s:
        return list(
            await s.scalars(
                select(TenantClauseMapping).order_by(
                    TenantClauseMapping.mapping_set, TenantClauseMapping.position
                )
            )
        )


async def open_entries(runtime: Runtime, slug: str) -> list[QuarantineEntry]:
    async with tenant_session(runtime, slug) as s:
        return list(
            await s.scalars(
                select(QuarantineEntry)
                .where(QuarantineEntry.fixed_at.is_(None))
                .order_by(QuarantineEntry.id)
            )
        )


async def run(runtime: Runtime, loaded: Loaded) -> engine.RunResult:
    [result] = await engine.run_instance(runtime, loaded)
    assert result.status == "succeeded", result.error
    return result


async def test_ciso_library_lands_as_tenant_mappings_and_rerun_writes_nothing(
    runtime: Runtime, frameworks: None, make_tenant: Any, make_instance: MakeInstance
) -> None:
    expected = expected_sets()
    total = sum(map(len, expected.values()))
    assert total == 686
    tenant = await make_tenant()
    loaded = await make_instance(
        tenant.slug, str(MAPPING_FILE), kind="clause_mappings", page_size=500
    )
    first = await run(runtime, loaded)
    assert (first.counts["pages"], first.counts["created"], first.counts["quarantined"]) == (
        2,
        total,
        0,
    )
    rows = await tenant_rows(runtime, tenant.slug)
    by_set: dict[str, list[tuple[str, str, str]]] = {}
    for row in rows:
        by_set.setdefault(row.mapping_set, []).append(
            (row.source_key, row.target_key, row.relationship)
        )
    assert by_set == expected
    head = next(r for r in rows if r.mapping_set == SET and r.position == 0)
    assert (head.source_system, head.external_id) == ("clause-mappings", f"{SET}#0")
    assert (head.source_key, head.target_key) == ("nist-csf-2-0:2024/GV.OC-01", "iso27001:2022/4.1")
    assert head.mapping_set_name == "NIST-CSF-2.0 -> ISO/IEC 27001:2022"
    assert (head.method, head.status, head.author, head.strength) == (
        "human",
        "draft",
        "NIST",
        None,
    )
    async with tenant_session(runtime, tenant.slug) as s:
        edges = await mapping_service.tenant_mapping_edges(session=s, tenant_slug=tenant.slug)
        events = Counter((await s.scalars(select(EventLogEntry.action))).all())
    assert len(edges) == total and events["clause_mapping.imported"] == total

    again = await run(runtime, loaded)
    assert (again.counts["unchanged"], again.counts["created"], again.counts["updated"]) == (
        total,
        0,
        0,
    )
    async with tenant_session(runtime, tenant.slug) as s:
        assert await s.scalar(select(func.count()).select_from(EventLogEntry)) == sum(
            events.values()
        )
        assert (await verify_chain(s)).ok


def third_party_collection() -> dict[str, Any]:
    """The NIST CSF → ISO 27001 set as an OSCAL 1.2 collection from another tool: no Accord
    props, so its urns, set id and standards are whatever the reader makes of it."""
    library = parse_library(load(MAPPING_FILE))
    mapping_set = next(s for s in library.mapping_sets if s.urn == SET)
    document = export_mapping_collection(
        mapping_set,
        title="NIST CSF 2.0 to ISO/IEC 27001:2022",
        source_href="https://example.org/csf-2.0.json",
        target_href="https://example.org/iso27001-2022.json",
        now=datetime(2025, 1, 15, 12, 0, tzinfo=UTC),
    )

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            kept = {k: strip(v) for k, v in node.items()}
            if isinstance(kept.get("props"), list):
                kept["props"] = [p for p in kept["props"] if p.get("ns") != ACCORD_NS]
                if not kept["props"]:
                    del kept["props"]
            return kept
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    stripped: dict[str, Any] = strip(document)
    return stripped


@pytest.fixture
def served_collection() -> Iterator[tuple[dict[str, Any], str]]:
    body = third_party_collection()

    async def document(request: Request) -> JSONResponse:
        return JSONResponse(body)

    with ServerThread(Starlette(routes=[Route("/collection.json", document)])) as server:
        yield body, f"{server.url}/collection.json"


async def test_oscal_collection_over_http_unknown_clauses_fixed_by_override_and_replay(
    runtime: Runtime,
    frameworks: None,
    make_tenant: Any,
    make_instance: MakeInstance,
    served_collection: tuple[dict[str, Any], str],
) -> None:
    body, url = served_collection
    maps = [m for entry in body["mapping-collection"]["mappings"] for m in entry["maps"]]
    tenant = await make_tenant()
    # The tenant names the collection's standards; its NIST CSF id is not the catalog's.
    loaded = await make_instance(
        tenant.slug,
        url,
        kind="clause_mappings",
        page_size=500,
        source_standard="nist-csf:2024",
        target_standard="iso27001:2022",
    )
    result = await run(runtime, loaded)
    assert len(maps) == 343
    assert (result.counts["created"], result.counts["quarantined"]) == (0, 343)
    entries = await open_entries(runtime, tenant.slug)
    assert len(entries) == 343
    first = entries[0]
    collection = f"urn:uuid:{body['mapping-collection']['uuid']}"
    assert first.external_id == f"{collection}#0"
    assert first.reasons == [
        {
            "field": "source_key",
            "column": None,
            "reason": "UNKNOWN_CLAUSE",
            "message": "not in the catalog: nist-csf:2024/GV.OC-01",
        }
    ]
    assert first.payload["format"] == "oscal"
    assert first.payload["source_urn"] == "https://example.org/csf-2.0.json#GV.OC-01"
    assert first.payload["mapping_set_name"] == "NIST CSF 2.0 to ISO/IEC 27001:2022"

    # Re-key the NIST side to the catalog's standard id; the replay applies every mapping.
    override = {
        "mappings": {"fields": {"source_key": {"template": "nist-csf-2-0:2024/{source_clause}"}}}
    }
    await instances.set_mapping_override(runtime, str(loaded.row.id), override)
    loaded = await instances.load_instance(runtime, str(loaded.row.id))
    report = await replay(runtime, loaded, "mappings")
    assert (report.replayed, report.still_failing) == (343, 0)
    rows = await tenant_rows(runtime, tenant.slug)
    assert [(r.source_key, r.target_key, r.relationship) for r in rows] == expected_sets()[SET]
    assert {(r.mapping_set, r.method, r.status) for r in rows} == {(collection, "human", "draft")}
    assert await open_entries(runtime, tenant.slug) == []

    # The next sync reads the same collection through the fixed mapping: nothing to write.
    again = await run(runtime, loaded)
    assert (again.counts["unchanged"], again.counts["quarantined"]) == (343, 0)


async def test_set_imported_from_a_file_is_not_overwritten(
    runtime: Runtime,
    frameworks: None,
    make_tenant: Any,
    make_instance: MakeInstance,
    tmp_path: Path,
) -> None:
    library = load(MAPPING_FILE)
    sets = library["objects"]["requirement_mapping_sets"]
    library["objects"]["requirement_mapping_sets"] = [
        {**sets[0], "requirement_mappings": sets[0]["requirement_mappings"][:3]}
    ]
    path = tmp_path / "three.yaml"
    path.write_text(yaml.safe_dump(library), encoding="utf-8")
    tenant = await make_tenant()
    await flows.import_file(runtime, source=path, actor="curator@test", tenant=tenant.slug)
    loaded = await make_instance(tenant.slug, str(path), kind="clause_mappings")
    result = await run(runtime, loaded)
    assert (result.counts["created"], result.counts["quarantined"]) == (0, 3)
    entries = await open_entries(runtime, tenant.slug)
    assert {r["reason"] for e in entries for r in e.reasons} == {"MAPPING_SET_TAKEN"}
    assert "held by ciso-assistant/" in entries[0].reasons[0]["message"]
    assert {r.source_system for r in await tenant_rows(runtime, tenant.slug)} == {"ciso-assistant"}


async def test_malformed_library_fails_the_run_with_every_problem(
    runtime: Runtime, make_tenant: Any, make_instance: MakeInstance, tmp_path: Path
) -> None:
    library = load(MAPPING_FILE)
    entries = library["objects"]["requirement_mapping_sets"][0]["requirement_mappings"]
    entries[0]["relationship"] = "overlaps"
    del entries[1]["target_requirement_urn"]
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(library), encoding="utf-8")
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, str(path), kind="clause_mappings")
    [result] = await engine.run_instance(runtime, loaded)
    assert result.status == "failed"
    assert result.error == "LIBRARY_INVALID: 2 problem(s) in the document"
    assert await tenant_rows(runtime, tenant.slug) == []
