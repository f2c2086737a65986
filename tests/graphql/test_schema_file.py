"""The committed ``schema.graphql`` is what the code serves."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from accord.commands.schema import render_sdl, schema_app
from tests.conftest import REPO


def test_the_committed_schema_is_current() -> None:
    committed = (REPO / "schema.graphql").read_text()
    assert committed == render_sdl(), "schema.graphql is stale: run `accord schema export`"


def test_export_writes_and_checks_the_file(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    runner = CliRunner()
    stale = runner.invoke(schema_app, ["export", "--path", str(target), "--check"])
    assert stale.exit_code == 1
    written = runner.invoke(schema_app, ["export", "--path", str(target)])
    assert written.exit_code == 0, written.output
    assert target.read_text() == render_sdl()
    current = runner.invoke(schema_app, ["export", "--path", str(target), "--check"])
    assert current.exit_code == 0
