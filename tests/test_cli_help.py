"""``--help`` of every command and sub-command, enumerated from the CLI itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from accord.cli import app


def _command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
        yield from _command_paths(sub, (*path, name))


PATHS = list(_command_paths(typer.main.get_command(app)))


def test_the_enumeration_reaches_nested_commands() -> None:
    assert ("authz", "explain") in PATHS
    assert ("tenant", "restore") in PATHS
    assert len(PATHS) > 50


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "accord")
def test_help_of_every_command_exits_0(path: tuple[str, ...]) -> None:
    # Help text is rendered as rich markup: a stray "[/X]" in any help string crashes it.
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, f"{' '.join(path)} --help: {result.exception!r}"
    assert "Usage:" in result.output


def test_command_names_are_distinct() -> None:
    # No group name is another's plural or prefix (``audit`` beside ``audits`` was both).
    names = [path[0] for path in PATHS if len(path) == 1]
    for name in names:
        for other in names:
            if other != name:
                assert not other.startswith(name), f"{name!r} and {other!r} read alike"
