"""``accord sync``: register connector instances, run them, watch runs, replay quarantine."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from accord.commands._support import JsonOption, err, out, with_runtime
from accord.connectors import instances
from accord.connectors.schedule import parse_schedule
from accord.connectors.sync import engine, quarantine
from accord.platform import clock
from accord.platform.errors import BadInput
from accord.platform.runtime import Runtime

sync_app = typer.Typer(
    help="ERP connectors: instances, sync runs, quarantine.", no_args_is_help=True
)
quarantine_app = typer.Typer(help="Records rejected by a sync.", no_args_is_help=True)
sync_app.add_typer(quarantine_app, name="quarantine")

TenantOption = Annotated[str | None, typer.Option("--tenant", help="Tenant slug.")]


def _auth(
    username: str | None,
    password: str | None,
    token_url: str | None,
    client_id: str | None,
    client_secret: str | None,
    api_key: str | None,
) -> dict[str, Any]:
    if token_url or client_id:
        if not (token_url and client_id and client_secret):
            raise typer.BadParameter("OAuth2 needs --token-url, --client-id and a client secret.")
        return {
            "type": "oauth2",
            "token_url": token_url,
            "client_id": client_id,
            "client_secret": client_secret,
        }
    if username:
        if not password:
            raise typer.BadParameter("Basic auth needs a password (ACCORD_SYNC_PASSWORD).")
        return {"type": "basic", "username": username, "password": password}
    if api_key:
        return {"type": "api_key", "key": api_key}
    return {"type": "none"}


@sync_app.command("add")
def add(
    tenant: Annotated[str, typer.Argument(help="Tenant that owns the instance.")],
    name: Annotated[str, typer.Argument(help="Instance name, unique in the tenant.")],
    kind: Annotated[str, typer.Option(help="Source kind: sap, csv, …")],
    base_url: Annotated[str, typer.Option("--base-url", help="Service host, file or URL.")],
    config: Annotated[str, typer.Option(help="More config as JSON.")] = "{}",
    username: Annotated[str | None, typer.Option()] = None,
    password: Annotated[
        str | None, typer.Option(envvar="ACCORD_SYNC_PASSWORD", hidden=True)
    ] = None,
    token_url: Annotated[str | None, typer.Option("--token-url")] = None,
    client_id: Annotated[str | None, typer.Option("--client-id")] = None,
    client_secret: Annotated[
        str | None, typer.Option(envvar="ACCORD_SYNC_CLIENT_SECRET", hidden=True)
    ] = None,
    api_key: Annotated[str | None, typer.Option(envvar="ACCORD_SYNC_API_KEY", hidden=True)] = None,
    schedule: Annotated[str | None, typer.Option(help="Interval (900, 15m) or cron.")] = None,
    mapping: Annotated[Path | None, typer.Option(help="Mapping override YAML per stream.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Register a connector instance; secrets come from options or ACCORD_SYNC_* env vars."""
    values = json.loads(config)
    values["auth"] = _auth(username, password, token_url, client_id, client_secret, api_key)
    override = yaml.safe_load(mapping.read_text(encoding="utf-8")) if mapping else None
    if schedule:
        parse_schedule(schedule)

    async def main(runtime: Runtime) -> dict[str, Any]:
        row = await instances.add_instance(
            runtime,
            tenant=tenant,
            kind=kind,
            name=name,
            base_url=base_url,
            config=values,
            schedule=schedule,
            mapping_override=override,
        )
        return {
            "id": str(row.id),
            "tenant": tenant,
            "name": name,
            "kind": kind,
            "schedule": schedule,
        }

    result = with_runtime(main)
    out.print_json(data=result) if as_json else out.print(
        f"added {result['name']} ({result['id']}) for {tenant}"
    )


@sync_app.command("mapping")
def set_mapping(
    instance: str,
    file: Annotated[Path, typer.Argument(help="YAML: {stream: {fields: …}}")],
    tenant: TenantOption = None,
) -> None:
    """Replace an instance's mapping override (then `sync quarantine replay`)."""
    override = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    if not isinstance(override, dict):
        raise typer.BadParameter("The override must be a YAML mapping of stream names.")
    with_runtime(lambda rt: instances.set_mapping_override(rt, instance, override, tenant))
    out.print(f"mapping override of {instance} updated")


def _result_dict(r: engine.RunResult) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "instance": r.instance,
        "stream": r.stream,
        "status": r.status,
        "full_resync": r.full_resync,
        "error": r.error,
        **r.counts,
    }


@sync_app.command("run")
def run_sync(
    instance: str,
    stream: Annotated[list[str] | None, typer.Option("--stream")] = None,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sync an instance now (all its streams, or those given)."""

    async def main(runtime: Runtime) -> list[engine.RunResult]:
        loaded = await instances.load_instance(runtime, instance, tenant)
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err,
            transient=as_json,
            disable=as_json,
        ) as bar:
            task = bar.add_task(f"{loaded.row.name}", total=None)

            def hook(counts: dict[str, int]) -> None:
                bar.update(
                    task,
                    description=(
                        f"{loaded.row.name}: {counts['pages']} pages, {counts['fetched']} fetched, "
                        f"{counts['created']} new, {counts['updated']} updated, "
                        f"{counts['unchanged']} unchanged, {counts['quarantined']} quarantined"
                    ),
                )

            return await engine.run_instance(runtime, loaded, stream, hook)

    results = with_runtime(main)
    if as_json:
        out.print_json(data=[_result_dict(r) for r in results])
    else:
        for r in results:
            out.print(
                f"{r.stream}: {r.status} "
                + " ".join(f"{k}={v}" for k, v in r.counts.items())
                + (f" error: {r.error}" if r.error else ""),
                soft_wrap=True,
            )
    if any(r.status != "succeeded" for r in results):
        raise typer.Exit(1)


@sync_app.command("status")
def status(tenant: TenantOption = None, limit: int = 20, as_json: JsonOption = False) -> None:
    """Instances and their latest runs with counts."""

    async def main(runtime: Runtime) -> list[dict[str, Any]]:
        rows = []
        for inst in await instances.list_instances(runtime, tenant):
            for run in await engine.list_runs(runtime, inst.tenant, limit=limit):
                if run.instance_id != inst.id:
                    continue
                rows.append(
                    {
                        "tenant": inst.tenant,
                        "instance": inst.name,
                        "stream": run.stream,
                        "run_id": str(run.id),
                        "status": run.status,
                        "started_at": run.started_at.isoformat(),
                        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
                        "pages": run.pages,
                        "fetched": run.fetched,
                        "created": run.created,
                        "updated": run.updated,
                        "unchanged": run.unchanged,
                        "quarantined": run.quarantined,
                        "retries": run.retries,
                        "bookmark_before": run.bookmark_before,
                        "bookmark_after": run.bookmark_after,
                        "error": run.error,
                    }
                )
        return rows

    rows = with_runtime(main)
    if as_json:
        out.print_json(data=rows)
        return
    table = Table(
        "tenant",
        "instance",
        "stream",
        "status",
        "started",
        "pages",
        "fetched",
        "new",
        "upd",
        "same",
        "quar",
        "error",
    )
    for r in rows:
        table.add_row(
            r["tenant"],
            r["instance"],
            r["stream"],
            r["status"],
            r["started_at"][:19],
            *(
                str(r[k])
                for k in ("pages", "fetched", "created", "updated", "unchanged", "quarantined")
            ),
            r["error"] or "",
        )
    out.print(table)


@quarantine_app.command("list")
def quarantine_list(
    instance: str,
    tenant: TenantOption = None,
    all_entries: Annotated[bool, typer.Option("--all", help="Include fixed entries.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Rejected records of an instance with every reason."""

    async def main(runtime: Runtime) -> list[dict[str, Any]]:
        loaded = await instances.load_instance(runtime, instance, tenant)
        entries = await quarantine.list_entries(
            runtime, loaded.row.tenant, instance_id=loaded.row.id, include_fixed=all_entries
        )
        return [
            {
                "id": e.id,
                "stream": e.stream,
                "external_id": e.external_id,
                "position": e.position,
                "reasons": e.reasons,
                "run_id": str(e.run_id),
                "fixed_at": e.fixed_at.isoformat() if e.fixed_at else None,
                "replayed_at": e.replayed_at.isoformat() if e.replayed_at else None,
            }
            for e in entries
        ]

    rows = with_runtime(main)
    if as_json:
        out.print_json(data=rows)
        return
    table = Table("id", "stream", "external id", "row", "reasons")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["stream"],
            r["external_id"] or "",
            str(r["position"] or ""),
            "; ".join(
                f"{x['field'] or x['column']}: {x['reason']} ({x['message']})" for x in r["reasons"]
            ),
        )
    out.print(table)


@quarantine_app.command("replay")
def quarantine_replay(
    instance: str,
    stream: Annotated[list[str] | None, typer.Option("--stream")] = None,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run quarantined records through the instance's current mapping again."""

    async def main(runtime: Runtime) -> list[dict[str, Any]]:
        loaded = await instances.load_instance(runtime, instance, tenant)
        names = stream or [s.name for s in loaded.source.streams(loaded.config)]
        reports = [await quarantine.replay(runtime, loaded, n) for n in names]
        return [
            {
                "stream": n,
                "run_id": r.run_id,
                "replayed": r.replayed,
                "still_failing": r.still_failing,
            }
            for n, r in zip(names, reports, strict=True)
        ]

    rows = with_runtime(main)
    if as_json:
        out.print_json(data=rows)
    else:
        for r in rows:
            out.print(
                f"{r['stream']}: replayed {r['replayed']}, still failing {r['still_failing']}"
            )


@sync_app.command("scheduler")
def scheduler(
    once: Annotated[bool, typer.Option("--once", help="Run what is due, then exit.")] = False,
    tick: Annotated[float, typer.Option(help="Seconds between checks.")] = 30.0,
) -> None:
    """Run due instances (by their schedule); ``--once`` suits a Kubernetes CronJob."""

    async def main(runtime: Runtime) -> int:
        ran = 0
        while True:
            now = clock.now()
            for inst in await instances.list_instances(runtime):
                if not inst.enabled or not inst.schedule:
                    continue
                if not parse_schedule(inst.schedule).is_due(inst.last_run_at, now):
                    continue
                try:
                    loaded = await instances.load_instance(runtime, str(inst.id))
                    for r in await engine.run_instance(runtime, loaded):
                        ran += 1
                        out.print(
                            f"{inst.tenant}/{inst.name}/{r.stream}: {r.status} {r.counts}",
                            soft_wrap=True,
                        )
                except BadInput as exc:
                    err.print(f"{inst.tenant}/{inst.name}: {exc}")
            if once:
                return ran
            await asyncio.sleep(tick)

    ran = with_runtime(main)
    out.print(f"{ran} stream runs")
