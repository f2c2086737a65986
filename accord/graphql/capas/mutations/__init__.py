"""CAPA mutations, one per file; each returns a payload with ``errors``."""

from __future__ import annotations

import strawberry

from accord.graphql.capas.mutations.approve import ApproveCapaPlanPayload, approve_capa_plan
from accord.graphql.capas.mutations.complete_action import (
    CompleteCapaActionPayload,
    complete_capa_action,
)
from accord.graphql.capas.mutations.create import CreateCapaPayload, create_capa
from accord.graphql.capas.mutations.plan_check import (
    PlanEffectivenessCheckPayload,
    plan_effectiveness_check,
)
from accord.graphql.capas.mutations.record_effectiveness import (
    RecordCapaEffectivenessPayload,
    record_capa_effectiveness,
)


@strawberry.type
class CapaMutations:
    create_capa: CreateCapaPayload = strawberry.mutation(
        resolver=create_capa,
        description="Plan corrective action for findings, in their owner's store.",
    )
    approve_capa_plan: ApproveCapaPlanPayload = strawberry.mutation(
        resolver=approve_capa_plan,
        description="Approve a CAPA plan (the Accountable party; not its proposer).",
    )
    complete_capa_action: CompleteCapaActionPayload = strawberry.mutation(
        resolver=complete_capa_action,
        description="Report a CAPA action done (its owner, of whichever organisation).",
    )
    plan_effectiveness_check: PlanEffectivenessCheckPayload = strawberry.mutation(
        resolver=plan_effectiveness_check,
        description="Plan a CAPA's effectiveness check: days from today, another party.",
    )
    record_capa_effectiveness: RecordCapaEffectivenessPayload = strawberry.mutation(
        resolver=record_capa_effectiveness,
        description="Record a CAPA's effectiveness (the planned verifier, once due).",
    )
