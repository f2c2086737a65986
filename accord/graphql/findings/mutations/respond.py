"""``respondToFinding``: the auditee's response (open/reopened → responded)."""

from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.findings.models import Finding
from accord.compliance.workflow import service as finding_workflow
from accord.graphql.auth import require_principal
from accord.graphql.context import Context
from accord.graphql.errors import FindingError
from accord.graphql.findings.access import change_finding
from accord.graphql.findings.types import FindingType
from accord.platform.errors import AccordError


@strawberry.type
class RespondToFindingPayload:
    finding: FindingType | None
    errors: list[FindingError]


async def respond_to_finding(
    info: strawberry.Info[Context, None],
    id: strawberry.ID,
    response: str,
    process: str | None = None,
) -> RespondToFindingPayload:
    require_principal(info.context)

    async def respond(session: AsyncSession, finding: Finding, actor: str) -> Finding:
        return await finding_workflow.respond(
            session=session, finding=finding, actor=actor, response=response
        )

    try:
        node = await change_finding(
            info.context, id=id, action="respond", process=process, change=respond
        )
    except AccordError as exc:
        return RespondToFindingPayload(finding=None, errors=[FindingError.of(exc)])
    return RespondToFindingPayload(finding=node, errors=[])
