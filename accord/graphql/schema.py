"""The GraphQL schema of the gateway: each concept's queries merged into one ``Query``.

Resolvers call services; they never write SQL. Nothing is public: every root field answers
UNAUTHENTICATED to an anonymous caller (``accord.graphql.auth.PUBLIC_FIELDS``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from accord.graphql.audits.mutations.plan import PlanJointAuditPayload, plan_joint_audit
from accord.graphql.audits.mutations.raise_finding import (
    RaiseAuditFindingPayload,
    raise_audit_finding,
)
from accord.graphql.audits.mutations.team import AddAuditTeamMemberPayload, add_audit_team_member
from accord.graphql.audits.mutations.verify import VerifyAuditFindingPayload, verify_audit_finding
from accord.graphql.auth import SignedInOnly
from accord.graphql.capas.mutations import CapaMutations
from accord.graphql.capas.queries import CapaCoverageQueries
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
from accord.graphql.reviews.schema import ReviewBundleQueries, ReviewMutations
from accord.graphql.subscriptions import Subscription as RecordSubscriptions
from accord.graphql.tenants import TenantQueries
from accord.graphql.tracing import AccordTracing, trace_root_fields
from accord.graphql.transfers import (
    FindingTransferPayload,
    TransferQueries,
    accept_finding_transfer,
    decline_finding_transfer,
    propose_finding_transfer,
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
    ),
)


@strawberry.type
class RecordMutations:
    raise_finding: RaiseFindingPayload = strawberry.mutation(
        resolver=raise_finding, description="Raise a finding against clauses of the catalog."
    )
    respond_to_finding: RespondToFindingPayload = strawberry.mutation(
        resolver=respond_to_finding, description="Respond to an open or reopened finding."
    )
    transition_finding: TransitionFindingPayload = strawberry.mutation(
        resolver=transition_finding, description="Move a finding to another state."
    )
    propose_finding_transfer: FindingTransferPayload = strawberry.mutation(
        resolver=propose_finding_transfer,
        description="Propose moving a finding from its owner to another organisation.",
    )
    accept_finding_transfer: FindingTransferPayload = strawberry.mutation(
        resolver=accept_finding_transfer,
        description="Accept a proposed finding transfer (the other party); the finding moves.",
    )
    decline_finding_transfer: FindingTransferPayload = strawberry.mutation(
        resolver=decline_finding_transfer,
        description="Decline a proposed finding transfer, or withdraw your own proposal.",
    )
    plan_joint_audit: PlanJointAuditPayload = strawberry.mutation(
        resolver=plan_joint_audit,
        description="Plan a joint audit at a partner, with its closing protocol and lead auditor.",
    )
    add_audit_team_member: AddAuditTeamMemberPayload = strawberry.mutation(
        resolver=add_audit_team_member,
        description="Add a member of any partner to a joint audit's team, for its window.",
    )
    raise_audit_finding: RaiseAuditFindingPayload = strawberry.mutation(
        resolver=raise_audit_finding,
        description="Raise a finding of a joint audit (its team), owned by the audited tenant.",
    )
    verify_audit_finding: VerifyAuditFindingPayload = strawberry.mutation(
        resolver=verify_audit_finding,
        description="Record the verification of a joint audit's finding (its verifier).",
    )


Mutation = merge_types(
    "Mutation", (RecordMutations, IncidentMutations, ReviewMutations, CapaMutations)
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
    if traced:
        trace_root_fields(built._schema)
    return built


schema = schema_for(production=False)
