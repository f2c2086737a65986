"""``syncRuns``: the caller's own organisation's connector sync runs, newest first."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum

import strawberry

from accord.connectors.models import SyncRun
from accord.connectors.sync import queries as sync_queries
from accord.graphql.context import Context
from accord.graphql.pagination import PageInfo, check_first
from accord.graphql.records.common import require_own_gate
from accord.platform.errors import BadInput
from accord.policies.vocab import RECORD_TYPES
from accord.tenants.sessions import tenant_session


@strawberry.enum(name="SyncRunStatus")
class SyncRunStatusEnum(Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@strawberry.type(name="SyncRun", description="One run of one connector stream, with its counts.")
class SyncRunType:
    id: uuid.UUID
    instance_id: uuid.UUID
    instance_name: str
    stream: str
    kind: str = strawberry.field(description="The connector kind, e.g. 'sap_qm'.")
    status: SyncRunStatusEnum
    started_at: datetime
    heartbeat_at: datetime
    ended_at: datetime | None
    pages: int
    fetched: int
    created: int
    updated: int
    unchanged: int
    quarantined: int
    retries: int
    full_resync: bool
    error: str | None

    @classmethod
    def from_model(cls, run: SyncRun) -> SyncRunType:
        return cls(
            id=run.id,
            instance_id=run.instance_id,
            instance_name=run.instance_name,
            stream=run.stream,
            kind=run.kind,
            status=SyncRunStatusEnum(run.status),
            started_at=run.started_at,
            heartbeat_at=run.heartbeat_at,
            ended_at=run.ended_at,
            pages=run.pages,
            fetched=run.fetched,
            created=run.created,
            updated=run.updated,
            unchanged=run.unchanged,
            quarantined=run.quarantined,
            retries=run.retries,
            full_resync=run.full_resync,
            error=run.error,
        )


@strawberry.type(name="SyncRunEdge")
class SyncRunEdge:
    cursor: str
    node: SyncRunType


@strawberry.type(name="SyncRunConnection")
class SyncRunConnection:
    edges: list[SyncRunEdge]
    page_info: PageInfo


def _position(parts: list[object]) -> tuple[datetime, uuid.UUID]:
    try:
        started, run_id = parts
        return datetime.fromisoformat(str(started)), uuid.UUID(str(run_id))
    except (TypeError, ValueError):
        raise BadInput("The cursor is malformed.", reason="BAD_CURSOR", field="after") from None


@strawberry.type
class SyncRunQueries:
    @strawberry.field(
        description="Your organisation's connector sync runs, newest first (members who may "
        "read its records)."
    )
    async def sync_runs(
        self,
        info: strawberry.Info[Context, None],
        first: int = 20,
        after: str | None = None,
        instance_id: uuid.UUID | None = None,
        stream: str | None = None,
        status: SyncRunStatusEnum | None = None,
    ) -> SyncRunConnection:
        context = info.context
        principal, own, _ = require_own_gate(
            context, "read", RECORD_TYPES, what="read your organisation's sync runs"
        )
        check_first(first)
        fingerprint = context.cursors.fingerprint(
            "syncRuns",
            own,
            principal.subject,
            instance_id,
            stream,
            status.value if status else None,
        )
        start = _position(context.cursors.decode_parts(after, fingerprint)) if after else None
        async with tenant_session(context.runtime, own) as session:
            runs = await sync_queries.list_runs(
                session=session,
                limit=first + 1,
                after=start,
                instance_id=instance_id,
                stream=stream,
                status=status.value if status else None,
            )
        edges = [
            SyncRunEdge(
                cursor=context.cursors.encode_parts(
                    fingerprint, [run.started_at.isoformat(), str(run.id)]
                ),
                node=SyncRunType.from_model(run),
            )
            for run in runs[:first]
        ]
        return SyncRunConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(runs) > first,
                has_previous_page=start is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )
