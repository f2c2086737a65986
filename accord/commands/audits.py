"""``accord audits``: the joint audit closing protocol's scheduled work.

``flag-overdue`` flags findings past their response or CAPA-plan deadline in every active
tenant (or the ones named) and notifies the Accountable party; one transaction per
tenant, so a tenant that fails is reported and the others are still flagged. Running it
again the same day changes nothing (a CronJob may run it as often as it likes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated

import typer

from accord.commands._support import JsonOption, err, out
from accord.commands._support import with_synced_runtime as _with_runtime
from accord.compliance.audits.protocol import schemas as protocol_schemas
from accord.compliance.records.day import current_day
from accord.compliance.workflow import deadlines as protocol_deadlines
from accord.platform.errors import AccordError
from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service
from accord.tenants.models import TenantStatus
from accord.tenants.sessions import tenant_session

audits_app = typer.Typer(
    help="Joint audits: the closing protocol's scheduled work.", no_args_is_help=True
)


@dataclass
class OverdueRun:
    flagged: dict[str, list[protocol_schemas.OverdueFlag]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


async def flag_overdue_everywhere(
    runtime: Runtime, *, today: date, tenants: Sequence[str] | None = None
) -> OverdueRun:
    """``protocol.flag_overdue`` in each active tenant (or in ``tenants``)."""
    if tenants is None:
        async with runtime.control_session() as session:
            listed = await tenant_service.list_tenants(session=session, include_offboarded=False)
        tenants = [t.slug for t in listed if t.status is TenantStatus.ACTIVE]
    run = OverdueRun()
    for slug in tenants:
        try:
            async with tenant_session(runtime, slug) as session:
                run.flagged[slug] = await protocol_deadlines.flag_overdue(
                    session=session, today=today
                )
        except AccordError as exc:
            run.failed[slug] = f"{exc.reason}: {exc.message}"
    return run


@audits_app.command("flag-overdue")
def flag_overdue(
    tenant: Annotated[
        list[str] | None, typer.Option("--tenant", help="Only this tenant (repeatable).")
    ] = None,
    on: Annotated[
        str | None, typer.Option("--today", help="The day to judge by (YYYY-MM-DD; default today).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Flag findings past their protocol deadlines and notify the Accountable party."""
    try:
        day = date.fromisoformat(on) if on else current_day()
    except ValueError:
        err.print(f"[red]error[/red] BAD_USER_INPUT/BAD_DATE: {on!r} is not YYYY-MM-DD")
        raise typer.Exit(2) from None

    async def run(runtime: Runtime) -> OverdueRun:
        return await flag_overdue_everywhere(runtime, today=day, tenants=tenant or None)

    result = _with_runtime(run)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "today": day.isoformat(),
                    "flagged": {
                        slug: [
                            {
                                "finding_id": str(f.finding_id),
                                "reference": f.reference,
                                "kind": f.kind.value,
                                "due_on": f.due_on.isoformat(),
                                "notified": f.recipient,
                            }
                            for f in flags
                        ]
                        for slug, flags in result.flagged.items()
                    },
                    "failed": result.failed,
                }
            )
        )
    else:
        total = sum(len(flags) for flags in result.flagged.values())
        for slug, flags in result.flagged.items():
            for f in flags:
                out.print(
                    f"{slug}: {f.reference} {f.kind.value} (due {f.due_on}) → {f.recipient}",
                    soft_wrap=True,
                )
        out.print(f"{total} finding deadline(s) newly overdue in {len(result.flagged)} tenant(s)")
        for slug, problem in result.failed.items():
            err.print(f"[red]not checked[/red] {slug}: {problem}", soft_wrap=True)
    if result.failed:
        raise typer.Exit(1)
