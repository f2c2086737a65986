"""Both gates before a CAPA changes, the change in the owner's session, and refused attempts.

Sovereignty: another organisation's CAPA may be changed only under an active agreement
sharing ``capa`` records with the caller's organisation (``full`` or ``summary``); without
one the CAPA does not exist for the caller (NOT_FOUND), so ids probe nothing. Action:
Casbin decides ``authorize(principal, action, Resource(owner, "capa", process))``.

A refusal once the caller passed the sovereignty gate rolls the attempt back and is then
written to the owner's event log (``capa.refused``) in a transaction of its own.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.capa import service as capa_service
from accord.compliance.capa.models import Capa, CapaAction
from accord.compliance.records.refusals import record_refusal
from accord.compliance.sharing.reads import SharedRecord
from accord.graphql.audits.access import (
    Caller,
    may_read,
    require_action,
    sovereign,
    worth_logging,
)
from accord.graphql.context import Context
from accord.graphql.records.capas import RECORD_TYPE, CapaActionNode, CapaNode
from accord.graphql.records.loaders import ACTION_SUMMARY_FIELDS
from accord.graphql.relay import GlobalId
from accord.platform.errors import AccordError, NotFound
from accord.policies.schemas import Resource
from accord.tenants.agreements.models import SharingLevel
from accord.tenants.sessions import tenant_session

log = logging.getLogger("accord.graphql")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Step:
    """A CAPA that passed both gates, in its owner's session, and who is changing it."""

    session: AsyncSession
    owner: str
    capa: Capa
    caller: Caller


#: What a mutation does to a CAPA once both gates are passed.
Change = Callable[[Step], Awaitable[T]]


def capa_not_found() -> NotFound:
    return NotFound("No such CAPA.", reason="CAPA_NOT_FOUND", field="id")


@dataclass(frozen=True, slots=True)
class Changed(Generic[T]):
    capa: CapaNode
    result: T


async def capa_node(
    session: AsyncSession, owner: str, level: SharingLevel, capa: Capa, process: str | None
) -> CapaNode:
    """``capa`` as the caller may see it, read back after the change."""
    await session.flush()
    await session.refresh(capa)
    fields = {c.key: getattr(capa, c.key) for c in Capa.__table__.c}
    record = SharedRecord(owner=owner, level=level.value, record_type=RECORD_TYPE, fields=fields)
    return CapaNode.from_shared(record, process)


def action_node(level: SharingLevel, action: CapaAction) -> CapaActionNode:
    fields = {c.key: getattr(action, c.key) for c in CapaAction.__table__.c}
    if level is not SharingLevel.FULL:
        fields = {k: v for k, v in fields.items() if k in ACTION_SUMMARY_FIELDS}
    return CapaActionNode.from_fields(level, fields)


async def change_capa(
    context: Context,
    *,
    id: str,
    action: str,
    process: str | None,
    attempt: str,
    change: Change[T],
) -> Changed[T]:
    """Pass both gates for ``action`` on the CAPA ``id``, then ``change`` it in its owner's
    session; a refusal is logged there and raised."""
    caller: Caller | None = None
    gid: GlobalId | None = None
    try:
        gid = GlobalId.decode(id, expected="Capa")
        caller = await sovereign(
            context, owner=gid.tenant, record_type=RECORD_TYPE, unshared=capa_not_found
        )
        require_action(context, caller, action, Resource(gid.tenant, RECORD_TYPE, process))
        async with tenant_session(context.runtime, gid.tenant) as session:
            capa = await capa_service.get_capa(session=session, capa_id=gid.record_id)
            result = await change(Step(session, gid.tenant, capa, caller))
            node = await capa_node(session, gid.tenant, caller.level, capa, process)
    except AccordError as error:
        if (
            caller is not None
            and gid is not None
            and may_read(context, caller, Resource(gid.tenant, RECORD_TYPE, process))
        ):
            await log_capa_refusal(
                context,
                owner=gid.tenant,
                capa_id=gid.record_id,
                caller=caller,
                attempt=attempt,
                error=error,
            )
        raise
    return Changed(node, result)


async def log_capa_refusal(
    context: Context,
    *,
    owner: str,
    capa_id: uuid.UUID,
    caller: Caller,
    attempt: str,
    error: AccordError,
) -> None:
    """Write the refused attempt to ``owner``'s log, against a CAPA that exists."""
    if not worth_logging(error):
        return
    try:
        async with tenant_session(context.runtime, owner) as session:
            await capa_service.get_capa(session=session, capa_id=capa_id)
            await record_refusal(
                session=session,
                actor=caller.actor,
                record_type=RECORD_TYPE,
                record_id=capa_id,
                attempt=attempt,
                error=error,
            )
    except AccordError as exc:
        log.warning("refused %s on %s/%s not logged: %s", attempt, owner, capa_id, exc)
