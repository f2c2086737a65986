"""Both gates before a finding changes, then the change in the owner's tenant session.

Sovereignty: another organisation's finding may be changed only under an active agreement
sharing its findings with the caller's organisation (at ``full`` or ``summary``); the
answer comes back at that level. Action: Casbin decides ``authorize(principal, action,
Resource(owner, "finding", process))``. A refusal is FORBIDDEN, except that a finding the
caller could not even see is NOT_FOUND, so ids probe nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.findings import service as finding_service
from accord.compliance.findings.models import Finding
from accord.graphql.audits.access import (
    Caller,
    log_refusal,
    may_read,
    require_action,
    sovereign,
)
from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.graphql.findings.types import FindingType
from accord.graphql.relay import GlobalId
from accord.platform.errors import AccordError, BadInput, Forbidden, NotFound
from accord.policies.schemas import Resource
from accord.tenants.agreements.models import SharingLevel
from accord.tenants.sessions import tenant_session

#: What a mutation does to a finding, given its session, the finding and the actor.
Change = Callable[[AsyncSession, Finding, str], Awaitable[Finding]]


@dataclass(frozen=True, slots=True)
class Clearance:
    owner: str
    level: SharingLevel
    actor: str


def not_found() -> NotFound:
    return NotFound("No such finding.", reason="FINDING_NOT_FOUND", field="id")


async def clear(
    context: Context,
    *,
    owner: str,
    action: str,
    process: str | None,
    unshared: Callable[[], AccordError] = not_found,
) -> Clearance:
    """Pass both gates for ``action`` on ``owner``'s findings, or raise the refusal."""
    caller = await sovereign(context, owner=owner, record_type="finding", unshared=unshared)
    require_action(context, caller, action, Resource(owner, "finding", process))
    return Clearance(owner, caller.level, caller.actor)


async def change_finding(
    context: Context, *, id: str, action: str, process: str | None, change: Change
) -> FindingType:
    gid = GlobalId.decode(id, expected="Finding")
    level: SharingLevel | None = None
    try:
        clearance = await clear(context, owner=gid.tenant, action=action, process=process)
        level = clearance.level
        async with tenant_session(context.runtime, gid.tenant) as session:
            finding = await finding_service.get_finding(session=session, finding_id=gid.record_id)
            finding = await change(session, finding, clearance.actor)
            return FindingType.from_model(gid.tenant, clearance.level, finding)
    except AccordError as error:
        # Malformed input reached no decision; a refused decision is worth keeping.
        if not isinstance(error, BadInput) and (isinstance(error, Forbidden) or level is not None):
            # A caller with standing was refused: the attempt goes to the owner's log (in
            # its own transaction, since the refused one rolled back).
            await _log_refusal(
                context, gid, action, level or SharingLevel.SUMMARY, error, process=process
            )
        raise


async def _log_refusal(
    context: Context,
    gid: GlobalId,
    action: str,
    level: SharingLevel,
    error: AccordError,
    *,
    process: str | None,
) -> None:
    principal, own = require_tenant(context)
    caller = Caller(principal, own, level)
    if not may_read(context, caller, Resource(gid.tenant, "finding", process)):
        return  # the finding does not exist for this caller: nothing to tell its owner
    await log_refusal(
        context,
        owner=gid.tenant,
        record_type="finding",
        record_id=gid.record_id,
        caller=caller,
        attempt=action,
        error=error,
    )
