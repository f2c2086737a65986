"""The GraphQL schema of the gateway: each concept's queries merged into one ``Query``.

Resolvers call services; they never write SQL. Public without a sign-in: ``tenants`` and
``standards``; everything else answers UNAUTHENTICATED to an anonymous caller.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.tools import merge_types

from accord.graphql.catalog import CatalogQueries
from accord.graphql.dashboard import DashboardQueries
from accord.graphql.errors import AccordErrors, AccordProductionErrors, AccordSchema
from accord.graphql.findings.mutations.raise_finding import RaiseFindingPayload, raise_finding
from accord.graphql.findings.mutations.respond import (
    RespondToFindingPayload,
    respond_to_finding,
)
from accord.graphql.findings.mutations.transition import (
    TransitionFindingPayload,
    transition_finding,
)
from accord.graphql.findings.queries import FindingQueries
from accord.graphql.findings.types import FindingType
from accord.graphql.gaps import GapQueries
from accord.graphql.history import HistoryQueries
from accord.graphql.limits import limit_extensions
from accord.graphql.nodes import NodeQueries
from accord.graphql.subscriptions import Subscription
from accord.graphql.tenants import TenantQueries

Query = merge_types(
    "Query",
    (
        TenantQueries,
        NodeQueries,
        CatalogQueries,
        FindingQueries,
        DashboardQueries,
        GapQueries,
        HistoryQueries,
    ),
)


@strawberry.type
class Mutation:
    raise_finding: RaiseFindingPayload = strawberry.mutation(
        resolver=raise_finding, description="Raise a finding against clauses of the catalog."
    )
    respond_to_finding: RespondToFindingPayload = strawberry.mutation(
        resolver=respond_to_finding, description="Respond to an open or reopened finding."
    )
    transition_finding: TransitionFindingPayload = strawberry.mutation(
        resolver=transition_finding, description="Move a finding to another state."
    )


@cache
def schema_for(*, production: bool) -> AccordSchema:
    """The schema with its limits; in production also without introspection or hints."""
    errors: Callable[[], SchemaExtension] = AccordProductionErrors if production else AccordErrors
    return AccordSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[FindingType],
        extensions=[*limit_extensions(production=production), errors],
    )


schema = schema_for(production=False)
