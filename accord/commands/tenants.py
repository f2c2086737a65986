"""``accord tenant``, ``accord store``: tenants and the stores they live in."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from accord.commands._support import JsonOption, err, out
from accord.commands._support import with_synced_runtime as _with_runtime
from accord.platform.errors import AccordError
from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service
from accord.tenants.archive import offboard_tenant, restore_tenant
from accord.tenants.identity.flows import DEFAULT_AUDIENCE, onboard_tenant
from accord.tenants.models import Tenant
from accord.tenants.moves import MoveResult, move_tenant
from accord.tenants.provisioning import resume_tenant, suspend_tenant
from accord.tenants.sessions import tenant_session

tenant_app = typer.Typer(
    help="Partner tenants: create, inspect, suspend, move, offboard.", no_args_is_help=True
)
CLI_ACTOR = "accord-cli"
store_app = typer.Typer(
    help="Stores: the PostgreSQL servers tenants live in.", no_args_is_help=True
)


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


@tenant_app.command("create")
def tenant_create(
    slug: Annotated[str, typer.Argument(help="Lower-case id, e.g. 'northwind' (schema t_<slug>).")],
    name: Annotated[str, typer.Option("--name", help="Legal name of the organisation.")],
    jurisdiction: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 code, e.g. DE.")],
    store: Annotated[
        str | None, typer.Option(help="Store to pin the tenant to; default: home.")
    ] = None,
    admin: Annotated[
        str | None, typer.Option(help="Subject (sub) of the first tenant admin.")
    ] = None,
    admin_name: Annotated[str | None, typer.Option(help="The first admin's name.")] = None,
    issuer: Annotated[
        str | None, typer.Option(help="The tenant's OIDC issuer URL, registered by discovery.")
    ] = None,
    audience: Annotated[
        str, typer.Option(help="With --issuer: the aud its tokens carry for Accord.")
    ] = DEFAULT_AUDIENCE,
    as_json: JsonOption = False,
) -> None:
    """Create a tenant: its own schema and role in its store, all or nothing.

    With --issuer and --admin the tenant can sign its first admin in at once: the issuer
    is checked by OIDC discovery before anything is created.
    """

    async def run(runtime: Runtime) -> None:
        tenant = await onboard_tenant(
            runtime,
            slug=slug,
            legal_name=name,
            jurisdiction=jurisdiction,
            store=store or runtime.home,
            admin=admin,
            admin_name=admin_name,
            issuer=issuer,
            audience=audience,
            actor=CLI_ACTOR,
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


@tenant_app.command("move")
def tenant_move(
    slug: str,
    store: Annotated[str, typer.Option(help="The store to move the tenant to.")],
    as_json: JsonOption = False,
) -> None:
    """Move a tenant to another store: copy its schema, verify it (row counts and SHA-256
    per table, the event-log chain), switch its placement, drop the old copy.

    Reads go on during the move; the tenant's writes wait, and one that waited past the
    switch is refused with TENANT_UNAVAILABLE (retry). Run it again after an interruption:
    it removes what the interrupted run left and finishes or starts over.
    """

    async def run(runtime: Runtime) -> MoveResult:
        work = runtime.settings.data_dir / "moves"
        work.mkdir(parents=True, exist_ok=True)
        return await move_tenant(
            runtime,
            slug=slug,
            store=store,
            work_root=work,
            on_step=lambda line: err.print(line, soft_wrap=True, highlight=False),
        )

    result = _with_runtime(run)
    if as_json:
        out.print_json(json.dumps(dataclasses.asdict(result)))
    elif not result.moved:
        cleaned = (
            f"; removed the copies left on {', '.join(result.cleaned)}" if result.cleaned else ""
        )
        out.print(f"{slug} is already on store {store}{cleaned}")
    else:
        out.print(
            f"moved {slug} from {result.source} to {result.target}: "
            f"{sum(result.rows.values())} rows in {len(result.rows)} tables, "
            f"{result.events} event-log entries verified (content hash {result.content_hash})"
        )


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
