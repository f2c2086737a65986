"""``agreements`` and ``myAccessLog``: the caller's own organisation's sharing, both ways.

Both answer for the caller's tenant only, to members who may read its records; the access
log shows only reads of record types the caller may read there.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum

import strawberry

from accord.graphql.context import Context
from accord.graphql.pagination import PageInfo, check_first
from accord.graphql.records.common import require_own_gate
from accord.platform import clock
from accord.platform.errors import BadInput
from accord.tenants.agreements import service as agreement_service
from accord.tenants.agreements.access import read_access_log
from accord.tenants.agreements.models import (
    SHAREABLE_RECORD_TYPES,
    AccessLogEntry,
    Agreement,
    AgreementState,
    SharingLevel,
)
from accord.tenants.sessions import tenant_session


@strawberry.enum(name="AgreementLevel", description="How much an agreement shares.")
class AgreementLevelEnum(Enum):
    FULL = SharingLevel.FULL.value
    SUMMARY = SharingLevel.SUMMARY.value
    AGGREGATE = SharingLevel.AGGREGATE.value


@strawberry.enum(
    name="AgreementState",
    description="Stored states, and EXPIRED and PENDING as the clock makes them.",
)
class AgreementStateEnum(Enum):
    PROPOSED = AgreementState.PROPOSED.value
    ACTIVE = AgreementState.ACTIVE.value
    REVOKED = AgreementState.REVOKED.value
    EXPIRED = "expired"
    PENDING = "pending"


@strawberry.enum(name="AgreementRole", description="Your organisation's side of an agreement.")
class AgreementRoleEnum(Enum):
    GRANTOR = "grantor"
    GRANTEE = "grantee"


@strawberry.type(name="Agreement", description="A data-sharing agreement between two tenants.")
class AgreementType:
    id: uuid.UUID
    role: AgreementRoleEnum
    grantor: str
    grantee: str
    record_types: list[str]
    level: AgreementLevelEnum
    min_group_size: int | None
    purpose: str
    valid_from: datetime
    valid_until: datetime | None
    state: AgreementStateEnum
    proposed_by: str
    proposed_at: datetime
    accepted_by: str | None
    accepted_at: datetime | None
    activated_by: str | None
    activated_at: datetime | None
    ended_by: str | None
    ended_at: datetime | None
    end_reason: str | None

    @classmethod
    def from_model(cls, agreement: Agreement, own: str, at: datetime) -> AgreementType:
        granting = agreement.grantor == own
        return cls(
            id=agreement.id,
            role=AgreementRoleEnum.GRANTOR if granting else AgreementRoleEnum.GRANTEE,
            grantor=agreement.grantor,
            grantee=agreement.grantee,
            record_types=sorted(agreement.record_types),
            level=AgreementLevelEnum(agreement.level),
            min_group_size=agreement.min_group_size,
            purpose=agreement.purpose,
            valid_from=agreement.valid_from,
            valid_until=agreement.valid_until,
            state=AgreementStateEnum(agreement.effective_state(at)),
            proposed_by=agreement.proposed_by,
            proposed_at=agreement.proposed_at,
            accepted_by=agreement.accepted_by,
            accepted_at=agreement.accepted_at,
            activated_by=agreement.activated_by,
            activated_at=agreement.activated_at,
            ended_by=agreement.ended_by,
            ended_at=agreement.ended_at,
            end_reason=agreement.end_reason,
        )


@strawberry.type(
    name="AccessLogEntry",
    description="One partner request that read your records: who, under which agreement, "
    "how many records, at which level.",
)
class AccessLogEntryType:
    id: str = strawberry.field(description="The entry's number in your log.")
    at: datetime
    grantee: str
    principal: str = strawberry.field(description="The grantee's caller, 'tenant/subject'.")
    agreement_id: uuid.UUID
    record_type: str
    level: AgreementLevelEnum
    records: int
    request_id: str | None

    @classmethod
    def from_model(cls, entry: AccessLogEntry) -> AccessLogEntryType:
        return cls(
            id=str(entry.id),
            at=entry.at,
            grantee=entry.grantee,
            principal=entry.principal,
            agreement_id=entry.agreement_id,
            record_type=entry.record_type,
            level=AgreementLevelEnum(entry.level),
            records=entry.records,
            request_id=entry.request_id,
        )


@strawberry.type(name="AccessLogEdge")
class AccessLogEdge:
    cursor: str
    node: AccessLogEntryType


@strawberry.type(name="AccessLogConnection")
class AccessLogConnection:
    edges: list[AccessLogEdge]
    page_info: PageInfo


def _entry_id(parts: list[object]) -> int:
    [entry_id] = parts
    if not isinstance(entry_id, int) or isinstance(entry_id, bool):
        raise BadInput("The cursor is not one this API issued.", reason="BAD_CURSOR", field="after")
    return entry_id


@strawberry.type
class AgreementQueries:
    @strawberry.field(
        description="Your organisation's data-sharing agreements, as grantor or grantee, "
        "oldest proposal first."
    )
    async def agreements(
        self,
        info: strawberry.Info[Context, None],
        role: AgreementRoleEnum | None = None,
        state: list[AgreementStateEnum] | None = None,
    ) -> list[AgreementType]:
        context = info.context
        _, own, _ = require_own_gate(
            context, "read", SHAREABLE_RECORD_TYPES, what="read your organisation's agreements"
        )
        async with context.runtime.control_session() as session:
            found = await agreement_service.list_for(session=session, tenant=own)
        now = clock.now()
        shown = [AgreementType.from_model(a, own, now) for a in found]
        return [
            a for a in shown if (role is None or a.role is role) and (not state or a.state in state)
        ]

    @strawberry.field(
        description="Your organisation's access log, newest first: partners' reads of your "
        "records, for the record types you may read. Only the newest page is reachable.",
        deprecation_reason="Use `accessLog`, which pages with cursors through the whole log.",
    )
    async def my_access_log(
        self,
        info: strawberry.Info[Context, None],
        first: int = 50,
        since: datetime | None = None,
    ) -> list[AccessLogEntryType]:
        connection = await access_log_page(info, first=first, after=None, since=since)
        return [edge.node for edge in connection.edges]

    @strawberry.field(
        description="Your organisation's access log, newest first: partners' reads of your "
        "records, for the record types you may read."
    )
    async def access_log(
        self,
        info: strawberry.Info[Context, None],
        first: int = 50,
        after: str | None = None,
        since: datetime | None = None,
    ) -> AccessLogConnection:
        return await access_log_page(info, first=first, after=after, since=since)


async def access_log_page(
    info: strawberry.Info[Context, None], *, first: int, after: str | None, since: datetime | None
) -> AccessLogConnection:
    """A page of the caller's organisation's access log, for the record types it may read."""
    context = info.context
    check_first(first)
    principal, own, readable = require_own_gate(
        context,
        "read",
        [*SHAREABLE_RECORD_TYPES, "capa_action"],
        what="read your organisation's access log",
    )
    fingerprint = context.cursors.fingerprint(
        "accessLog", own, principal.subject, since.isoformat() if since else None
    )
    before = _entry_id(context.cursors.decode_parts(after, fingerprint)) if after else None
    async with tenant_session(context.runtime, own) as session:
        entries = await read_access_log(
            session=session,
            since=since,
            limit=first + 1,
            before_id=before,
            record_types=readable,
        )
    edges = [
        AccessLogEdge(
            cursor=context.cursors.encode_parts(fingerprint, [entry.id]),
            node=AccessLogEntryType.from_model(entry),
        )
        for entry in entries[:first]
    ]
    return AccessLogConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(entries) > first,
            has_previous_page=before is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
