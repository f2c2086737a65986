"""Mapping libraries resolve against the shipped standards CISO Assistant also publishes.

The shipped ISO/IEC 27001:2022 and ISO 22301:2019 carry CISO Assistant's framework and
requirement node urns, so NIST's CSF 2.0 → 27001 mapping imports once CSF 2.0 is loaded,
with no 27001 library; a framework that really is missing fails once, naming the library.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from sqlalchemy import select, update
from typer.testing import CliRunner

from accord.commands.catalog import catalog_app
from accord.compliance.catalog.datafiles import catalog_digest, load_catalog
from accord.compliance.catalog.models import ACCORD_ORIGIN, CatalogMapping, Clause, Standard
from accord.compliance.catalog.service import load_shipped_catalog
from accord.platform.runtime import Runtime
from tests.conftest import subprocess_env

FIXTURES = Path(__file__).parents[2].parent / "shared" / "fixtures" / "ciso-assistant"
MAPPING_FILE = FIXTURES / "mapping-nist-csf-2.0-to-iso27001-2022.yaml"
CSF_FILE = FIXTURES / "nist-csf-2.0.yaml"
ISO27001 = "iso27001:2022"
ISO27001_FRAMEWORK = "urn:intuitem:risk:framework:iso27001-2022"
runner = CliRunner()


def catalog_cli(*args: str) -> Result:
    return runner.invoke(catalog_app, list(args), env=subprocess_env(COLUMNS="200"))


def _load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@pytest.fixture
async def shipped_only(runtime: Runtime) -> None:
    """27001 linked by the shipped catalog alone: every earlier link dropped, then reloaded."""
    standards = load_catalog()
    for store in runtime.stores.names():
        # The catalog is written by the migrator only, as the shipped data's loader does.
        async with runtime.stores.migrator_session(store) as session:
            await session.execute(
                update(Clause).where(Clause.standard_id == ISO27001).values(urn=None)
            )
            await session.execute(
                update(Standard).where(Standard.id == ISO27001).values(library_urn=None)
            )
            await load_shipped_catalog(
                session=session, standards=standards, digest=catalog_digest(standards)
            )
            await session.commit()


def test_shipped_catalog_links_ciso_assistant_urns() -> None:
    shipped = {s.id: s for s in load_catalog()}
    iso = shipped[ISO27001]
    assert iso.ciso_framework == ISO27001_FRAMEWORK
    assert iso.ciso_library == "urn:intuitem:risk:library:iso27001-2022"
    # Every requirement node of CISO Assistant's own 27001 library that names a clause
    # Accord ships gets that clause's urn.
    nodes = _load(FIXTURES / "iso27001-2022.yaml")["objects"]["framework"]["requirement_nodes"]
    numbers = {c.number for c in iso.clauses}
    linked = {iso.clause_urn(n) for n in numbers}
    with_ref = [n for n in nodes if "ref_id" in n and str(n["ref_id"]) in numbers]
    assert len(with_ref) > 100
    assert all(n["urn"] in linked for n in with_ref)
    assert shipped["iso9001:2015"].clause_urn("4.1") is None


async def test_mapping_to_shipped_27001_imports_without_its_library(
    runtime: Runtime, shipped_only: None
) -> None:
    async with runtime.stores.control_session("home") as session:
        standard = await session.get(Standard, ISO27001)
        assert standard is not None
        assert (standard.origin, standard.library_urn) == (ACCORD_ORIGIN, ISO27001_FRAMEWORK)
        clause = await session.get(Clause, f"{ISO27001}/A.5.1")
        assert clause is not None
        assert clause.urn == "urn:intuitem:risk:req_node:iso27001-2022:a.5.1"

    # The command runs its own event loop: off this test's loop, in a thread.
    loaded = await asyncio.to_thread(catalog_cli, "import", str(CSF_FILE))
    assert loaded.exit_code == 0, loaded.stderr
    imported = await asyncio.to_thread(catalog_cli, "import", str(MAPPING_FILE))
    assert imported.exit_code == 0, imported.stderr
    assert "not loaded" not in imported.stdout + imported.stderr

    raw = _load(MAPPING_FILE)["objects"]["requirement_mapping_sets"]
    forward = next(s for s in raw if s["target_framework_urn"] == ISO27001_FRAMEWORK)
    async with runtime.stores.control_session("home") as session:
        targets = set(
            await session.scalars(
                select(CatalogMapping.target_key).where(
                    CatalogMapping.mapping_set == forward["urn"]
                )
            )
        )
    assert len(targets) > 50
    assert all(key.startswith(f"{ISO27001}/") for key in targets)
    assert f"{ISO27001}/A.5.1" in targets and f"{ISO27001}/6.1.2" in targets


def test_missing_framework_fails_once_naming_the_library(tmp_path: Path) -> None:
    # The real mapping file, its source framework renamed to one no catalog holds.
    text = MAPPING_FILE.read_text(encoding="utf-8").replace("nist-csf-2.0", "nist-csf-9.9")
    renamed = tmp_path / "mapping-nist-csf-9.9-to-iso27001-2022.yaml"
    renamed.write_text(text, encoding="utf-8")

    refused = catalog_cli("import", str(renamed))
    assert refused.exit_code == 2
    assert "BAD_USER_INPUT/LIBRARY_INVALID" in refused.stderr
    problems = [line for line in refused.stderr.splitlines() if line.strip().startswith("- ")]
    assert len(problems) == 1, refused.stderr
    assert "[framework_not_loaded]" in problems[0]
    assert "urn:intuitem:risk:framework:nist-csf-9.9" in problems[0]
    assert "import the library urn:intuitem:risk:library:nist-csf-9.9" in problems[0]
    assert "iso27001" not in problems[0]
