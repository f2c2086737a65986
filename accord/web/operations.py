"""Every GraphQL operation the pages run, in one place.

Each page runs named operations of the public schema, in process, as the signed-in user
(``accord.web.gateway``), and shows the operation text it ran: what a page shows is what
the API answers that user, and the page teaches the API. Nothing here is page-only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    document: str


WHO_AM_I = Operation(
    "WhoAmI",
    """
query WhoAmI {
  me { tenant subject roles expiresAt }
  raciMatrices {
    name process owners
    parties { key tenant role subject }
    activities { name recordType actions owners }
    cells { activity party letters }
  }
  agreements(state: [ACTIVE]) { grantor grantee level recordTypes minGroupSize validUntil }
}
""",
)

NETWORK_DASHBOARD = Operation(
    "NetworkDashboard",
    """
query NetworkDashboard($process: String) {
  networkDashboard(process: $process) {
    tenants { tenant openByGrade openByClause overdueCapaActions roundedTo }
  }
}
""",
)

NETWORK_DETAILS = Operation(
    "NetworkDetails",
    """
query NetworkDetails($reviewProcess: String) {
  tenants { slug legalName jurisdiction store region status }
  managementReviews(first: 20, process: $reviewProcess) {
    edges { node { id tenant title status requiredSignatories } }
  }
  syncRuns(first: 20, status: SUCCEEDED) {
    edges { node { instanceName stream endedAt } }
  }
}
""",
)

REVIEW_BUNDLE = Operation(
    "ReviewBundle",
    """
query ReviewBundle($reviewId: ID!, $process: String) {
  signedReviewBundle(reviewId: $reviewId, process: $process)
}
""",
)

CLAUSES = Operation(
    "HarmonizedClauses",
    """
query HarmonizedClauses {
  iso9001: clauses(standard: "iso9001:2015") { ...row }
  iso14001: clauses(standard: "iso14001:2015") { ...row }
  iso45001: clauses(standard: "iso45001:2018") { ...row }
  iso27001: clauses(standard: "iso27001:2022") { ...row }
  iso22301: clauses(standard: "iso22301:2019") { ...row }
  iso22361: clauses(standard: "iso22361:2022") { ...row }
}
fragment row on Clause {
  key standardId number title parentKey depth harmonizedStructure harmonizedRef
}
""",
)

FINDING_FIELDS = """
fragment findingRow on Finding {
  id tenant level reference grade severity state clauseKeys raisedAt responseDueAt
  closedAt title owner auditId
}
"""

FINDINGS = Operation(
    "Findings",
    """
query Findings($first: Int!, $after: String, $filter: FindingFilter, $process: String) {
  findings(first: $first, after: $after, filter: $filter, orderBy: DUE_AT, process: $process) {
    edges { node { ...findingRow } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
    + FINDING_FIELDS,
)

FINDING = Operation(
    "Finding",
    """
query Finding($id: ID!, $process: String) {
  finding(id: $id, process: $process) {
    ...findingRow
    criteria condition cause response raisedBy verificationResult verifiedAt verifiedBy
    reopenedAt reopenedReason closedBy
    owningTenant { legalName }
    capas(process: $process) { id reference state title }
  }
}
"""
    + FINDING_FIELDS,
)

HISTORY = Operation(
    "History",
    """
query History($id: ID!) {
  history(id: $id) { seq at actor action change hash }
}
""",
)

AUDIT = Operation(
    "Audit",
    """
query Audit($id: ID!, $process: String) {
  audit(id: $id, process: $process) {
    id tenant level type status title programme scope clauseKeys leadTenant auditedTenant
    windowStart windowEnd
    findings { ...findingRow }
  }
}
"""
    + FINDING_FIELDS,
)

AUDITS = Operation(
    "Audits",
    """
query Audits($process: String) {
  audits(first: 50, process: $process) {
    edges {
      node { id tenant level type status title leadTenant auditedTenant windowStart windowEnd }
    }
  }
}
""",
)

CAPA = Operation(
    "Capa",
    """
query Capa($id: ID!, $process: String) {
  capa(id: $id, process: $process) {
    id tenant level reference state title clauseKeys rootCauseMethod rootCauseAnalysis
    containment effectivenessDueAt effectivenessVerifierTenant effectivenessResult closedAt
    actions { title owner ownerTenant dueAt status overdue completedAt }
    findings { id reference grade state title }
  }
}
""",
)

RESPOND = Operation(
    "RespondToFinding",
    """
mutation RespondToFinding($id: ID!, $response: String!, $process: String) {
  respondToFinding(id: $id, response: $response, process: $process) {
    finding { id state }
    errors { field message code reason }
  }
}
""",
)

TRANSITION = Operation(
    "TransitionFinding",
    """
mutation TransitionFinding($id: ID!, $target: FindingState!, $reason: String, $process: String) {
  transitionFinding(id: $id, target: $target, reason: $reason, process: $process) {
    finding { id state }
    errors { field message code reason }
  }
}
""",
)

VERIFY = Operation(
    "VerifyAuditFinding",
    """
mutation VerifyAuditFinding($id: ID!, $result: VerificationResult!) {
  verifyAuditFinding(id: $id, result: $result) {
    finding { id state }
    errors { field message code reason }
  }
}
""",
)

REVIEWS = Operation(
    "ManagementReviews",
    """
query ManagementReviews($process: String) {
  managementReviews(first: 20, process: $process) {
    edges {
      node {
        id tenant level title status revision periodStart periodEnd contentDigest
        requiredSignatories
      }
    }
  }
}
""",
)

REVIEW = Operation(
    "ManagementReview",
    """
query ManagementReview($id: ID!, $process: String) {
  managementReview(id: $id, process: $process) {
    id tenant level title status revision periodStart periodEnd contentDigest frozenAt approvedAt
  }
}
""",
)

SIGN_REVIEW = Operation(
    "SignManagementReview",
    """
mutation SignManagementReview($reviewId: ID!, $jws: String!, $process: String) {
  signManagementReview(reviewId: $reviewId, jws: $jws, process: $process) {
    signature { signer missing }
    review { id status }
    errors { field message code reason }
  }
}
""",
)

FINDINGS_OVER_TIME = Operation(
    "FindingsOverTime",
    """
query FindingsOverTime($after: String, $filter: FindingFilter, $process: String) {
  findings(first: 100, after: $after, filter: $filter, orderBy: RAISED_AT, process: $process) {
    edges { node { id tenant raisedAt closedAt } }
    pageInfo { hasNextPage endCursor }
  }
}
""",
)
