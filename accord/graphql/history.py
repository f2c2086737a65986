"""``history(id)``: a record's entries in its owner's event log (own organisation only)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from accord.compliance.records.history import record_events
from accord.graphql.auth import require_own_tenant
from accord.graphql.context import Context
from accord.graphql.relay import GlobalId, type_name_of
from accord.platform.errors import BadInput, Forbidden
from accord.policies.schemas import Resource
from accord.tenants.sessions import tenant_session

#: Global id type name → (the event log's record type, the action gate's record type).
RECORD_TYPES: dict[str, tuple[str, str]] = {
    "Finding": ("finding", "finding"),
    "Audit": ("audit", "audit"),
    "Capa": ("capa", "capa"),
    "Evidence": ("evidence", "evidence"),
    "ManagementReview": ("management_review", "management_review"),
    "Kpi": ("kpi", "kpi"),
    "Risk": ("risk", "risk"),
    "IncidentReport": ("incident_report", "incident"),
}


@strawberry.type
class HistoryEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    change: JSON
    hash: str = strawberry.field(description="SHA-256 of the entry, chained to the previous.")


@strawberry.type
class HistoryQueries:
    @strawberry.field(description="The event log of one of your organisation's records.")
    async def history(
        self, info: strawberry.Info[Context, None], id: strawberry.ID
    ) -> list[HistoryEntry]:
        context = info.context
        kind = type_name_of(id)
        if kind not in RECORD_TYPES:
            raise BadInput(
                "Not the global id of a record with a history.", reason="BAD_ID", field="id"
            )
        gid = GlobalId.decode(id, expected=kind)
        principal = require_own_tenant(context, gid.tenant)
        record_type, gate_type = RECORD_TYPES[gid.type_name]
        resource = Resource(gid.tenant, gate_type)
        if not context.authorizer.authorize(principal, "read", resource).allowed:
            raise Forbidden(f"You may not read {gate_type} records.", reason="NO_READ")
        async with tenant_session(context.runtime, gid.tenant) as session:
            entries = await record_events(
                session=session, record_type=record_type, record_id=str(gid.record_id)
            )
        return [
            HistoryEntry(
                seq=e.seq,
                at=e.at,
                actor=e.actor,
                action=e.action,
                change=JSON(e.change),
                hash=e.hash,
            )
            for e in entries
        ]
