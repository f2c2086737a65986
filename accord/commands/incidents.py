"""``accord incidents``: deliver the incident notifications partners are owed."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from accord.commands._support import JsonOption, err, out, with_runtime
from accord.compliance.incidents.webhooks.flows import deliver_pending
from accord.compliance.incidents.webhooks.schemas import (
    DeliveryOutcome,
    DeliveryPolicy,
    OutcomeStatus,
)
from accord.platform.runtime import Runtime

incidents_app = typer.Typer(
    help="Incident reports: notifications owed to partners.", no_args_is_help=True
)


def _row(o: DeliveryOutcome) -> dict[str, object]:
    return {
        "owner": o.owner,
        "incident": o.incident_reference,
        "partner": o.partner,
        "notification_id": str(o.notification_id) if o.notification_id else None,
        "status": o.status.value,
        "channel": o.channel.value if o.channel else None,
        "code": o.code,
        "message": o.message,
        "delivery_id": str(o.delivery_id) if o.delivery_id else None,
        "attempts": o.attempts,
        "notified_at": o.notified_at.isoformat() if o.notified_at else None,
        "late": o.late,
    }


@incidents_app.command("deliver")
def deliver(
    tenant: Annotated[
        list[str] | None,
        typer.Option(
            "--tenant",
            help="Owner whose notifications to deliver (repeatable); default: every active tenant.",
        ),
    ] = None,
    attempts: Annotated[int, typer.Option(min=1, max=20, help="Attempts per webhook.")] = 5,
    timeout: Annotated[
        float, typer.Option(min=0.1, max=120, help="Seconds to wait for a webhook's answer.")
    ] = 10.0,
    as_json: JsonOption = False,
) -> None:
    """Deliver pending incident notifications (webhooks, or the partner's Accord events).

    For a scheduler (cron, a Kubernetes CronJob): safe to run often and side by side.
    Exits 2 when a delivery failed; the notification stays pending for the next run.
    """
    policy = DeliveryPolicy(attempts=attempts, timeout_seconds=timeout)

    async def run(runtime: Runtime) -> list[DeliveryOutcome]:
        return await deliver_pending(runtime, owners=tenant or None, policy=policy)

    outcomes = with_runtime(run)
    if as_json:
        out.print_json(json.dumps([_row(o) for o in outcomes]))
    elif not outcomes:
        out.print("no incident notifications pending")
    else:
        table = Table(
            "owner",
            "incident",
            "partner",
            "status",
            "channel",
            "code",
            "attempts",
            "late",
            title="Incident notifications",
        )
        for o in outcomes:
            table.add_row(
                o.owner,
                o.incident_reference or "",
                o.partner or "",
                o.status.value,
                o.channel.value if o.channel else "",
                o.code or "",
                str(o.attempts),
                "" if o.late is None else ("late" if o.late else "on time"),
            )
        out.print(table)
    failed = [o for o in outcomes if o.status is OutcomeStatus.FAILED]
    for o in failed:
        err.print(
            f"[red]not delivered[/red] {o.owner} → {o.partner or '?'}: {o.code}: {o.message}",
            soft_wrap=True,
        )
    if failed:
        raise typer.Exit(2)
