"""``recordCapaEffectiveness``: the planned verifier judges the CAPA, once the check is due.

Gates: the owner shares CAPAs with the caller's organisation; ``verify`` on its CAPAs
under the process named (the Accountable party); and the service's rules: the very
person planned, never of the owner's organisation, not before the due date. Effective
closes the CAPA; not effective sends it back to work.
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
from accord.graphql.records.capas import CapaNode, EffectivenessResultEnum
from accord.platform.errors import AccordError

VERIFY_ACTION = "verify"


@strawberry.type
class RecordCapaEffectivenessPayload:
    capa: CapaNode | None
    errors: list[CapaError]


async def record_capa_effectiveness(
    info: strawberry.Info[Context, None],
    id: strawberry.ID,
    result: EffectivenessResultEnum,
    process: Process = None,
) -> RecordCapaEffectivenessPayload:
    require_principal(info.context)

    async def judge(step: Step) -> Capa:
        return await capa_flows.record_effectiveness(
            session=step.session,
            capa=step.capa,
            owner=step.owner,
            result=result.value,
            actor=step.caller.actor,
        )

    try:
        changed = await change_capa(
            info.context,
            id=id,
            action=VERIFY_ACTION,
            process=process,
            attempt="record_effectiveness",
            change=judge,
        )
    except AccordError as exc:
        return RecordCapaEffectivenessPayload(capa=None, errors=[CapaError.of(exc)])
    return RecordCapaEffectivenessPayload(capa=changed.capa, errors=[])
