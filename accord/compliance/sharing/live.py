"""Live reads: finding events as they are committed, on any replica.

They ride the notification hub (LISTEN/NOTIFY from the tenant triggers). A finding event
is delivered only if, at the moment it arrives, the subscriber may read findings of its
owner (both gates, as for any read: ``plan_owners`` per notification, so a revocation or
a RACI change holds from the next event) and only at the granted level: ``summary``
receives what happened to which finding and when, never who did it or the change's text;
``aggregate`` receives nothing. Grantors log each delivery like any cross-tenant read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from accord.compliance.sharing.federation import log_reads, owner_stores
from accord.compliance.sharing.reads import plan_owners
from accord.platform import clock
from accord.platform.eventlog import EventLogEntry
from accord.platform.notifications import NotificationHub
from accord.platform.runtime import Runtime
from accord.policies.engine import Authorizer
from accord.policies.schemas import Actor
from accord.tenants.agreements.models import SharingLevel
from accord.tenants.sessions import tenant_session

TENANT_SCHEMA_PREFIX = "t_"


@dataclass(frozen=True, slots=True)
class LiveEvent:
    owner: str
    level: SharingLevel
    seq: int
    at: datetime
    action: str
    record_id: str
    #: None at the summary level
    actor: str | None
    change: dict[str, Any] | None


async def _events(
    runtime: Runtime, owner: str, first: int, last: int, record_type: str
) -> Sequence[EventLogEntry]:
    async with tenant_session(runtime, owner) as session:
        rows = await session.scalars(
            select(EventLogEntry)
            .where(
                EventLogEntry.seq.between(first, last),
                EventLogEntry.record_type == record_type,
            )
            .order_by(EventLogEntry.seq)
        )
        return rows.all()


async def finding_events(
    runtime: Runtime,
    hub: NotificationHub,
    *,
    authorizer: Authorizer,
    principal: Actor,
    process: str | None = None,
    tenants: Sequence[str] | None = None,
    actions: Sequence[str] | None = None,
    request_id: str | None = None,
) -> AsyncIterator[LiveEvent]:
    """Finding events from now on, of every owner the principal may read at that moment."""
    async with hub.subscribe("accord_events") as notes:
        async for note in notes:
            schema = str(note.payload.get("schema", ""))
            owner = schema.removeprefix(TENANT_SCHEMA_PREFIX)
            if not schema.startswith(TENANT_SCHEMA_PREFIX) or (tenants and owner not in tenants):
                continue
            plan = await plan_owners(
                runtime,
                authorizer=authorizer,
                principal=principal,
                record_type="finding",
                process=process,
            )
            planned = next(
                (o for o in plan if o.owner == owner and o.level is not SharingLevel.AGGREGATE),
                None,
            )
            if planned is None:
                continue
            events = [
                e
                for e in await _events(
                    runtime, owner, int(note.payload["first"]), int(note.payload["last"]), "finding"
                )
                if not actions or e.action in actions
            ]
            if not events:
                continue
            if planned.grant is not None:
                by_store, _ = owner_stores([planned])
                failed = await log_reads(
                    runtime,
                    principal=principal,
                    request_id=request_id,
                    reads=[(store, planned, "finding", len(events)) for store in by_store],
                    at=clock.now().astimezone(),
                    within=10.0,
                )
                if failed or not by_store:
                    continue  # nothing leaves without its log entry
            full = planned.level is SharingLevel.FULL
            for e in events:
                yield LiveEvent(
                    owner=owner,
                    level=planned.level,
                    seq=e.seq,
                    at=e.at,
                    action=e.action,
                    record_id=e.record_id,
                    actor=e.actor if full else None,
                    change=dict(e.change) if full else None,
                )
