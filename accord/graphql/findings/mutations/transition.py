"""``transitionFinding``: any step of the finding life cycle the caller's role covers."""

from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.findings.models import Finding
from accord.compliance.findings.states import FindingState
from accord.compliance.workflow import service as finding_workflow
from accord.graphql.auth import require_principal
from accord.graphql.context import Context
from accord.graphql.errors import FindingError
from accord.graphql.findings.access import change_finding
from accord.graphql.findings.types import FindingStateEnum, FindingType
from accord.platform.errors import AccordError

#: The action gate's action for each target state: the work (R) or decision (A) it is.
ACTION_FOR_TARGET: dict[FindingState, str] = {
    FindingState.OPEN: "respond",  # no transition leads here; the state machine refuses it
    FindingState.RESPONDED: "respond",
    FindingState.CAPA_PLANNED: "propose_capa",
    FindingState.CAPA_IMPLEMENTED: "complete_action",
    FindingState.VERIFICATION: "verify",
    FindingState.CLOSED: "close",
    FindingState.REOPENED: "close",  # undoing a closure is the closer's decision
}


@strawberry.type
class TransitionFindingPayload:
    finding: FindingType | None
    errors: list[FindingError]


async def transition_finding(
    info: strawberry.Info[Context, None],
    id: strawberry.ID,
    target: FindingStateEnum,
    reason: str | None = None,
    process: str | None = None,
) -> TransitionFindingPayload:
    require_principal(info.context)
    state = FindingState(target.value)

    async def move(session: AsyncSession, finding: Finding, actor: str) -> Finding:
        return await finding_workflow.transition(
            session=session, finding=finding, target=state, actor=actor, reason=reason
        )

    try:
        node = await change_finding(
            info.context, id=id, action=ACTION_FOR_TARGET[state], process=process, change=move
        )
    except AccordError as exc:
        return TransitionFindingPayload(finding=None, errors=[FindingError.of(exc)])
    return TransitionFindingPayload(finding=node, errors=[])
