"""The record types' by-id reads by global-id type name, for Relay's ``node(id:)``
and ``nodes(ids:)`` (``accord.graphql.nodes``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from accord.graphql.context import Context
from accord.graphql.records.audits import find_audit
from accord.graphql.records.capas import find_capa
from accord.graphql.records.evidence import find_evidence
from accord.graphql.records.incidents import find_incident
from accord.graphql.records.kpis import find_kpi
from accord.graphql.records.reviews import find_review
from accord.graphql.records.risks import find_risk
from accord.graphql.relay import GlobalId, Node

Finder = Callable[[strawberry.Info[Context, None], GlobalId, str | None], Awaitable[Node]]

FINDERS: dict[str, Finder] = {
    "Audit": find_audit,
    "Capa": find_capa,
    "Evidence": find_evidence,
    "ManagementReview": find_review,
    "Kpi": find_kpi,
    "Risk": find_risk,
    "IncidentReport": find_incident,
}
