"""``raiseAuditFinding``: the audit team raises a finding, owned by the audited tenant.

Gates: the audited tenant shares findings with the caller's organisation; the action gate
grants ``verify`` on its findings under the protocol's process (as ``raiseFinding`` asks);
and the protocol itself (through the findings service): the caller is a lead auditor or
auditor of another tenant than the audited one, inside their membership window. The
response deadline defaults to the protocol's.
"""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from accord.compliance.audits.protocol import service as protocol_service
from accord.compliance.workflow import service as finding_workflow
from accord.graphql.audits.access import (
    Caller,
    audit_not_found,
    get_visible_audit,
    log_refusal,
    require_action,
    require_visible,
    sovereign,
)
from accord.graphql.auth import require_principal
from accord.graphql.context import Context
from accord.graphql.errors import JointAuditError
from accord.graphql.findings.mutations.raise_finding import RAISE_ACTION
from accord.graphql.findings.types import FindingGradeEnum, FindingType, SeverityEnum
from accord.graphql.relay import GlobalId
from accord.platform.errors import AccordError, Conflict
from accord.policies.schemas import Resource
from accord.tenants.sessions import tenant_session


@strawberry.input
class RaiseAuditFindingInput:
    reference: str
    title: str
    grade: FindingGradeEnum
    severity: SeverityEnum
    clause_keys: list[str]
    criteria: str | None = None
    condition: str
    cause: str | None = None
    raised_at: datetime | None = None
    owner: str | None = strawberry.field(
        default=None, description="Who at the audited organisation addresses it."
    )
    response_due_at: date | None = strawberry.field(
        default=None, description="Default (and latest): the protocol's response deadline."
    )


@strawberry.type
class RaiseAuditFindingPayload:
    finding: FindingType | None
    errors: list[JointAuditError]


async def raise_audit_finding(
    info: strawberry.Info[Context, None], audit_id: strawberry.ID, input: RaiseAuditFindingInput
) -> RaiseAuditFindingPayload:
    context = info.context
    require_principal(context)
    caller: Caller | None = None
    try:
        gid = GlobalId.decode(audit_id, expected="Audit")
        caller = await sovereign(
            context, owner=gid.tenant, record_type="finding", unshared=audit_not_found
        )
        async with tenant_session(context.runtime, gid.tenant) as session:
            audit = await get_visible_audit(session, gid.record_id)
            agreed = await protocol_service.protocol_for(session=session, audit_id=audit.id)
            process = agreed.process if agreed is not None else None
            require_visible(
                context, caller, Resource(gid.tenant, "finding", process), audit_not_found
            )
            if agreed is None:
                raise Conflict(
                    "The audit has no agreed closing protocol; use raiseFinding.",
                    reason="NO_PROTOCOL",
                    field="audit_id",
                )
            resource = Resource(gid.tenant, "finding", agreed.process)
            require_action(context, caller, RAISE_ACTION, resource)
            finding = await finding_workflow.raise_finding(
                session=session,
                data={
                    "audit_id": audit.id,
                    "reference": input.reference,
                    "title": input.title,
                    "grade": input.grade.value,
                    "severity": input.severity.value,
                    "clause_keys": input.clause_keys,
                    "criteria": input.criteria,
                    "condition": input.condition,
                    "cause": input.cause,
                    "raised_at": input.raised_at,
                    "owner": input.owner,
                    "response_due_at": input.response_due_at,
                },
                actor=caller.actor,
            )
            node = FindingType.from_model(gid.tenant, caller.level, finding)
    except AccordError as exc:
        if caller is not None:
            await log_refusal(
                context,
                owner=gid.tenant,
                record_type="audit",
                record_id=gid.record_id,
                caller=caller,
                attempt="raise_finding",
                error=exc,
            )
        return RaiseAuditFindingPayload(finding=None, errors=[JointAuditError.of(exc)])
    return RaiseAuditFindingPayload(finding=node, errors=[])
