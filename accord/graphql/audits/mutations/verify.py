"""``verifyAuditFinding``: the Accountable verifier records the verification result of a
joint audit's finding in ``verification``; ``transitionFinding`` then closes it (passed)
or sends it back to CAPA planning (failed).

Gates: the audited tenant shares findings with the caller's organisation; ``verify`` on
its findings under the protocol's process; and the protocol (through the findings
service): the verifier tenant, never the audited one, never the person who responded.
"""

from __future__ import annotations

import strawberry

from accord.compliance.workflow import guards as protocol_guards
from accord.compliance.workflow import service as finding_workflow
from accord.graphql.audits.access import (
    Caller,
    finding_not_found,
    get_visible_finding,
    log_refusal,
    require_action,
    require_visible,
    sovereign,
)
from accord.graphql.auth import require_principal
from accord.graphql.context import Context
from accord.graphql.errors import JointAuditError
from accord.graphql.findings.types import FindingType, VerificationResultEnum
from accord.graphql.relay import GlobalId
from accord.platform.errors import AccordError, Conflict
from accord.policies.schemas import Resource
from accord.tenants.sessions import tenant_session

VERIFY_ACTION = "verify"


@strawberry.type
class VerifyAuditFindingPayload:
    finding: FindingType | None
    errors: list[JointAuditError]


async def verify_audit_finding(
    info: strawberry.Info[Context, None], id: strawberry.ID, result: VerificationResultEnum
) -> VerifyAuditFindingPayload:
    context = info.context
    require_principal(context)
    caller: Caller | None = None
    try:
        gid = GlobalId.decode(id, expected="Finding")
        caller = await sovereign(
            context, owner=gid.tenant, record_type="finding", unshared=finding_not_found
        )
        async with tenant_session(context.runtime, gid.tenant) as session:
            finding = await get_visible_finding(session, gid.record_id)
            governed = await protocol_guards.governing(session=session, finding=finding)
            process = governed.protocol.process if governed is not None else None
            require_visible(
                context, caller, Resource(gid.tenant, "finding", process), finding_not_found
            )
            if governed is None:
                raise Conflict(
                    "The finding is not under a joint audit's closing protocol.",
                    reason="NO_PROTOCOL",
                    field="id",
                )
            resource = Resource(gid.tenant, "finding", governed.protocol.process)
            require_action(context, caller, VERIFY_ACTION, resource)
            finding = await finding_workflow.record_verification(
                session=session, finding=finding, result=result.value, actor=caller.actor
            )
            node = FindingType.from_model(gid.tenant, caller.level, finding)
    except AccordError as exc:
        if caller is not None:
            await log_refusal(
                context,
                owner=gid.tenant,
                record_type="finding",
                record_id=gid.record_id,
                caller=caller,
                attempt="verify",
                error=exc,
            )
        return VerifyAuditFindingPayload(finding=None, errors=[JointAuditError.of(exc)])
    return VerifyAuditFindingPayload(finding=node, errors=[])
