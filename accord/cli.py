"""The ``accord`` command."""

from __future__ import annotations

import json
import logging
import socket
import sys
from collections.abc import Awaitable
from typing import Annotated, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from accord.commands._support import JsonOption, err, load_settings, out, run, with_api_runtime
from accord.commands._support import with_synced_runtime as _with_runtime
from accord.commands.agreements import agreement_app
from accord.commands.audits import audits_app
from accord.commands.catalog import catalog_app
from accord.commands.db import db_app
from accord.commands.eventlog import eventlog_app
from accord.commands.evidence import evidence_app
from accord.commands.gaps import gaps
from accord.commands.identity import token
from accord.commands.incidents import incidents_app
from accord.commands.keys import keys_app
from accord.commands.onboarding import idp_app, member_app, service_account_app
from accord.commands.policies import authz_app, raci_app
from accord.commands.reviews import review_app
from accord.commands.schema import schema_app
from accord.commands.sync import sync_app
from accord.commands.tenants import store_app, tenant_app
from accord.compliance.catalog.service import sync_catalog
from accord.platform.errors import AccordError, Conflict
from accord.platform.runtime import Runtime, open_runtime
from accord.platform.settings import DATA_DIR_SETTINGS, Settings, write_data_dir_settings
from accord.tenants import service as tenant_service
from accord.tenants.models import Tenant
from accord.tenants.provisioning import migrate_all

T = TypeVar("T")

app = typer.Typer(
    name="accord",
    help="Accord: a shared compliance graph for partner organisations, each keeping its own data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("gaps")(gaps)
app.add_typer(tenant_app, name="tenant")
app.add_typer(agreement_app, name="agreement")
app.add_typer(store_app, name="store")
app.add_typer(eventlog_app, name="eventlog")
app.add_typer(evidence_app, name="evidence")
app.add_typer(audits_app, name="audits")
app.add_typer(catalog_app, name="catalog")
app.add_typer(db_app, name="db")
app.add_typer(raci_app, name="raci")
app.add_typer(authz_app, name="authz")
app.add_typer(sync_app, name="sync")
app.add_typer(schema_app, name="schema")
app.add_typer(review_app, name="review")
app.add_typer(incidents_app, name="incidents")
app.command("token")(token)
app.add_typer(idp_app, name="idp")
app.add_typer(member_app, name="member")
app.add_typer(service_account_app, name="service-account")
app.add_typer(keys_app, name="keys")


@app.command()
def config(as_json: JsonOption = False) -> None:
    """Print the effective settings (from ACCORD_* variables), secrets masked."""
    effective = load_settings().effective()
    if as_json:
        out.print_json(json.dumps(effective))
        return
    table = Table("setting", "value", title="Accord settings")
    for key, value in effective.items():
        table.add_row(
            f"ACCORD_{key.upper()}", json.dumps(value) if isinstance(value, list) else str(value)
        )
    out.print(table)


@app.command()
def migrate() -> None:
    """Bring the control plane and every tenant schema to the current version."""

    async def run(runtime: Runtime) -> None:
        async with runtime.control_session() as session:
            total = len(
                await tenant_service.list_tenants(session=session, include_offboarded=False)
            )
        timings: list[float] = []
        with Progress(
            TextColumn("tenant schemas"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=not sys.stderr.isatty(),
        ) as progress:
            task = progress.add_task("migrate", total=total)

            def advance(tenant: Tenant, seconds: float) -> None:
                timings.append(seconds)
                progress.advance(task)

            def failed(tenant: Tenant, exc: AccordError) -> None:
                failures.append(f"{tenant.slug}: {exc.reason}: {exc.message}")
                progress.advance(task)

            count = await migrate_all(runtime, on_tenant=advance, on_failure=failed)
        per = (sum(timings) / len(timings) * 1000) if timings else 0.0
        out.print(
            f"control plane at head; {count} tenant schema(s) at head ({per:.1f} ms per tenant)"
        )
        for line in failures:
            err.print(f"[red]not migrated[/red] {line}", soft_wrap=True)

    failures: list[str] = []
    # Also in prod, where nothing else migrates: this is what the migrations Job runs.
    _with_runtime(run, migrate=True)
    if failures:
        raise typer.Exit(1)


def _serve(settings: Settings, runtime: Runtime, host: str, port: int) -> Awaitable[None]:
    import uvicorn

    from accord.app import create_app

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, runtime=runtime),
            host=host,
            port=port,
            log_level=settings.log_level.lower(),
            # In production uvicorn's records go through the root logger's JSON lines.
            log_config=None if settings.env == "prod" else uvicorn.config.LOGGING_CONFIG,
            lifespan="on",
        )
    )
    return server.serve()


HostOption = Annotated[str | None, typer.Option(help="Interface to listen on (default 127.0.0.1).")]
PortOption = Annotated[int | None, typer.Option(help="Port (default 8000).")]


@app.command()
def serve(host: HostOption = None, port: PortOption = None) -> None:
    """Serve the API (GraphQL on /graphql, /healthz, /readyz)."""
    settings = load_settings()

    h, p = host or settings.host, port or settings.port
    run(_ensure_port_free(h, p))

    async def serve_it(runtime: Runtime) -> None:
        await _serve(settings, runtime, h, p)

    with_api_runtime(serve_it)


@app.command()
def demo(
    host: HostOption = None,
    port: PortOption = None,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve after seeding.")
    ] = True,
) -> None:
    """Start the demo partner network and serve it on http://127.0.0.1:8000.

    Uses an embedded PostgreSQL under .accord/demo unless ACCORD_DATABASE_URL is set (then
    two databases on that server, <database>_demo_eu and <database>_demo_us, act as the two
    stores).
    """
    from accord.demo import TRY_QUERY, demo_settings, demo_tokens, seed_demo

    base = load_settings()
    h, p = host or base.host, port or base.port
    if serve_after:
        # Before anything is written: a second demo must not replace the running one's tokens.
        run(_ensure_port_free(h, p))

    async def main() -> None:
        settings = await demo_settings(base)
        write_data_dir_settings(settings)
        err.print("[bold]Accord demo[/bold]: starting stores eu-central and us-east …")
        async with open_runtime(settings) as runtime:
            await sync_catalog(runtime)
            await seed_demo(runtime, say=_say)
            tokens = await demo_tokens(runtime)
        if not serve_after:
            return
        # The API serves with its own login only; the migrator's stays with the seeding.
        async with open_runtime(settings, privileged=False) as runtime:
            # soft_wrap: no line is broken (a printed command must survive copy and paste)
            # when stderr is not a terminal and rich would otherwise wrap at 80 columns.
            err.print(
                f"\nOpen [bold]http://{h}:{p}/[/bold] in a browser and sign in as any demo person "
                "(the local development issuer lists them).\n"
                f"Open [bold]http://{h}:{p}/graphql[/bold] (GraphiQL) — with a token below "
                "as `Authorization: Bearer …`, try "
                "`{ tenants { slug legalName store region status } }`\n"
                f"Store health: http://{h}:{p}/readyz    Stop with Ctrl+C.\n"
                f"Tokens (12 h) for one person per partner: {tokens}/<tenant>-<person>.jwt\n"
                f"Northwind's view of the supplier-quality process across both stores:\n"
                f"  curl -s http://{h}:{p}/graphql -H 'content-type: application/json' "
                f'-H "authorization: Bearer $(cat {tokens}/northwind-anna.keller.jwt)" '
                f"-d '{json.dumps({'query': TRY_QUERY})}'\n"
                f"The CLI against this network (another terminal; {settings.data_dir}/"
                f"{DATA_DIR_SETTINGS} names its stores):\n"
                f"  ACCORD_DATA_DIR={settings.data_dir} accord gaps "
                "--tenant globex --standard iso14001:2015\n",
                soft_wrap=True,
                highlight=False,
            )
            await _serve(settings, runtime, h, p)

    run(main())


def _say(line: str) -> None:
    """A progress line of the demo, never broken where stderr is not a terminal."""
    err.print(line, soft_wrap=True, highlight=False)


async def _ensure_port_free(host: str, port: int) -> None:
    """Refuse, saying what to do, when ``host:port`` cannot be listened on."""
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        # As uvicorn binds: a port left in TIME_WAIT by a stopped server counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as exc:
        raise Conflict(
            f"Cannot listen on {host}:{port} ({exc.strerror}). If the demo is already "
            f"running, use it: http://{host}:{port}/graphql; otherwise stop what holds the "
            f"port, or choose another with --port {port + 1}. Nothing was changed.",
            reason="PORT_IN_USE",
            field="port",
        ) from None
    finally:
        probe.close()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()
