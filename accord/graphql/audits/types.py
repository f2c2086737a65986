"""The GraphQL shape of joint audits, their agreed protocol and their team."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from enum import Enum

import strawberry

from accord.compliance.audits.models import Audit, AuditStatus, AuditTeamMember, TeamRole
from accord.compliance.audits.protocol.models import AuditProtocol
from accord.compliance.audits.protocol.team import membership_window
from accord.graphql.relay import GlobalId


@strawberry.enum(name="JointAuditStatus")
class JointAuditStatusEnum(Enum):
    PLANNED = AuditStatus.PLANNED.value
    IN_PROGRESS = AuditStatus.IN_PROGRESS.value
    COMPLETED = AuditStatus.COMPLETED.value
    CANCELLED = AuditStatus.CANCELLED.value


@strawberry.enum(name="JointAuditTeamRole")
class TeamRoleEnum(Enum):
    LEAD_AUDITOR = TeamRole.LEAD_AUDITOR.value
    AUDITOR = TeamRole.AUDITOR.value
    OBSERVER = TeamRole.OBSERVER.value
    AUDITEE_REPRESENTATIVE = TeamRole.AUDITEE_REPRESENTATIVE.value


@strawberry.type(name="JointAuditProtocol", description="The closing protocol agreed for an audit.")
class ProtocolType:
    response_days: int = strawberry.field(description="Days from raising to the response.")
    capa_plan_days: int = strawberry.field(description="Days from raising to the CAPA plan.")
    verifier_tenant: str = strawberry.field(
        description="Whose Accountable party verifies and closes findings."
    )
    required_evidence_types: list[str] = strawberry.field(
        description="Media types closing evidence must include, e.g. application/pdf, image/*."
    )
    recheck_after_days: int | None = strawberry.field(
        description="Closing schedules an effectiveness re-check this many days later."
    )
    process: str | None = strawberry.field(
        description="The shared process whose RACI roles act on the audit's records."
    )

    @classmethod
    def from_model(cls, row: AuditProtocol, lead_tenant: str) -> ProtocolType:
        return cls(
            response_days=row.response_days,
            capa_plan_days=row.capa_plan_days,
            verifier_tenant=row.verifier_tenant or lead_tenant,
            required_evidence_types=list(row.required_evidence_types),
            recheck_after_days=row.recheck_after_days,
            process=row.process,
        )


@strawberry.type(name="JointAuditTeamMember")
class TeamMemberType:
    tenant: str
    subject: str
    role: TeamRoleEnum
    active_from: date = strawberry.field(description="First day the membership grants access.")
    active_until: date = strawberry.field(
        description="Last day the membership grants access (it expires by itself)."
    )

    @classmethod
    def from_model(cls, member: AuditTeamMember, audit: Audit) -> TeamMemberType:
        start, end = membership_window(member, audit)
        return cls(
            tenant=member.tenant,
            subject=member.subject,
            role=TeamRoleEnum(member.role.value),
            active_from=start,
            active_until=end,
        )


@strawberry.type(name="JointAudit", description="An audit led by one partner at another's.")
class JointAuditType:
    id: strawberry.ID
    tenant: str = strawberry.field(description="The tenant that owns the record (the audited one).")
    programme: str
    title: str
    scope: str
    clause_keys: list[str]
    lead_tenant: str
    audited_tenant: str
    window_start: date
    window_end: date
    status: JointAuditStatusEnum
    protocol: ProtocolType | None
    team: list[TeamMemberType]

    @classmethod
    def from_model(
        cls,
        owner: str,
        audit: Audit,
        protocol: AuditProtocol | None,
        team: Sequence[AuditTeamMember],
    ) -> JointAuditType:
        return cls(
            id=GlobalId("Audit", owner, audit.id).encode(),
            tenant=owner,
            programme=audit.programme,
            title=audit.title,
            scope=audit.scope,
            clause_keys=list(audit.clause_keys),
            lead_tenant=audit.lead_tenant,
            audited_tenant=audit.audited_tenant,
            window_start=audit.window_start,
            window_end=audit.window_end,
            status=JointAuditStatusEnum(audit.status.value),
            protocol=None
            if protocol is None
            else ProtocolType.from_model(protocol, audit.lead_tenant),
            team=[TeamMemberType.from_model(m, audit) for m in team],
        )
