"""``accord eventlog``: verify a tenant's tamper-evident event log."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from accord.commands._support import JsonOption, out
from accord.commands._support import with_synced_runtime as _with_runtime
from accord.platform.eventlog import verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session

eventlog_app = typer.Typer(
    help="The tamper-evident event logs: one hash chain per tenant.", no_args_is_help=True
)


@eventlog_app.command("verify")
def eventlog_verify(
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
