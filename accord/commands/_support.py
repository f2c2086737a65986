"""What every ``accord`` sub-command shares: consoles, settings, running with a runtime.

An expected failure (`AccordError`) prints ``error CODE/REASON: message`` on stderr and
exits 2 (1 when the code is INTERNAL); messages may span lines (a list of problems).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from accord.platform.errors import AccordError, ErrorCode
from accord.platform.logs import configure_logging
from accord.platform.runtime import Runtime, open_runtime
from accord.platform.settings import Settings, mask_url
from accord.platform.telemetry import Telemetry, activated, telemetry_from

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
        settings = Settings()
    except ValidationError as exc:
        err.print(f"[red]error[/red] BAD_USER_INPUT/BAD_SETTINGS: {escape(str(exc))}")
        raise typer.Exit(2) from exc
    configure_logging(settings)
    return settings


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


def with_runtime(fn: Callable[[Runtime], Awaitable[T]], *, migrate: bool | None = None) -> T:
    """Open the runtime from the environment's settings, run ``fn`` with it, close it.

    ``migrate`` as in ``open_runtime``: ``True`` brings the control plane and the catalogs
    to head even in ``prod`` (``accord migrate``, the deployment's migrations Job).
    """

    settings = load_settings()

    async def main() -> T:
        # The command's traces and metrics (a sync run, a delivery, the server's requests).
        telemetry = telemetry_from(settings)
        with activated(telemetry), _shut_down(telemetry):
            return await in_runtime()

    async def in_runtime() -> T:
        async with open_runtime(settings, migrate=migrate) as runtime:
            try:
                return await fn(runtime)
            except AccordError as exc:
                if exc.reason != "UNKNOWN_TENANT":
                    raise
                # Which network was asked: the usual cause is the wrong data directory.
                raise type(exc)(
                    f"{exc.message} Looked in the network of home store '{settings.home_store}' "
                    f"({network_of(settings)}); for another network, point ACCORD_DATA_DIR at "
                    "its data directory (e.g. .accord/demo for the demo).",
                    reason=exc.reason,
                    field=exc.field,
                    code=exc.code,
                ) from exc

    return run(main())


@contextmanager
def _shut_down(telemetry: Telemetry) -> Iterator[None]:
    try:
        yield
    finally:
        telemetry.shutdown()


def network_of(settings: Settings) -> str:
    """Where a command's network lives, for messages: data dir or server, never a password."""
    if settings.database_url is None:
        where = f"embedded PostgreSQL under {settings.data_dir}"
    else:
        where = mask_url(settings.database_url.get_secret_value())
    return f"{where}, data dir {settings.data_dir}"


def with_api_runtime(fn: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run ``fn`` with the API's runtime (its logins only, never the migrator's); in dev,
    the stores are migrated and the catalog loaded first, as the migrator."""
    from accord.compliance.catalog.service import sync_catalog

    settings = load_settings()

    async def main() -> T:
        if settings.env != "prod":
            async with open_runtime(settings) as migrator:
                await sync_catalog(migrator)
        async with open_runtime(settings, privileged=False) as runtime:
            return await fn(runtime)

    return run(main())


def with_synced_runtime(fn: Callable[[Runtime], Awaitable[T]], *, migrate: bool | None = None) -> T:
    """Like ``with_runtime``, with every store's catalog brought up to the shipped data."""
    from accord.compliance.catalog.service import sync_catalog

    async def main(runtime: Runtime) -> T:
        await sync_catalog(runtime)
        return await fn(runtime)

    return with_runtime(main, migrate=migrate)
