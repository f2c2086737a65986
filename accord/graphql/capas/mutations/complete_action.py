"""``completeCapaAction``: an action's owner reports it done, from whichever organisation.

Gates: the CAPA's owner shares CAPAs with the caller's organisation; ``complete_action``
on its CAPAs under the process named (a RACI matrix can make a partner's person
Responsible); and the service's rule: only the action's owner, of its owner tenant. The
first completed action starts the work, the last makes the CAPA implemented.
"""

from __future__ import annotations

import uuid

import strawberry

from accord.compliance.capa import flows as capa_flows
from accord.compliance.capa import service as capa_service
from accord.compliance.capa.models import CapaAction
from accord.graphql.auth import require_principal
from accord.graphql.capas.access import Step, action_node, change_capa
from accord.graphql.context import Context
from accord.graphql.errors import CapaError
from accord.graphql.listing import Process
from accord.graphql.records.capas import CapaActionNode, CapaNode
from accord.platform.errors import AccordError, NotFound

COMPLETE_ACTION = "complete_action"


@strawberry.type
class CompleteCapaActionPayload:
    capa: CapaNode | None
    action: CapaActionNode | None
    errors: list[CapaError]


async def complete_capa_action(
    info: strawberry.Info[Context, None],
    capa_id: strawberry.ID,
    action_id: uuid.UUID,
    process: Process = None,
) -> CompleteCapaActionPayload:
    require_principal(info.context)

    async def complete(step: Step) -> CapaActionNode:
        action: CapaAction = await capa_service.get_action(
            session=step.session, action_id=action_id
        )
        if action.capa_id != step.capa.id:
            raise NotFound(
                "The CAPA has no such action.", reason="ACTION_NOT_FOUND", field="action_id"
            )
        action = await capa_flows.complete_action_as(
            session=step.session, action=action, actor=step.caller.actor
        )
        await step.session.flush()
        await step.session.refresh(action)
        return action_node(step.caller.level, action)

    try:
        changed = await change_capa(
            info.context,
            id=capa_id,
            action=COMPLETE_ACTION,
            process=process,
            attempt="complete_action",
            change=complete,
        )
    except AccordError as exc:
        return CompleteCapaActionPayload(capa=None, action=None, errors=[CapaError.of(exc)])
    return CompleteCapaActionPayload(capa=changed.capa, action=changed.result, errors=[])
