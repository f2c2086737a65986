"""Joint audit mutations, one per file; each returns a payload with
``errors: [JointAuditError!]!``."""

from __future__ import annotations

import strawberry

from accord.graphql.audits.mutations.plan import PlanJointAuditPayload, plan_joint_audit
from accord.graphql.audits.mutations.raise_finding import (
    RaiseAuditFindingPayload,
    raise_audit_finding,
)
from accord.graphql.audits.mutations.team import AddAuditTeamMemberPayload, add_audit_team_member
from accord.graphql.audits.mutations.verify import VerifyAuditFindingPayload, verify_audit_finding


@strawberry.type
class JointAuditMutations:
    plan_joint_audit: PlanJointAuditPayload = strawberry.mutation(
        resolver=plan_joint_audit,
        description="Plan a joint audit at a partner, with its closing protocol and lead auditor.",
    )
    add_audit_team_member: AddAuditTeamMemberPayload = strawberry.mutation(
        resolver=add_audit_team_member,
        description="Add a member of any partner to a joint audit's team, for its window.",
    )
    raise_audit_finding: RaiseAuditFindingPayload = strawberry.mutation(
        resolver=raise_audit_finding,
        description="Raise a finding of a joint audit (its team), owned by the audited tenant.",
    )
    verify_audit_finding: VerifyAuditFindingPayload = strawberry.mutation(
        resolver=verify_audit_finding,
        description="Record the verification of a joint audit's finding (its verifier).",
    )
