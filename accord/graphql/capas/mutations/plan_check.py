"""``planEffectivenessCheck``: when, and by whom of another organisation, the CAPA's
effectiveness is checked.

Planning the check is part of planning corrective action: ``propose_capa`` on the owner's
CAPAs under the process named. The service's rules: due a number of days from today,
the verifier of neither the owner nor any action owner's organisation. An implemented
CAPA enters its check at once.
"""

from __future__ import annotations

import strawberry

from accord.compliance.capa import flows as capa_flows
from accord.compliance.capa.models import Capa
from accord.graphql.auth import require_principal
from accord.graphql.capas.access import Step, change_capa
from accord.graphql.context import Context
from accord.graphql.errors import CapaError
from accord.graphql.listing import Process
from accord.graphql.records.capas import CapaNode
from accord.platform.errors import AccordError

PLAN_ACTION = "propose_capa"


@strawberry.input
class PlanEffectivenessCheckInput:
    after_days: int = strawberry.field(
        description=f"The check is due this many days from today (1-{capa_flows.MAX_CHECK_DAYS})."
    )
    verifier_tenant: str = strawberry.field(
        description="The organisation that checks: neither the owner nor an action owner's."
    )
    verifier_subject: str = strawberry.field(description="The person there who checks.")


@strawberry.type
class PlanEffectivenessCheckPayload:
    capa: CapaNode | None
    errors: list[CapaError]


async def plan_effectiveness_check(
    info: strawberry.Info[Context, None],
    id: strawberry.ID,
    input: PlanEffectivenessCheckInput,
    process: Process = None,
) -> PlanEffectivenessCheckPayload:
    require_principal(info.context)

    async def plan(step: Step) -> Capa:
        return await capa_flows.plan_effectiveness_check(
            session=step.session,
            capa=step.capa,
            owner=step.owner,
            check={
                "after_days": input.after_days,
                "verifier": {"tenant": input.verifier_tenant, "subject": input.verifier_subject},
            },
            actor=step.caller.actor,
        )

    try:
        changed = await change_capa(
            info.context,
            id=id,
            action=PLAN_ACTION,
            process=process,
            attempt="plan_effectiveness_check",
            change=plan,
        )
    except AccordError as exc:
        return PlanEffectivenessCheckPayload(capa=None, errors=[CapaError.of(exc)])
    return PlanEffectivenessCheckPayload(capa=changed.capa, errors=[])
