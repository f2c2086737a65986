"""Relay's ``node(id:)`` and ``nodes(ids:)``: any object by its global id.

An id that names no record, or one the caller may not see, is answered with null, not an
error (Relay's contract, and it still probes nothing: both look the same). A malformed id
is the caller's mistake (BAD_USER_INPUT); an owner whose store is down is an error too
(TENANT_UNAVAILABLE), since the record may well exist.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import strawberry

from accord.graphql.context import Context
from accord.graphql.findings.queries import find_finding
from accord.graphql.listing import Process
from accord.graphql.pagination import MAX_PAGE
from accord.graphql.relay import GlobalId, Node, type_name_of
from accord.platform.errors import BadInput, NotFound


async def _node(info: strawberry.Info[Context, None], id: str, process: str | None) -> Node | None:
    from accord.graphql.records.nodes import FINDERS  # the record types import this module

    kind = type_name_of(id)
    try:
        if kind == "Finding":
            return await find_finding(info, GlobalId.decode(id, expected=kind), process)
        finder = FINDERS.get(kind)
        if finder is None:
            return None
        return await finder(info, GlobalId.decode(id, expected=kind), process)
    except NotFound:
        return None


@strawberry.type
class NodeQueries:
    @strawberry.field(
        description="The object with this global id; null when there is none you may see."
    )
    async def node(
        self,
        info: strawberry.Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")],
        process: Process = None,
    ) -> Node | None:
        return await _node(info, id, process)

    @strawberry.field(
        description=f"The objects with these global ids, in the same order; null for each "
        f"that there is none you may see. At most {MAX_PAGE} ids."
    )
    async def nodes(
        self,
        info: strawberry.Info[Context, None],
        ids: Annotated[
            list[strawberry.ID],
            strawberry.argument(description=f"Global ids, at most {MAX_PAGE}."),
        ],
        process: Process = None,
    ) -> list[Node | None]:
        if len(ids) > MAX_PAGE:
            raise BadInput(f"At most {MAX_PAGE} ids at once.", reason="TOO_MANY", field="ids")
        return list(await asyncio.gather(*(_node(info, id, process) for id in ids)))
