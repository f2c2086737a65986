"""``accord agreement``: data-sharing agreements between partner tenants."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from accord.commands._support import JsonOption, out
from accord.commands._support import with_synced_runtime as _with_runtime
from accord.platform import clock
from accord.platform.errors import BadInput
from accord.platform.runtime import Runtime
from accord.tenants.agreements import service as agreements
from accord.tenants.agreements.models import Agreement

CLI_ACTOR = "accord-cli"

agreement_app = typer.Typer(
    help="Data-sharing agreements: the grantee accepts, the grantor activates, either revokes.",
    no_args_is_help=True,
)
TenantOption = Annotated[str, typer.Option("--tenant", help="The tenant acting (a party).")]


def _dict(a: Agreement) -> dict[str, Any]:
    return {
        "id": str(a.id),
        "grantor": a.grantor,
        "grantee": a.grantee,
        "record_types": a.record_types,
        "level": a.level,
        "min_group_size": a.min_group_size,
        "purpose": a.purpose,
        "valid_from": a.valid_from.isoformat(),
        "valid_until": a.valid_until.isoformat() if a.valid_until else None,
        "state": a.effective_state(clock.now()),
    }


def _id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadInput(f"{value!r} is not an agreement id.", reason="BAD_ID", field="id") from None


@agreement_app.command("propose")
def propose(
    grantor: Annotated[str, typer.Option(help="Tenant whose records are shared.")],
    grantee: Annotated[str, typer.Option(help="Tenant that may read them.")],
    types: Annotated[str, typer.Option(help="Record types, comma-separated, e.g. finding,capa.")],
    level: Annotated[str, typer.Option(help="full, summary or aggregate.")],
    purpose: Annotated[str, typer.Option(help="Why the records are shared.")],
    min_group_size: Annotated[
        int | None, typer.Option(help="Aggregate level: smallest group shown.")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(help="End of validity (ISO date or date-time, UTC).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Propose an agreement; it is active once the grantee accepts and the grantor activates."""

    async def run(runtime: Runtime) -> Agreement:
        async with runtime.control_session() as session:
            return await agreements.propose(
                session=session,
                grantor=grantor,
                grantee=grantee,
                record_types=[t.strip() for t in types.split(",") if t.strip()],
                level=level,
                purpose=purpose,
                proposed_by=CLI_ACTOR,
                min_group_size=min_group_size,
                valid_until=until.replace(tzinfo=until.tzinfo or UTC) if until else None,
            )

    agreement = _with_runtime(run)
    if as_json:
        out.print_json(json.dumps(_dict(agreement)))
    else:
        out.print(f"proposed agreement {agreement.id} ({grantor} → {grantee}, {level})")


def _act(action: str, agreement_id: str, tenant: str, reason: str | None = None) -> None:
    async def run(runtime: Runtime) -> Agreement:
        async with runtime.control_session() as session:
            if action == "accept":
                return await agreements.accept(
                    session=session, agreement_id=_id(agreement_id), tenant=tenant, actor=CLI_ACTOR
                )
            if action == "activate":
                return await agreements.activate(
                    session=session, agreement_id=_id(agreement_id), tenant=tenant, actor=CLI_ACTOR
                )
            return await agreements.revoke(
                session=session,
                agreement_id=_id(agreement_id),
                tenant=tenant,
                actor=CLI_ACTOR,
                reason=reason or "",
            )

    agreement = _with_runtime(run)
    out.print(f"agreement {agreement.id} is {agreement.state}")


@agreement_app.command("accept")
def accept(agreement_id: str, tenant: TenantOption) -> None:
    """The grantee accepts a proposed agreement."""
    _act("accept", agreement_id, tenant)


@agreement_app.command("activate")
def activate(agreement_id: str, tenant: TenantOption) -> None:
    """The grantor activates a proposed agreement."""
    _act("activate", agreement_id, tenant)


@agreement_app.command("revoke")
def revoke(
    agreement_id: str,
    tenant: TenantOption,
    reason: Annotated[str, typer.Option(help="Why the agreement ends.")],
) -> None:
    """Either party ends an agreement; it stops applying on the next request."""
    _act("revoke", agreement_id, tenant, reason)


@agreement_app.command("list")
def list_agreements(tenant: TenantOption, as_json: JsonOption = False) -> None:
    """Agreements the tenant grants or receives."""

    async def run(runtime: Runtime) -> list[dict[str, Any]]:
        async with runtime.control_session() as session:
            return [_dict(a) for a in await agreements.list_for(session=session, tenant=tenant)]

    rows = _with_runtime(run)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("id", "grantor", "grantee", "types", "level", "state")
    for r in rows:
        table.add_row(
            r["id"], r["grantor"], r["grantee"], ",".join(r["record_types"]), r["level"], r["state"]
        )
    out.print(table)
