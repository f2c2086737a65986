"""``addAuditTeamMember``: staff a joint audit with members of any partner.

The same gates as planning (``approve`` on the audited tenant's audits, under the
protocol's process); under an agreed protocol the team must fit it (lead auditor from the
lead, representative from the auditee, memberships inside the window).
"""

from __future__ import annotations

from datetime import date

import strawberry

from accord.compliance.audits import service as audit_service
from accord.compliance.audits.protocol import service as protocol_service
from accord.graphql.audits.access import (
    Caller,
    audit_not_found,
    get_visible_audit,
    log_refusal,
    require_action,
    require_visible,
    sovereign,
)
from accord.graphql.audits.mutations.plan import PLAN_ACTION
from accord.graphql.audits.types import JointAuditType, TeamMemberType, TeamRoleEnum
from accord.graphql.auth import require_principal
from accord.graphql.context import Context
from accord.graphql.errors import JointAuditError
from accord.graphql.relay import GlobalId
from accord.platform.errors import AccordError
from accord.policies.schemas import Resource
from accord.tenants.sessions import tenant_session


@strawberry.input
class AddAuditTeamMemberInput:
    tenant: str
    subject: str
    role: TeamRoleEnum
    valid_from: date | None = strawberry.field(default=None, description="Default: window start.")
    valid_until: date | None = strawberry.field(default=None, description="Default: window end.")


@strawberry.type
class AddAuditTeamMemberPayload:
    member: TeamMemberType | None
    audit: JointAuditType | None
    errors: list[JointAuditError]


async def add_audit_team_member(
    info: strawberry.Info[Context, None], audit_id: strawberry.ID, input: AddAuditTeamMemberInput
) -> AddAuditTeamMemberPayload:
    context = info.context
    require_principal(context)
    caller: Caller | None = None
    try:
        gid = GlobalId.decode(audit_id, expected="Audit")
        caller = await sovereign(
            context, owner=gid.tenant, record_type="audit", unshared=audit_not_found
        )
        async with tenant_session(context.runtime, gid.tenant) as session:
            audit = await get_visible_audit(session, gid.record_id)
            agreed = await protocol_service.protocol_for(session=session, audit_id=audit.id)
            process = agreed.process if agreed is not None else None
            require_visible(
                context, caller, Resource(gid.tenant, "audit", process), audit_not_found
            )
            require_action(context, caller, PLAN_ACTION, Resource(gid.tenant, "audit", process))
            member = await audit_service.add_team_member(
                session=session,
                audit=audit,
                data={
                    "tenant": input.tenant,
                    "subject": input.subject,
                    "role": input.role.value,
                    "valid_from": input.valid_from,
                    "valid_until": input.valid_until,
                },
                actor=caller.actor,
            )
            team = await audit_service.list_team(session=session, audit=audit)
            node = JointAuditType.from_model(gid.tenant, audit, agreed, team)
            added = TeamMemberType.from_model(member, audit)
    except AccordError as exc:
        if caller is not None:
            await log_refusal(
                context,
                owner=gid.tenant,
                record_type="audit",
                record_id=gid.record_id,
                caller=caller,
                attempt="add_team_member",
                error=exc,
            )
        return AddAuditTeamMemberPayload(member=None, audit=None, errors=[JointAuditError.of(exc)])
    return AddAuditTeamMemberPayload(member=added, audit=node, errors=[])
