"""``accord schema export``: write the GraphQL SDL that the repository commits."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

schema_app = typer.Typer(help="The GraphQL schema (SDL).", no_args_is_help=True)

DEFAULT_PATH = Path("schema.graphql")


@schema_app.callback()
def main() -> None:
    """The GraphQL schema (SDL)."""


def render_sdl() -> str:
    from accord.graphql.schema import schema

    return schema.as_str().rstrip("\n") + "\n"


@schema_app.command("export")
def export(
    path: Annotated[Path, typer.Option("--path", help="Where to write the SDL.")] = DEFAULT_PATH,
    check: Annotated[
        bool, typer.Option("--check", help="Only compare; exit 1 when the file is stale.")
    ] = False,
) -> None:
    """Write the SDL of the GraphQL schema (default: ./schema.graphql)."""
    sdl = render_sdl()
    if check:
        current = path.read_text() if path.exists() else None
        if current != sdl:
            typer.echo(f"{path} is stale; run `accord schema export`.", err=True)
            raise typer.Exit(1)
        typer.echo(f"{path} is current.")
        return
    path.write_text(sdl)
    typer.echo(f"wrote {path}")
