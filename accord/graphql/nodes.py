"""Relay's ``node(id)``: any object by its global id."""

from __future__ import annotations

import strawberry

from accord.graphql.context import Context
from accord.graphql.findings.queries import find_finding
from accord.graphql.relay import GlobalId, Node, type_name_of
from accord.platform.errors import BadInput


@strawberry.type
class NodeQueries:
    @strawberry.field(description="The object with this global id, if you may see it.")
    async def node(self, info: strawberry.Info[Context, None], id: strawberry.ID) -> Node | None:
        from accord.graphql.records.nodes import find_node  # the record types import this

        kind = type_name_of(id)
        if kind == "Finding":
            return await find_finding(info, GlobalId.decode(id, expected=kind), None)
        found = await find_node(info, kind, id)
        if found is not None:
            return found
        raise BadInput("Not a global id.", reason="BAD_ID", field="id")
