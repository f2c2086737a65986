"""What every ``accord`` sub-command shares: consoles, settings, running with a runtime.

An expected failure (`AccordError`) prints ``error CODE/REASON: message`` on stderr and
exits 2 (1 when the code is INTERNAL); messages may span lines (a list of problems).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from accord.platform.errors import AccordError, ErrorCode
from accord.platform.runtime import Runtime, open_runtime
from accord.platform.settings import Settings

T = TypeVar("T")

out = Console()
err = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def report_error(exc: AccordError) -> None:
    """Print an expected failure the way every command does (never wrapped mid-line)."""
    err.print(
        f"[red]error[/red] {exc.code.value}/{exc.reason}: {escape(exc.message)}", soft_wrap=True
    )


def exit_code(exc: AccordError) -> int:
    return 1 if exc.code == ErrorCode.INTERNAL else 2


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        err.print(f"[red]error[/red] BAD_USER_INPUT/BAD_SETTINGS: {escape(str(exc))}")
        raise typer.Exit(2) from exc


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro``; an expected failure prints its code and exits 2 (1 if internal)."""
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        # Ctrl+C on serve/demo: the server has shut down gracefully; embedded stores stop at exit.
        err.print("stopped")
        raise typer.Exit(0) from None
    except AccordError as exc:
        report_error(exc)
        raise typer.Exit(exit_code(exc)) from None


def with_runtime(fn: Callable[[Runtime], Awaitable[T]]) -> T:
    """Open the runtime from the environment's settings, run ``fn`` with it, close it."""

    async def main() -> T:
        async with open_runtime(load_settings()) as runtime:
            return await fn(runtime)

    return run(main())


def with_synced_runtime(fn: Callable[[Runtime], Awaitable[T]]) -> T:
    """Like ``with_runtime``, with every store's catalog brought up to the shipped data."""
    from accord.compliance.catalog.service import sync_catalog

    async def main(runtime: Runtime) -> T:
        await sync_catalog(runtime)
        return await fn(runtime)

    return with_runtime(main)
