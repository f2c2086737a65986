"""Subscriptions (graphql-transport-ws): finding events and sync progress, fed by Postgres
LISTEN/NOTIFY so that a change committed through any replica reaches every subscriber."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from accord.compliance.sharing.live import finding_events
from accord.connectors.sync.progress import sync_progress
from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.graphql.findings.types import SharingLevelEnum
from accord.graphql.relay import GlobalId
from accord.platform.errors import AccordError, ErrorCode
from accord.platform.notifications import NotificationHub


@strawberry.type(name="FindingEvent", description="Something that happened to a finding.")
class FindingEventType:
    finding_id: strawberry.ID
    tenant: str
    level: SharingLevelEnum
    seq: int = strawberry.field(description="Position in the owner's event log.")
    at: datetime
    action: str = strawberry.field(description="e.g. finding.raised, finding.transitioned")
    actor: str | None = strawberry.field(description="Null at the summary level.")
    change: JSON | None = strawberry.field(description="Null at the summary level.")


@strawberry.input(description="Which finding events to receive; every given part must match.")
class FindingEventFilter:
    tenants: list[str] | None = None
    actions: list[str] | None = None


@strawberry.type(name="SyncProgress", description="A sync run's counts after a page.")
class SyncProgressType:
    run_id: uuid.UUID
    status: str
    stream: str
    instance: str
    pages: int
    fetched: int
    created: int
    updated: int
    unchanged: int
    quarantined: int
    error: str | None


def _hub(context: Context) -> NotificationHub:
    if context.hub is None:
        raise AccordError(
            "Subscriptions are not available on this server.",
            reason="NO_SUBSCRIPTIONS",
            code=ErrorCode.INTERNAL,
        )
    return context.hub


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Finding events from now on, of every organisation you may read at the "
        "moment each event arrives, at the level it granted you."
    )
    async def finding_events(
        self,
        info: strawberry.Info[Context, None],
        filter: FindingEventFilter | None = None,
        process: str | None = None,
    ) -> AsyncGenerator[FindingEventType, None]:
        context = info.context
        principal, _ = require_tenant(context)
        wanted = filter or FindingEventFilter()
        async for event in finding_events(
            context.runtime,
            _hub(context),
            authorizer=context.authorizer,
            principal=principal,
            process=process,
            tenants=wanted.tenants,
            actions=wanted.actions,
            request_id=context.request_id,
        ):
            yield FindingEventType(
                finding_id=GlobalId("Finding", event.owner, uuid.UUID(event.record_id)).encode(),
                tenant=event.owner,
                level=SharingLevelEnum(event.level.value),
                seq=event.seq,
                at=event.at,
                action=event.action,
                actor=event.actor,
                change=cast(JSON, event.change),
            )

    @strawberry.subscription(description="A sync run's progress, page by page, until it ends.")
    async def sync_progress(
        self, info: strawberry.Info[Context, None], run_id: uuid.UUID
    ) -> AsyncGenerator[SyncProgressType, None]:
        context = info.context
        principal, _ = require_tenant(context)
        async for p in sync_progress(
            context.runtime,
            _hub(context),
            authorizer=context.authorizer,
            principal=principal,
            run_id=run_id,
        ):
            yield SyncProgressType(
                run_id=uuid.UUID(str(p["run"])),
                status=str(p["status"]),
                stream=str(p["stream"]),
                instance=str(p["instance"]),
                pages=int(p["pages"]),
                fetched=int(p["fetched"]),
                created=int(p["created"]),
                updated=int(p["updated"]),
                unchanged=int(p["unchanged"]),
                quarantined=int(p["quarantined"]),
                error=p.get("error"),
            )
