"""``raiseFinding``: a new finding in state ``open``, owned by the audited organisation.

Raising is an auditor's judgement; until the action vocabulary has its own verb for it,
the action gate is asked for ``verify`` on the owner's findings (auditors and quality
managers hold it; RACI matrices grant it to the Accountable party).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import strawberry

from accord.compliance.workflow import service as finding_workflow
from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.graphql.errors import FindingError
from accord.graphql.findings.access import clear
from accord.graphql.findings.types import FindingGradeEnum, FindingType, SeverityEnum
from accord.platform.errors import AccordError, Forbidden
from accord.tenants.sessions import tenant_session

RAISE_ACTION = "verify"


@strawberry.input
class RaiseFindingInput:
    tenant: str | None = strawberry.field(
        default=None, description="The audited organisation (owner); default: your own."
    )
    process: str | None = None
    reference: str
    title: str
    grade: FindingGradeEnum
    severity: SeverityEnum
    clause_keys: list[str]
    criteria: str | None = None
    condition: str
    cause: str | None = None
    raised_at: datetime | None = None
    owner: str | None = None
    response_due_at: date | None = None
    audit_id: uuid.UUID | None = None


@strawberry.type
class RaiseFindingPayload:
    finding: FindingType | None
    errors: list[FindingError]


def _not_shared() -> Forbidden:
    return Forbidden(
        "That organisation does not share findings with yours.", reason="NOT_SHARED", field="tenant"
    )


async def raise_finding(
    info: strawberry.Info[Context, None], input: RaiseFindingInput
) -> RaiseFindingPayload:
    context = info.context
    _, own = require_tenant(context)
    owner = input.tenant or own
    try:
        clearance = await clear(
            context, owner=owner, action=RAISE_ACTION, process=input.process, unshared=_not_shared
        )
        data: dict[str, object] = {
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
            "audit_id": input.audit_id,
        }
        async with tenant_session(context.runtime, owner) as session:
            finding = await finding_workflow.raise_finding(
                session=session, data=data, actor=clearance.actor
            )
            node = FindingType.from_model(owner, clearance.level, finding)
    except AccordError as exc:
        return RaiseFindingPayload(finding=None, errors=[FindingError.of(exc)])
    return RaiseFindingPayload(finding=node, errors=[])
