"""The ``accord`` command."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from accord.commands._support import JsonOption, err, load_settings, out, run, with_runtime
from accord.commands.catalog import catalog_app
from accord.commands.identity import token
from accord.commands.policies import authz_app, raci_app
from accord.commands.schema import schema_app
from accord.commands.sync import sync_app
from accord.compliance.catalog.service import sync_catalog
from accord.platform.errors import AccordError
from accord.platform.eventlog import verify_chain
from accord.platform.runtime import Runtime, open_runtime
from accord.platform.settings import Settings
from accord.tenants import service as tenant_service
from accord.tenants.archive import offboard_tenant, restore_tenant
from accord.tenants.models import Tenant
from accord.tenants.provisioning import create_tenant, migrate_all, resume_tenant, suspend_tenant
from accord.tenants.sessions import tenant_session

T = TypeVar("T")

app = typer.Typer(
    name="accord",
    help="Accord: a shared compliance graph for partner organisations, each keeping its own data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
tenant_app = typer.Typer(
    help="Partner tenants: create, inspect, suspend, offboard.", no_args_is_help=True
)
store_app = typer.Typer(
    help="Stores: the PostgreSQL servers tenants live in.", no_args_is_help=True
)
audit_app = typer.Typer(help="The tamper-evident event logs.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(store_app, name="store")
app.add_typer(audit_app, name="audit")
app.add_typer(catalog_app, name="catalog")
app.add_typer(raci_app, name="raci")
app.add_typer(authz_app, name="authz")
app.add_typer(sync_app, name="sync")
app.add_typer(schema_app, name="schema")
app.command("token")(token)

_settings = load_settings
_run = run


def _with_runtime(fn: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run ``fn`` with the runtime, the stores' catalogs brought up to the shipped data."""

    async def main(runtime: Runtime) -> T:
        await sync_catalog(runtime)
        return await fn(runtime)

    return with_runtime(main)


def _tenant_dict(t: Tenant, runtime: Runtime) -> dict[str, Any]:
    return {
        "slug": t.slug,
        "legal_name": t.legal_name,
        "jurisdiction": t.jurisdiction,
        "store": t.store,
        "region": runtime.regions.get(t.store, ""),
        "status": t.status,
        "created_at": t.created_at.isoformat(),
        "offboarded_at": t.offboarded_at.isoformat() if t.offboarded_at else None,
        "export_hash": t.export_hash,
        "export_path": t.export_path,
    }


@app.command()
def config(as_json: JsonOption = False) -> None:
    """Print the effective settings (from ACCORD_* variables), secrets masked."""
    effective = _settings().effective()
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

            count = await migrate_all(runtime, on_tenant=advance)
        per = (sum(timings) / len(timings) * 1000) if timings else 0.0
        out.print(
            f"control plane at head; {count} tenant schema(s) at head ({per:.1f} ms per tenant)"
        )

    _with_runtime(run)


@tenant_app.command("create")
def tenant_create(
    slug: Annotated[str, typer.Argument(help="Lower-case id, e.g. 'northwind' (schema t_<slug>).")],
    name: Annotated[str, typer.Option("--name", help="Legal name of the organisation.")],
    jurisdiction: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 code, e.g. DE.")],
    store: Annotated[
        str | None, typer.Option(help="Store to pin the tenant to; default: home.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a tenant: its own schema and role in its store, all or nothing."""

    async def run(runtime: Runtime) -> None:
        tenant = await create_tenant(
            runtime,
            slug=slug,
            legal_name=name,
            jurisdiction=jurisdiction,
            store=store or runtime.home,
        )
        if as_json:
            out.print_json(json.dumps(_tenant_dict(tenant, runtime)))
        else:
            out.print(f"created tenant [bold]{tenant.slug}[/bold] in store {tenant.store}")

    _with_runtime(run)


@tenant_app.command("list")
def tenant_list(
    as_json: JsonOption = False,
    include_offboarded: Annotated[
        bool, typer.Option("--all", help="Include offboarded tombstones.")
    ] = False,
) -> None:
    """List tenants with their store, region and status."""

    async def run(runtime: Runtime) -> None:
        async with runtime.control_session() as session:
            tenants = await tenant_service.list_tenants(
                session=session, include_offboarded=include_offboarded
            )
        rows = [_tenant_dict(t, runtime) for t in tenants]
        if as_json:
            out.print_json(json.dumps(rows))
            return
        table = Table("slug", "legal name", "jurisdiction", "store", "region", "status")
        for r in rows:
            table.add_row(
                r["slug"], r["legal_name"], r["jurisdiction"], r["store"], r["region"], r["status"]
            )
        out.print(table)

    _with_runtime(run)


@tenant_app.command("show")
def tenant_show(slug: str, as_json: JsonOption = False) -> None:
    """Show one tenant, including an offboarded tenant's tombstone."""

    async def run(runtime: Runtime) -> None:
        async with runtime.control_session() as session:
            tenant = await tenant_service.get(session=session, slug=slug)
            members = await tenant_service.list_members(session=session, tenant=tenant)
        data = _tenant_dict(tenant, runtime)
        data["members"] = [
            {"subject": m.subject, "name": m.display_name, "roles": m.roles} for m in members
        ]
        if as_json:
            out.print_json(json.dumps(data))
            return
        for key, value in data.items():
            if key != "members":
                out.print(f"[bold]{key}[/bold]: {value}")
        for m in data["members"]:
            out.print(f"  member {m['subject']}: {m['name']} {', '.join(m['roles'])}")

    _with_runtime(run)


@tenant_app.command("suspend")
def tenant_suspend(slug: str, reason: Annotated[str | None, typer.Option()] = None) -> None:
    """Block all access to a tenant's records until it is resumed."""
    _with_runtime(lambda rt: suspend_tenant(rt, slug=slug, reason=reason))
    out.print(f"suspended {slug}")


@tenant_app.command("resume")
def tenant_resume(slug: str) -> None:
    """Lift a suspension."""
    _with_runtime(lambda rt: resume_tenant(rt, slug=slug))
    out.print(f"resumed {slug}")


@tenant_app.command("offboard")
def tenant_offboard(
    slug: str,
    export_dir: Annotated[
        Path | None, typer.Option(help="Where to write the export; default <data_dir>/exports.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Export a tenant's complete data, verify it, then drop its schema and role.

    A tombstone (slug, dates, export hash) stays in the control plane; the slug is never reused.
    """
    if not yes and not typer.confirm(f"Offboard '{slug}' and remove its schema after export?"):
        raise typer.Exit(1)

    async def run(runtime: Runtime) -> Tenant:
        root = export_dir or runtime.settings.data_dir / "exports"
        root.mkdir(parents=True, exist_ok=True)
        return await offboard_tenant(runtime, slug=slug, export_root=root)

    tenant = _with_runtime(run)
    out.print(f"offboarded {slug}; export {tenant.export_path} (content hash {tenant.export_hash})")


@tenant_app.command("restore")
def tenant_restore(
    directory: Annotated[Path, typer.Argument(help="An export directory (with manifest.json).")],
    slug: Annotated[str, typer.Option(help="Slug of the new tenant.")],
    store: Annotated[
        str | None, typer.Option(help="Store for the new tenant; default: home.")
    ] = None,
) -> None:
    """Create a new tenant from an offboarding export, all or nothing."""

    async def run(runtime: Runtime) -> Tenant:
        return await restore_tenant(
            runtime, directory=directory, slug=slug, store=store or runtime.home
        )

    tenant = _with_runtime(run)
    out.print(f"restored into tenant {tenant.slug} (store {tenant.store})")


@tenant_app.command("access-log")
def tenant_access_log(
    slug: str,
    limit: Annotated[int, typer.Option(help="How many entries, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Who read this tenant's records under its sharing agreements (the grantor's own log)."""
    from accord.tenants.agreements.access import read_access_log

    async def run_query(runtime: Runtime) -> list[dict[str, Any]]:
        async with tenant_session(runtime, slug) as session:
            entries = await read_access_log(session=session, limit=limit)
        return [
            {
                "at": e.at.isoformat(),
                "grantee": e.grantee,
                "principal": e.principal,
                "agreement": str(e.agreement_id),
                "record_type": e.record_type,
                "level": e.level,
                "records": e.records,
                "request_id": e.request_id,
            }
            for e in entries
        ]

    rows = _with_runtime(run_query)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("at", "grantee", "principal", "record type", "level", "records")
    for r in rows:
        table.add_row(
            r["at"], r["grantee"], r["principal"], r["record_type"], r["level"], str(r["records"])
        )
    out.print(table)


@store_app.command("list")
def store_list(as_json: JsonOption = False) -> None:
    """List stores and whether each answers now."""

    async def run(runtime: Runtime) -> list[dict[str, str]]:
        rows = []
        for name in runtime.stores.names():
            try:
                await runtime.stores.ping(name, within=2.0)
                status = "ok"
            except AccordError as exc:
                status = exc.reason.lower()
            rows.append(
                {
                    "name": name,
                    "region": runtime.regions.get(name, ""),
                    "status": status,
                    "home": str(name == runtime.home).lower(),
                }
            )
        return rows

    rows = _with_runtime(run)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("name", "region", "home", "status")
    for r in rows:
        table.add_row(r["name"], r["region"], r["home"], r["status"])
    out.print(table)


@store_app.command("add")
def store_add(
    name: str,
    region: Annotated[str, typer.Option(help="Region label, e.g. eu-central.")],
    url: Annotated[
        str, typer.Option(help="postgresql:// URL, or embedded:<name> for a local cluster.")
    ],
) -> None:
    """Register a PostgreSQL server as a store (it must answer now)."""
    _with_runtime(lambda rt: rt.add_store(name=name, region=region, url=url))
    out.print(f"store {name} registered")


@audit_app.command("verify")
def audit_verify(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant slug.")],
    as_json: JsonOption = False,
) -> None:
    """Recompute a tenant's event-log hash chain; exit 1 naming the first broken entry."""

    async def run(runtime: Runtime) -> Any:
        async with tenant_session(runtime, tenant) as session:
            return await verify_chain(session)

    verdict = _with_runtime(run)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "tenant": tenant,
                    "ok": verdict.ok,
                    "entries": verdict.entries,
                    "first_broken_seq": verdict.first_broken_seq,
                    "reason": verdict.reason,
                    "head_hash": verdict.head_hash,
                }
            )
        )
    elif verdict.ok:
        out.print(f"{tenant}: chain intact, {verdict.entries} entries, head {verdict.head_hash}")
    else:
        out.print(
            f"[red]{tenant}: chain broken at sequence {verdict.first_broken_seq}[/red]: "
            f"{verdict.reason}"
        )
    if not verdict.ok:
        raise typer.Exit(1)


@app.command()
def gaps(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant slug.")],
    standard: Annotated[str, typer.Option("--standard", help="Standard id, e.g. iso45001:2018.")],
    as_json: JsonOption = False,
) -> None:
    """Gap analysis of a tenant against a standard, through the clause cross-walk.

    Lists clauses with no evidence, only partial coverage, or open nonconformities.
    """
    from accord.compliance.gaps.service import TenantGapReport, analyse

    async def run_analysis(runtime: Runtime) -> TenantGapReport:
        async with tenant_session(runtime, tenant) as session:
            return await analyse(session=session, tenant_slug=tenant, standard_id=standard)

    result = _with_runtime(run_analysis)
    report = result.report
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "tenant": tenant,
                    "standard": standard,
                    "summary": report.summary,
                    "clauses": [
                        {
                            "clause": e.clause,
                            "title": result.titles.get(e.clause, ""),
                            "status": e.status.value,
                            "coverage": e.coverage.value,
                            "direct": e.direct,
                            "via": list(e.via),
                            "open_nonconformities": e.open_nonconformities,
                        }
                        for e in report.entries
                    ],
                }
            )
        )
        return
    table = Table("clause", "title", "status", "coverage", "via", title=f"{tenant} — {standard}")
    for e in report.entries:
        if e.status.value != "covered":
            via = " → ".join(e.via) if not e.direct else "direct"
            table.add_row(
                e.clause, result.titles.get(e.clause, ""), e.status.value, e.coverage.value, via
            )
    out.print(table)
    summary = report.summary
    out.print(
        f"{summary['covered']} of {summary['assessable']} clauses covered "
        f"({report.coverage_pct:.0f}%); {summary['partial_only']} partial, "
        f"{summary['no_evidence']} without evidence, {summary['open_nonconformity']} with open "
        "nonconformities"
    )


def _serve(settings: Settings, runtime: Runtime, host: str, port: int) -> Awaitable[None]:
    import uvicorn

    from accord.app import create_app

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, runtime=runtime),
            host=host,
            port=port,
            log_level=settings.log_level.lower(),
            lifespan="on",
        )
    )
    return server.serve()


HostOption = Annotated[str | None, typer.Option(help="Interface to listen on (default 127.0.0.1).")]
PortOption = Annotated[int | None, typer.Option(help="Port (default 8000).")]


@app.command()
def serve(host: HostOption = None, port: PortOption = None) -> None:
    """Serve the API (GraphQL on /graphql, /healthz, /readyz)."""
    settings = _settings()

    async def run(runtime: Runtime) -> None:
        await _serve(settings, runtime, host or settings.host, port or settings.port)

    _with_runtime(run)


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
    from accord.demo import demo_settings, seed_demo

    async def main() -> None:
        settings = await demo_settings(_settings())
        err.print("[bold]Accord demo[/bold]: starting stores eu-central and us-east …")
        async with open_runtime(settings) as runtime:
            await sync_catalog(runtime)
            await seed_demo(runtime, say=err.print)
            h, p = host or settings.host, port or settings.port
            if not serve_after:
                return
            err.print(
                f"\nOpen [bold]http://{h}:{p}/graphql[/bold] (GraphiQL) — try "
                "`{ tenants { slug legalName store region status } }`\n"
                f"Store health: http://{h}:{p}/readyz    Stop with Ctrl+C.\n"
                f"The CLI against this network (another terminal): ACCORD_DATA_DIR="
                f"{settings.data_dir} ACCORD_HOME_STORE={settings.home_store} accord gaps "
                "--tenant globex --standard iso14001:2015\n"
            )
            await _serve(settings, runtime, h, p)

    _run(main())


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()
