"""The joint-audit protocol over HTTP: its mutations and reading their answers."""

from __future__ import annotations

import uuid
from typing import Any

PLAN = """
mutation($input: PlanJointAuditInput!) {
  planJointAudit(input: $input) {
    audit {
      id tenant leadTenant auditedTenant status
      protocol { responseDays capaPlanDays verifierTenant requiredEvidenceTypes process }
      team { tenant subject role activeFrom activeUntil }
    }
    errors { field code reason reasonCode }
  }
}
"""


ADD_MEMBER = """
mutation($auditId: ID!, $input: AddAuditTeamMemberInput!) {
  addAuditTeamMember(auditId: $auditId, input: $input) {
    member { tenant subject role activeUntil }
    audit { team { subject role } }
    errors { field code reason reasonCode }
  }
}
"""


RAISE = """
mutation($auditId: ID!, $input: RaiseAuditFindingInput!) {
  raiseAuditFinding(auditId: $auditId, input: $input) {
    finding { id tenant state raisedBy responseDueAt auditId }
    errors { field code reason reasonCode }
  }
}
"""


VERIFY = """
mutation($id: ID!, $result: VerificationResult!) {
  verifyAuditFinding(id: $id, result: $result) {
    finding { state verificationResult verifiedBy }
    errors { field code reason reasonCode }
  }
}
"""


RESPOND = """
mutation($id: ID!, $response: String!, $process: String) {
  respondToFinding(id: $id, response: $response, process: $process) {
    finding { state }
    errors { code reason reasonCode }
  }
}
"""


TRANSITION = """
mutation($id: ID!, $target: FindingState!, $process: String) {
  transitionFinding(id: $id, target: $target, process: $process) {
    finding { state closedBy }
    errors { field code reason reasonCode }
  }
}
"""


def codes(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(generic class, typed domain reason) of each error; the deprecated text agrees."""
    assert all(e["reason"] == e["reasonCode"] for e in result["errors"]), result["errors"]
    return [(e["code"], e["reasonCode"]) for e in result["errors"]]


def record_id(gid: str) -> uuid.UUID:
    import base64

    text = base64.urlsafe_b64decode(gid + "=" * (-len(gid) % 4)).decode()
    return uuid.UUID(text.rsplit(":", 1)[1])
