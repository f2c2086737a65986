"""Tests share helpers through ``tests/factories/`` and the conftests, never through each other.

A test module that imports another one runs the other's module-level set-up and couples
the two files' fate; what several tests need belongs in a factory.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def _imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            # ``from tests.compliance import test_findings`` imports a module too
            modules.update(
                f"{node.module}.{alias.name}"
                for alias in node.names
                if alias.name.startswith("test_")
            )
    return modules


def _is_test_module(name: str) -> bool:
    parts = name.split(".")
    return parts[0] == "tests" and parts[-1].startswith("test_")


def test_no_module_under_tests_imports_a_test_module() -> None:
    offenders = {
        str(path.relative_to(TESTS)): sorted(filter(_is_test_module, _imported_modules(path)))
        for path in sorted(TESTS.rglob("*.py"))
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_check_sees_a_test_module_import(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text("from tests.compliance.test_findings import finding_input\n")
    assert _is_test_module("tests.compliance.test_findings")
    assert list(filter(_is_test_module, _imported_modules(sample))) == [
        "tests.compliance.test_findings"
    ]
    assert not _is_test_module("tests.factories.records")
