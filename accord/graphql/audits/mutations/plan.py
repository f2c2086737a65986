"""``planJointAudit``: a joint audit in the audited tenant's store, its agreed closing
protocol and its lead auditor, in one transaction.

The lead tenant or the audited tenant plans; a lead planning at a partner needs the
partner's agreement sharing audits with it, and both need ``approve`` on the audited
tenant's audits (the Accountable party of the joint audit's RACI matrix, when the
protocol names a process).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry

from accord.compliance.audits import service as audit_service
from accord.compliance.audits.models import AuditType, TeamRole
from accord.compliance.audits.protocol import service as protocol_service
from accord.graphql.audits.access import require_action, sovereign
from accord.graphql.audits.types import JointAuditStatusEnum, JointAuditType
from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.graphql.errors import JointAuditError
from accord.platform.errors import AccordError, Forbidden
from accord.policies.schemas import Resource
from accord.tenants.sessions import tenant_session

PLAN_ACTION = "approve"


@strawberry.input(
    name="JointAuditProtocolInput",
    description="The closing protocol's terms; those left out come from the programme's default.",
)
class ProtocolInput:
    response_days: int | None = None
    capa_plan_days: int | None = None
    verifier_tenant: str | None = strawberry.field(
        default=None, description="Default: the lead tenant."
    )
    required_evidence_types: list[str] | None = None
    recheck_after_days: int | None = None
    process: str | None = strawberry.field(
        default=None, description="The shared process (RACI matrix) governing the audit."
    )

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


@strawberry.input
class PlanJointAuditInput:
    audited_tenant: str = strawberry.field(description="The audited organisation (owner).")
    lead_tenant: str | None = strawberry.field(default=None, description="Default: your own.")
    lead_auditor: str = strawberry.field(description="The lead auditor (a member of the lead).")
    programme: str
    title: str
    scope: str
    clause_keys: list[str]
    window_start: date
    window_end: date
    status: JointAuditStatusEnum = JointAuditStatusEnum.PLANNED
    protocol: ProtocolInput | None = None


@strawberry.type
class PlanJointAuditPayload:
    audit: JointAuditType | None
    errors: list[JointAuditError]


def _not_shared() -> Forbidden:
    return Forbidden(
        "That organisation does not share audits with yours.",
        reason="NOT_SHARED",
        field="audited_tenant",
    )


async def plan_joint_audit(
    info: strawberry.Info[Context, None], input: PlanJointAuditInput
) -> PlanJointAuditPayload:
    context = info.context
    _, own = require_tenant(context)
    owner, lead = input.audited_tenant, input.lead_tenant or own
    terms = input.protocol.given() if input.protocol is not None else {}
    try:
        if own not in (owner, lead):
            raise Forbidden(
                "A joint audit is planned by its lead or by the audited organisation.",
                reason="NOT_A_PARTY",
                field="lead_tenant",
            )
        caller = await sovereign(context, owner=owner, record_type="audit", unshared=_not_shared)
        process = terms.get("process")
        require_action(context, caller, PLAN_ACTION, Resource(owner, "audit", process))
        async with tenant_session(context.runtime, owner) as session:
            audit = await audit_service.create_audit(
                session=session,
                data={
                    "programme": input.programme,
                    "type": AuditType.JOINT,
                    "title": input.title,
                    "scope": input.scope,
                    "clause_keys": input.clause_keys,
                    "lead_tenant": lead,
                    "audited_tenant": owner,
                    "window_start": input.window_start,
                    "window_end": input.window_end,
                    "status": input.status.value,
                },
                actor=caller.actor,
            )
            agreed = await protocol_service.agree_protocol(
                session=session, audit=audit, data=terms, actor=caller.actor
            )
            await audit_service.add_team_member(
                session=session,
                audit=audit,
                data={"tenant": lead, "subject": input.lead_auditor, "role": TeamRole.LEAD_AUDITOR},
                actor=caller.actor,
            )
            team = await audit_service.list_team(session=session, audit=audit)
            node = JointAuditType.from_model(owner, audit, agreed, team)
    except AccordError as exc:
        return PlanJointAuditPayload(audit=None, errors=[JointAuditError.of(exc)])
    return PlanJointAuditPayload(audit=node, errors=[])
