"""Keyset listings and by-id reads of any shareable record type through the federated read
path (``list_records``): both gates, the granted level, the grantors' access logs, cursors
signed for the query, caller and process they came from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar

import strawberry

from accord.compliance.sharing.federation import (
    Condition,
    Ordering,
    Position,
    list_records,
    python_type,
)
from accord.compliance.sharing.reads import SharedRecord
from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.graphql.errors import tenant_errors
from accord.graphql.pagination import PageInfo, check_first
from accord.graphql.relay import GlobalId
from accord.platform.errors import AccordError, BadInput, ErrorCode, NotFound
from accord.policies import service as policy_service

E = TypeVar("E")
Info = strawberry.Info[Context, None]

Process = Annotated[
    str | None,
    strawberry.argument(description="The shared process the read is made in (RACI)."),
]
#: The by-id read's order: any order does for one row; this one every summary owner allows.
BY_ID = Ordering("created_at", descending=True)


async def require_known_process(context: Context, process: str | None) -> None:
    """Refuse a ``process`` no RACI matrix governs (UNKNOWN_PROCESS): a misspelt process
    would otherwise read as the baseline rights, silently returning fewer records."""
    if process is None:
        return
    async with context.runtime.control_session() as session:
        known = await policy_service.governs(session=session, process=process)
    if not known:
        raise BadInput(
            f"No RACI matrix governs process {process!r}.",
            reason="UNKNOWN_PROCESS",
            field="process",
        )


async def connection_page(
    info: Info,
    *,
    record_type: str,
    ordering: Ordering,
    conditions: Sequence[Condition],
    tenants: Sequence[str] | None,
    after: str | None,
    first: int,
    process: str | None,
    query: Sequence[object],
    edge: Callable[[str, SharedRecord], E],
) -> tuple[list[E], PageInfo]:
    """One keyset page of ``record_type`` across every owner the caller may read.

    ``query`` names the listing and its arguments (order, normalised filter): a cursor
    is accepted only by the query, caller and process it came from.
    """
    context = info.context
    principal, _ = require_tenant(context)
    check_first(first)
    await require_known_process(context, process)
    fingerprint = context.cursors.fingerprint(
        *query, record_type, principal.tenant, principal.subject, process
    )
    start = (
        Position.from_json(
            context.cursors.decode_parts(after, fingerprint),
            python_type(record_type, ordering.column),
        )
        if after is not None
        else None
    )
    page = await list_records(
        context.runtime,
        authorizer=context.authorizer,
        principal=principal,
        record_type=record_type,
        ordering=ordering,
        conditions=conditions,
        tenants=tenants,
        after=start,
        first=first,
        process=process,
        request_id=context.request_id,
    )
    context.errors.extend(tenant_errors(info, page.errors))
    cursors = [context.cursors.encode_parts(fingerprint, p.as_json()) for p in page.positions]
    edges = [edge(c, r) for c, r in zip(cursors, page.records, strict=True)]
    return edges, PageInfo(
        has_next_page=page.has_next,
        has_previous_page=start is not None,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )


async def find_record(
    info: Info, *, gid: GlobalId, record_type: str, process: str | None, noun: str
) -> SharedRecord:
    """One record by its global id, at the level the caller may see it, or NOT_FOUND."""
    context = info.context
    principal, _ = require_tenant(context)
    await require_known_process(context, process)
    page = await list_records(
        context.runtime,
        authorizer=context.authorizer,
        principal=principal,
        record_type=record_type,
        ordering=BY_ID,
        conditions=[Condition("id", "eq", gid.record_id)],
        tenants=[gid.tenant],
        first=1,
        process=process,
        request_id=context.request_id,
    )
    for failure in page.errors:
        if failure.tenant == gid.tenant:
            raise AccordError(
                failure.message, reason="OWNER_UNREADABLE", code=ErrorCode.TENANT_UNAVAILABLE
            )
    if page.records:
        return page.records[0]
    # Missing, or not shared with you: the same answer, so ids reveal nothing.
    reason = noun.upper().replace(" ", "_") + "_NOT_FOUND"
    raise NotFound(f"No such {noun}.", reason=reason, field="id")
