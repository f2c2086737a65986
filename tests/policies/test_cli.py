"""``raci check|import|export`` and ``authz explain``, run as subprocesses on the test stores.

The Typer apps are called directly (``accord.cli`` wires them in as ``accord raci`` and
``accord authz``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from accord.policies import formats
from tests.conftest import subprocess_env
from tests.factories.policies import bad_yaml
from tests.policies.conftest import Partners, supplier_quality


def run(app: str, *args: str) -> subprocess.CompletedProcess[str]:
    code = f"from accord.commands.policies import {app}; {app}()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=subprocess_env(COLUMNS="250"),
        timeout=120,
        check=False,
    )


def test_check_lists_every_problem_and_exits_2(tmp_path: Path, partners: Partners) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(bad_yaml(partners))
    result = run("raci_app", "check", str(path))
    assert result.returncode == 2, result.stderr
    for code in (
        "UNKNOWN_TENANT",
        "DUPLICATE_PARTY",
        "UNKNOWN_ROLE",
        "MULTIPLE_ACCOUNTABLE",
        "NO_ACCOUNTABLE",
        "UNKNOWN_RECORD_TYPE",
        "UNKNOWN_ACTIVITY",
    ):
        assert code in result.stderr
    assert "11 problem(s)" in result.stderr


def test_import_export_and_explain(tmp_path: Path, partners: Partners) -> None:
    matrix, _ = formats.parse_yaml(supplier_quality(partners))
    sheet = tmp_path / "supplier-quality.csv"
    sheet.write_text(formats.dump_csv(matrix))
    checked = run("raci_app", "check", str(sheet))
    assert checked.returncode == 0, checked.stderr
    assert "policy lines would be compiled" in checked.stdout

    imported = run("raci_app", "import", str(sheet), "--actor", "cli-test")
    assert imported.returncode == 0, imported.stderr
    assert f"imported '{matrix.name}'" in imported.stdout and partners.globex in imported.stdout

    exported = run("raci_app", "export", matrix.name, "--format", "yaml")
    assert exported.returncode == 0, exported.stderr
    assert formats.parse_yaml(exported.stdout) == (matrix, [])

    process = partners.process("supplier-quality-2027")
    resource = f"{partners.globex}/finding/{process}"
    allowed = run(
        "authz_app", "explain", "--user", f"{partners.northwind}/nils",
        "--role", "quality_manager", "--action", "close", "--resource", resource,
    )  # fmt: skip
    assert allowed.returncode == 0, allowed.stderr
    assert "ALLOWED" in allowed.stdout and "Verify and close findings" in allowed.stdout

    denied = run(
        "authz_app", "explain", "--user", f"{partners.globex}/gina",
        "--role", "quality_manager", "--action", "close", "--resource", resource,
    )  # fmt: skip
    assert "DENIED" in denied.stdout and "governed by RACI matrix" in denied.stdout
    assert f"p, *, {partners.globex}, finding, {process}, close, deny" in denied.stdout

    missing = run("raci_app", "export", "No such matrix")
    assert missing.returncode == 2 and "UNKNOWN_MATRIX" in missing.stderr
