"""The GraphQL schema of the gateway: each concept's queries merged into one ``Query``,
each domain's ``…Mutations`` (one per ``graphql/<domain>/mutations`` package, one
operation per file) into one ``Mutation``.

Resolvers call services; they never write SQL. Nothing is public: every root field answers
UNAUTHENTICATED to an anonymous caller (``accord.graphql.auth.PUBLIC_FIELDS``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from accord.graphql.audits.mutations import JointAuditMutations
from accord.graphql.auth import SignedInOnly
from accord.graphql.capas.mutations import CapaMutations
from accord.graphql.capas.queries import CapaCoverageQueries
from accord.graphql.catalog import CatalogQueries
from accord.graphql.dashboard import DashboardQueries
from accord.graphql.docs import describe
from accord.graphql.errors import AccordErrors, AccordProductionErrors, AccordSchema
from accord.graphql.findings.mutations import FindingMutations
from accord.graphql.findings.queries import FindingQueries
from accord.graphql.findings.types import FindingType
from accord.graphql.gaps import GapQueries
from accord.graphql.history import HistoryQueries
from accord.graphql.identity.mutations import IdentityMutations
from accord.graphql.identity.queries import IdentityQueries
from accord.graphql.incidents import IncidentMutations, IncidentSubscription
from accord.graphql.input_limits import declare_limits
from accord.graphql.limits import limit_extensions
from accord.graphql.nodes import NodeQueries
from accord.graphql.records.agreements import AgreementQueries
from accord.graphql.records.audits import AuditQueries
from accord.graphql.records.capas import CapaQueries
from accord.graphql.records.common import SCALARS as RECORD_SCALARS
from accord.graphql.records.evidence import EvidenceQueries
from accord.graphql.records.incidents import IncidentReportQueries
from accord.graphql.records.kpis import KpiQueries
from accord.graphql.records.raci import RaciQueries
from accord.graphql.records.reviews import ManagementReviewQueries
from accord.graphql.records.risks import RiskQueries
from accord.graphql.records.sync_runs import SyncRunQueries
from accord.graphql.reviews.mutations import ReviewMutations
from accord.graphql.reviews.queries import ReviewBundleQueries
from accord.graphql.subscriptions import Subscription as RecordSubscriptions
from accord.graphql.tenants import TenantQueries
from accord.graphql.tracing import AccordTracing, trace_root_fields
from accord.graphql.transfers import (
    TransferQueries,
)

Query = merge_types(
    "Query",
    (
        TenantQueries,
        NodeQueries,
        CatalogQueries,
        FindingQueries,
        AuditQueries,
        CapaQueries,
        CapaCoverageQueries,
        EvidenceQueries,
        ManagementReviewQueries,
        ReviewBundleQueries,
        KpiQueries,
        RiskQueries,
        IncidentReportQueries,
        AgreementQueries,
        RaciQueries,
        SyncRunQueries,
        DashboardQueries,
        GapQueries,
        HistoryQueries,
        TransferQueries,
        IdentityQueries,
    ),
)


Mutation = merge_types(
    "Mutation",
    (
        FindingMutations,
        JointAuditMutations,
        IncidentMutations,
        ReviewMutations,
        CapaMutations,
        IdentityMutations,
    ),
)
Subscription = merge_types("Subscription", (RecordSubscriptions, IncidentSubscription))


@cache
def schema_for(*, production: bool, traced: bool = False) -> AccordSchema:
    """The schema with its limits (those of the mutations' inputs declared in their
    descriptions); in production also without introspection or hints. ``traced``: its
    operations and resolvers become spans of the active telemetry."""
    errors: Callable[[], SchemaExtension] = AccordProductionErrors if production else AccordErrors
    # First, so that its end sees the errors as the caller will (with their codes).
    tracing: list[Callable[[], SchemaExtension]] = [AccordTracing] if traced else []
    built = AccordSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[FindingType],
        extensions=[*tracing, *limit_extensions(production=production), SignedInOnly, errors],
        config=StrawberryConfig(scalar_map=RECORD_SCALARS),
    )
    declare_limits(built._schema)
    describe(built._schema)  # after the limits: they are read from own descriptions only
    if traced:
        trace_root_fields(built._schema)
    return built


schema = schema_for(production=False)
