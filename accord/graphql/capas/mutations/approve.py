"""``approveCapaPlan``: the Accountable party approves a CAPA plan (planned → approved).

Gates: the owner shares CAPAs with the caller's organisation; ``approve`` on its CAPAs
under the process named; and the service's rules: once, and never by the proposer.
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

APPROVE_ACTION = "approve"


@strawberry.type
class ApproveCapaPlanPayload:
    capa: CapaNode | None
    errors: list[CapaError]


async def _approve(step: Step) -> Capa:
    return await capa_flows.approve_plan(
        session=step.session, capa=step.capa, actor=step.caller.actor
    )


async def approve_capa_plan(
    info: strawberry.Info[Context, None], id: strawberry.ID, process: Process = None
) -> ApproveCapaPlanPayload:
    require_principal(info.context)
    try:
        changed = await change_capa(
            info.context,
            id=id,
            action=APPROVE_ACTION,
            process=process,
            attempt="approve_plan",
            change=_approve,
        )
    except AccordError as exc:
        return ApproveCapaPlanPayload(capa=None, errors=[CapaError.of(exc)])
    return ApproveCapaPlanPayload(capa=changed.capa, errors=[])
