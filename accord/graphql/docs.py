"""The schema's shared vocabulary, described once: what a connection, an edge, a payload,
a page argument, a sort order or a record's common field means, and what every value of
the record enums means (with a state's legal transitions).

``describe(schema)`` fills in the description of every type, field, argument and enum
value that its definition left without one; a definition's own description always wins.
``tests/graphql/test_schema_descriptions.py`` keeps the described share at 95% or more.
"""

from __future__ import annotations

import re

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLType,
    get_named_type,
)

from accord.graphql.pagination import MAX_PAGE

_PAGE = f"at most {MAX_PAGE}"

#: The generic classes of failure, for a domain's ``…ErrorCode`` enum.
ERROR_CLASSES: dict[str, str] = {
    "UNAUTHENTICATED": "No valid credentials: sign in.",
    "FORBIDDEN": "Signed in, but not allowed to do this (see the reason).",
    "NOT_FOUND": "No such record, or none you may see: ids probe nothing.",
    "BAD_USER_INPUT": "The input is malformed or breaks a rule; `field` names it.",
    "CONFLICT": "The record's state does not allow this now (see the reason).",
    "TENANT_UNAVAILABLE": "The owner's store could not be reached; retry later.",
    "RATE_LIMITED": "Too many requests; retry later.",
    "INTERNAL": "A bug: quote the trace id when reporting it.",
}

#: Descriptions of arguments by name, wherever they appear.
ARGUMENTS: dict[str, str] = {
    "first": f"How many records to return: 1 to {MAX_PAGE}; more is refused with BAD_PAGE_SIZE.",
    "after": "The `endCursor` of the previous page; leave it out for the first page. A cursor "
    "works only with the arguments it came from.",
    "filter": "Only records matching every condition given; leave it out for all.",
    "orderBy": "The sort order; see the order enum for each value's direction. Ties are "
    "broken by owner, then id, in the same direction.",
    "process": "The business process (RACI matrix) this is done under: it decides what the "
    "RACI allows. Leave it out for the organisation's baseline rights.",
    "id": "The record's global id (from its `id` field).",
    "input": "The operation's input; `errors[].field` names any field of it to fix.",
    "tenant": "An organisation's slug.",
    "standard": "A standard id such as 'iso9001:2015'.",
    "state": "Only records in this state.",
    "status": "Only records with this status.",
    "result": "The outcome being recorded.",
    "target": "The state to move to; see the state enum for legal transitions.",
    "stream": "A connector stream's name.",
    "since": "Only entries at or after this time.",
    "runId": "A sync run's id.",
    "role": "A tenant role's name.",
    "reviewId": "The management review's global id.",
    "lateOnly": "Only notifications delivered after their deadline.",
    "instanceId": "A connector instance's id.",
    "capaId": "The CAPA's global id.",
    "actionId": "The CAPA action's id.",
    "includeRevoked": "Whether revoked keys are listed too (default: only valid and retiring).",
}

#: Descriptions of fields by name, on any type that does not describe its own.
FIELDS: dict[str, str] = {
    "errors": "Why nothing changed, if anything was refused: empty on success.",
    "edges": f"This page's records with their cursors, {_PAGE}.",
    "pageInfo": "Where this page lies: whether more follow, and the cursor to ask for them.",
    "node": "The record.",
    "cursor": "Pass as `after` to get the records after this one.",
    "hasNextPage": "Whether more records follow this page.",
    "hasPreviousPage": "Whether records precede this page (always false: pages go forward).",
    "startCursor": "The cursor of this page's first record.",
    "endCursor": "The cursor of this page's last record: pass it as `after`.",
    "id": "Opaque global id; it names the owning organisation, so it is stable across stores.",
    "tenant": "Slug of the organisation that owns the record.",
    "level": "How much of the record its owner shares with you: FULL or SUMMARY (summary "
    "fields are null).",
    "createdAt": "When the record was created in Accord (UTC).",
    "updatedAt": "When the record last changed (UTC).",
    "status": "Where the record stands; see its enum for the legal moves.",
    "state": "Where the record stands in its lifecycle; see its enum for the legal moves.",
    "clauseKeys": "The catalog clauses concerned (STANDARD:VERSION/CLAUSE).",
    "title": "A short title.",
    "reference": "The owner's own reference, unique per owner.",
    "description": "A free-text description.",
    "subject": "The member's subject (unique within their organisation).",
    "role": "The role held.",
    "version": "The version.",
    "kind": "The kind of thing.",
    "name": "The name.",
    "key": "The stable key.",
    "slug": "The organisation's slug: its id in URLs, tokens and global ids.",
    "severity": "How severe: LOW to CRITICAL.",
    "grade": "The finding's grade.",
    "finding": "The finding concerned.",
    "capa": "The CAPA concerned.",
    "review": "The management review concerned.",
    "audit": "The audit concerned.",
    "action": "The action taken (or asked for).",
    "actor": "Who acted: TENANT/SUBJECT, or a service's name.",
    "at": "When it happened (UTC).",
    "seq": "Position in the owner's event log.",
    "change": "What changed, as recorded in the event log.",
    "revision": "The revision number, from 1.",
    "recordType": "The kind of record (finding, capa, evidence, …).",
    "standards": "The standards concerned.",
    "store": "The name of the database store that holds the organisation's data.",
    "instance": "The connector instance.",
    "error": "Why it failed, if it did.",
    "reason": "Why, as stated.",
    "process": "The business process (RACI matrix) concerned.",
    "url": "The URL.",
    "channel": "How the notification was delivered.",
    "grantor": "Slug of the organisation that shares its records.",
    "grantee": "Slug of the organisation the records are shared with.",
    "records": "How many records were read.",
    "member": "The team member added.",
    "recordTypes": "The kinds of record shared (finding, capa, evidence, …).",
    "minGroupSize": "The smallest group an aggregate may report (AGGREGATE level).",
    "purpose": "What the sharing is for, as agreed.",
    "validFrom": "The first day the agreement is in force.",
    "validUntil": "The last day the agreement is in force; null for open-ended.",
    "endReason": "Why it ended, as stated; null while it has not.",
    "type": "What kind.",
    "windowStart": "The first day of the audit window.",
    "windowEnd": "The last day of the audit window.",
    "rootCauseMethod": "How the root cause was analysed.",
    "effectivenessResult": "The verifier's judgement; null until recorded.",
    "verificationResult": "The outcome of the verification; null until recorded.",
    "clause": "The catalog clause.",
    "clauses": "The catalog clauses.",
    "number": "The clause or standard number as published (e.g. '8.4').",
    "parentKey": "The key of the clause above this one; null at the top.",
    "depth": "How deep the clause lies: 1 for a top-level clause.",
    "harmonizedStructure": "Whether the clause is part of ISO's harmonized structure.",
    "mediaType": "The evidence's media type (e.g. application/pdf).",
    "sizeBytes": "The evidence's size in bytes.",
    "groups": "The counts, by group.",
    "tenants": "Organisation slugs.",
    "actions": "The actions.",
    "findingReference": "The finding's reference at its owner.",
    "incidentReference": "The incident's reference at its owner.",
    "transfer": "The transfer, as it now stands; null when refused.",
    "standard": "The standard.",
    "assessable": "How many clauses can be assessed.",
    "covered": "How many of those are covered by evidence.",
    "coveragePct": "Covered clauses as a percentage of assessable ones (0-100).",
    "entries": "One entry per clause.",
    "coverage": "How the clause is covered.",
    "openNonconformities": "Open nonconformities raised against the clause.",
    "relatedNonconformities": "Every nonconformity raised against the clause.",
    "programme": "The audit programme it belongs to.",
    "scope": "What the audit covers.",
    "protocol": "The closing protocol the parties agreed (deadlines in days).",
    "team": "Who is on the audit team, with their roles and windows.",
    "responseDays": "Days from a finding being raised to its response being due.",
    "capaPlanDays": "Days from the response to the CAPA plan being due.",
    "recheckAfterDays": "Days after the CAPA's implementation to the recheck.",
    "unit": "The unit of the KPI's values (e.g. '%').",
    "direction": "Which way the KPI improves.",
    "target": "The value aimed at.",
    "warningThreshold": "Past this value the KPI warns.",
    "breachThreshold": "Past this value the KPI is breached.",
    "periodStart": "The first day of the period reviewed.",
    "periodEnd": "The last day of the period reviewed.",
    "alg": "The JWS algorithm (EdDSA or ES256).",
    "issuer": "The identity provider that issued the token.",
    "roles": "The caller's tenant roles.",
    "scopes": "The token's scopes.",
    "activity": "The RACI activity.",
    "letters": "The party's RACI letters in the activity.",
    "owners": "Slugs of the organisations whose records the matrix governs.",
    "parties": "The parties (role:<tenant>/<role> or user:<tenant>/<subject>).",
    "activities": "The matrix's activities.",
    "webhook": "The webhook as registered; null when refused.",
    "signature": "The signature as recorded; null when refused.",
    "likelihood": "How likely, from 1 (rare) to 5 (almost certain).",
    "impact": "How bad, from 1 (negligible) to 5 (severe).",
    "riskLevel": "The level its score (likelihood × impact) falls in.",
    "treatment": "How the risk is treated; null until decided.",
    "minScore": "Only risks scoring at least this (1-25).",
    "maxScore": "Only risks scoring at most this (1-25).",
    "year": "The year of the standard's edition.",
    "stream": "The connector stream synced.",
    "pages": "Pages fetched so far.",
    "fetched": "Records fetched so far.",
    "created": "Records created.",
    "updated": "Records changed.",
    "unchanged": "Records fetched but unchanged.",
    "quarantined": "Records set aside as invalid (see the quarantine).",
    "retries": "How many requests were retried.",
    "fullResync": "Whether the run re-read everything, not only what changed.",
    "instanceName": "The connector instance's name.",
    "legalName": "The organisation's legal name.",
    "region": "Where the organisation's data is stored.",
    "serviceAccount": "The service account created; null when refused.",
    "jwksUri": "Where the identity provider publishes its signing keys (JWKS).",
    "algorithms": "The token signature algorithms accepted from it.",
    "displayName": "The member's name as shown.",
    "email": "The member's e-mail address.",
    "identityProvider": "The identity provider registered; null when refused.",
    "removedIssuer": "The issuer removed; null when refused.",
    "removedSubject": "The member removed; null when refused.",
    "retired": "The key the new one replaces (now RETIRING); null when there was none.",
    "signingKey": "The signing key; null when refused.",
}

#: ``…At``/``…By``/``…Tenant``/``…Id`` fields: a sentence from the name.
_SUFFIXES = (
    (re.compile(r"^(\w+)At$"), "When {0} (UTC); null until then."),
    (re.compile(r"^(\w+)By$"), "Who {0} (TENANT/SUBJECT); null until then or when withheld."),
    (re.compile(r"^(\w+)Tenant$"), "Slug of the {0} organisation."),
    (re.compile(r"^(\w+)Id$"), "Raw id of the {0} (a UUID, not a global id)."),
    (re.compile(r"^(\w+)From$"), "Only records whose {0} is on or after this."),
    (re.compile(r"^(\w+)To$"), "Only records whose {0} is on or before this."),
)

#: Descriptions of types by the end of their name.
_TYPE_SUFFIXES = (
    ("Connection", "A page of {0} records, Relay-style: `edges` with cursors and `pageInfo`."),
    ("Edge", "One {0} record on a page, with its cursor."),
    ("Payload", "What the mutation returns: the changed record, or `errors` saying why not."),
    ("Filter", "Conditions a {0} listing's records must all meet."),
    ("Input", "The input of a mutation ({0})."),
    ("Order", "How a {0} listing is sorted."),
)

#: Specific descriptions: a type ("Type"), a field or input field ("Type.field"), an
#: enum value ("Enum.VALUE").
COORDINATES: dict[str, str] = {
    "Query": "What can be read. Every field needs a signed-in caller.",
    "Mutation": "What can be changed. Expected failures come back in each payload's "
    "`errors`, never as GraphQL errors.",
    "Subscription": "Live events, over graphql-transport-ws.",
    "UUID": "A UUID in its canonical text form.",
    # sharing
    "AgreementLevel.FULL": "Every field of the shared records.",
    "AgreementLevel.SUMMARY": "The shared records without their personal and free-text fields.",
    "AgreementLevel.AGGREGATE": "Counts only, over groups of at least the agreed minimum size.",
    "AgreementRole.GRANTOR": "The organisation that shares its records.",
    "AgreementRole.GRANTEE": "The organisation the records are shared with.",
    "AgreementState.PROPOSED": "Proposed by one party; the other has not accepted yet.",
    "AgreementState.ACTIVE": "In force: records are shared. Moves to REVOKED or EXPIRED.",
    "AgreementState.REVOKED": "Ended by a party (final).",
    "AgreementState.EXPIRED": "Past its end (final).",
    "AgreementState.PENDING": "Accepted, in force from its start day. Moves to ACTIVE.",
    "SharingLevel.FULL": "Every field.",
    "SharingLevel.SUMMARY": "Without personal and free-text fields (those are null).",
    # audits
    "AuditOrder.CREATED_AT": "Newest first.",
    "AuditOrder.WINDOW_START": "Earliest window start first.",
    "AuditOrder.WINDOW_END": "Earliest window end first.",
    "AuditStatus": "Where an audit stands: PLANNED → IN_PROGRESS → COMPLETED; PLANNED or "
    "IN_PROGRESS → CANCELLED.",
    "AuditStatus.PLANNED": "Planned. Moves to IN_PROGRESS or CANCELLED.",
    "AuditStatus.IN_PROGRESS": "Under way. Moves to COMPLETED or CANCELLED.",
    "AuditStatus.COMPLETED": "Done (final).",
    "AuditStatus.CANCELLED": "Called off (final).",
    "JointAuditStatus": "Where a joint audit stands (the same moves as AuditStatus).",
    "JointAuditStatus.PLANNED": "Planned. Moves to IN_PROGRESS or CANCELLED.",
    "JointAuditStatus.IN_PROGRESS": "Under way. Moves to COMPLETED or CANCELLED.",
    "JointAuditStatus.COMPLETED": "Done (final).",
    "JointAuditStatus.CANCELLED": "Called off (final).",
    "AuditType": "What kind of audit.",
    "AuditType.INTERNAL": "An organisation audits itself.",
    "AuditType.JOINT": "Partners audit one of them together, under an agreed protocol.",
    "AuditType.SUPPLIER": "A customer audits its supplier.",
    "AuditType.CERTIFICATION": "A certification body's audit.",
    "JointAuditTeamRole": "A member's role on a joint audit's team.",
    "JointAuditTeamRole.LEAD_AUDITOR": "Leads the audit; from the lead organisation.",
    "JointAuditTeamRole.AUDITOR": "Raises findings.",
    "JointAuditTeamRole.OBSERVER": "Watches; raises nothing.",
    "JointAuditTeamRole.AUDITEE_REPRESENTATIVE": "Speaks for the audited organisation.",
    "JointAuditTeamMember": "A member on a joint audit's team, for a window.",
    # capa
    "CapaActionStatus": "Whether a CAPA action is done.",
    "CapaActionStatus.OPEN": "Not done yet. Moves to DONE (its owner).",
    "CapaActionStatus.DONE": "Reported done by its owner (final).",
    "CapaOrder.CREATED_AT": "Newest first.",
    "CapaOrder.EFFECTIVENESS_DUE_AT": "Earliest effectiveness check first; none last.",
    "CapaState": "Where a CAPA stands: PLANNED → APPROVED → IN_PROGRESS → IMPLEMENTED → "
    "EFFECTIVENESS_CHECK → CLOSED, or back to IN_PROGRESS when not effective.",
    "CapaState.PLANNED": "Planned. Moves to APPROVED (by the Accountable party, not the "
    "proposer; needs a root cause and actions).",
    "CapaState.APPROVED": "Plan approved. Moves to IN_PROGRESS.",
    "CapaState.IN_PROGRESS": "Actions under way. Moves to IMPLEMENTED once all are done.",
    "CapaState.IMPLEMENTED": "All actions done. Moves to EFFECTIVENESS_CHECK once planned.",
    "CapaState.EFFECTIVENESS_CHECK": "Awaiting the verifier's judgement. Moves to CLOSED "
    "(effective) or back to IN_PROGRESS (not effective).",
    "CapaState.CLOSED": "Effective and closed (final).",
    "EffectivenessResult": "The verifier's judgement of a CAPA.",
    "EffectivenessResult.EFFECTIVE": "The cause is removed: the CAPA closes.",
    "EffectivenessResult.NOT_EFFECTIVE": "It recurred: the CAPA goes back to IN_PROGRESS.",
    "RootCauseMethod": "How a root cause was analysed.",
    "RootCauseMethod.FIVE_WHYS": "Five whys: a chain of whys ending at the root cause.",
    "RootCauseMethod.FISHBONE": "Fishbone (Ishikawa): causes by category.",
    "RootCauseMethod.FMEA": "Failure mode and effects analysis: scored rows.",
    "CapaCoverage": "How far CAPAs cover findings and clauses.",
    "CapaClauseCoverage": "CAPA coverage of one clause.",
    "CapaFindingCoverage": "CAPA coverage of one finding.",
    "Coverage": "How fully something is covered.",
    "Coverage.FULL": "Entirely.",
    "Coverage.PARTIAL": "In part.",
    "Coverage.NONE": "Not at all.",
    # evidence
    "EvidenceOrder.UPLOADED_AT": "Most recently uploaded first.",
    "EvidenceOrder.CAPTURED_AT": "Most recently captured first.",
    "EvidenceOrder.CREATED_AT": "Newest first.",
    # findings
    "FindingGrade": "How serious a finding is, as graded by the auditor.",
    "FindingGrade.MAJOR_NONCONFORMITY": "A requirement is not met at all: needs a CAPA.",
    "FindingGrade.MINOR_NONCONFORMITY": "A requirement is partly not met: needs a CAPA.",
    "FindingGrade.OBSERVATION": "A weakness that may become a nonconformity.",
    "FindingGrade.OPPORTUNITY_FOR_IMPROVEMENT": "A suggestion; nothing is required.",
    "FindingOrder.CREATED_AT": "Newest first.",
    "FindingOrder.DUE_AT": "Earliest response due first; none last.",
    "FindingOrder.RAISED_AT": "Most recently raised first.",
    "FindingState": "Where a finding stands: OPEN → RESPONDED → CAPA_PLANNED → "
    "CAPA_IMPLEMENTED → VERIFICATION → CLOSED (→ REOPENED → RESPONDED).",
    "FindingState.OPEN": "Raised, awaiting the auditee's response. Moves to RESPONDED.",
    "FindingState.RESPONDED": "Answered. Moves to CAPA_PLANNED (a CAPA is linked) or CLOSED "
    "(no CAPA required by its grade).",
    "FindingState.CAPA_PLANNED": "A CAPA is linked. Moves to CAPA_IMPLEMENTED once its "
    "actions are done.",
    "FindingState.CAPA_IMPLEMENTED": "The CAPA is implemented. Moves to VERIFICATION.",
    "FindingState.VERIFICATION": "Being verified. Moves to CLOSED (passed, with evidence) or "
    "back to CAPA_PLANNED (failed).",
    "FindingState.CLOSED": "Closed. Moves to REOPENED (with a reason).",
    "FindingState.REOPENED": "Reopened. Moves to RESPONDED.",
    "FindingTransferState": "Where a finding transfer stands: PROPOSED → ACCEPTED → "
    "COMPLETED; PROPOSED → DECLINED or CANCELLED; ACCEPTED → ABORTED.",
    "FindingTransferState.PROPOSED": "Awaiting the other party. Moves to ACCEPTED, DECLINED "
    "or CANCELLED.",
    "FindingTransferState.ACCEPTED": "Accepted; the finding is moving. Moves to COMPLETED or "
    "ABORTED.",
    "FindingTransferState.COMPLETED": "The finding moved (final).",
    "FindingTransferState.DECLINED": "Declined by the other party (final).",
    "FindingTransferState.CANCELLED": "Withdrawn by the proposer (final).",
    "FindingTransferState.ABORTED": "The move failed and was undone; the source is kept (final).",
    "VerificationResult": "The outcome of a finding's verification.",
    "VerificationResult.PASSED": "The correction works: the finding may close.",
    "VerificationResult.FAILED": "It does not: the finding goes back to CAPA_PLANNED.",
    "Severity": "How severe, from LOW to CRITICAL.",
    "Severity.LOW": "Minor impact.",
    "Severity.MEDIUM": "Moderate impact.",
    "Severity.HIGH": "Serious impact.",
    "Severity.CRITICAL": "Severe impact; the shortest deadlines apply.",
    "FindingAggregates": "Counts of findings over what you may see in aggregate.",
    "FindingAggregateGroup": "One group's count; groups below the agreed minimum size are "
    "suppressed.",
    "SuppressedGroups": "How many groups were withheld for being too small to share.",
    # gaps
    "GapAnalysis": "Which clauses of a standard your records cover, and how.",
    "GapEntry": "One clause's coverage.",
    "GapStatus": "A clause's coverage by evidence and findings.",
    "GapStatus.COVERED": "Evidence covers the clause in full.",
    "GapStatus.PARTIAL_ONLY": "Evidence covers the clause only in part.",
    "GapStatus.NO_EVIDENCE": "No evidence for the clause.",
    "GapStatus.NONCONFORMING": "An open nonconformity is raised against the clause.",
    # history
    "HistoryEntry": "One entry of a record's event log.",
    # incidents
    "IncidentNotificationChannel": "How a partner was notified of an incident.",
    "IncidentNotificationChannel.WEBHOOK": "POSTed to the partner's webhook.",
    "IncidentNotificationChannel.EVENT": "Published as a subscription event.",
    "IncidentReportOrder.OCCURRED_AT": "Most recent occurrence first.",
    "IncidentReportOrder.REPORTED_AT": "Most recently reported first.",
    "IncidentReportOrder.CREATED_AT": "Newest first.",
    "IncidentStatus": "Where an incident stands: OPEN → CONTAINED → RESOLVED → CLOSED "
    "(forward only; steps may be skipped).",
    "IncidentStatus.OPEN": "Reported, not contained yet.",
    "IncidentStatus.CONTAINED": "Contained; not resolved yet.",
    "IncidentStatus.RESOLVED": "Resolved; awaiting closure.",
    "IncidentStatus.CLOSED": "Closed (final).",
    # kpis
    "KpiDirection": "Which way a KPI improves.",
    "KpiDirection.HIGHER_IS_BETTER": "Higher values are better; thresholds are minimums.",
    "KpiDirection.LOWER_IS_BETTER": "Lower values are better; thresholds are maximums.",
    "KpiOrder.KEY": "By key, A to Z.",
    "KpiOrder.CREATED_AT": "Newest first.",
    # reviews
    "ManagementReviewOrder.PERIOD_END": "Latest period first.",
    "ManagementReviewOrder.CREATED_AT": "Newest first.",
    "ManagementReviewStatus": "Where a management review stands: DRAFT → FROZEN → APPROVED; "
    "a new revision of a FROZEN one is a DRAFT.",
    "ManagementReviewStatus.DRAFT": "Being written. Moves to FROZEN.",
    "ManagementReviewStatus.FROZEN": "Content locked and digested for signing. Moves to "
    "APPROVED with the last signature.",
    "ManagementReviewStatus.APPROVED": "Signed by every required signatory (final).",
    "ManagementReviewDecisionInput": "A decision or action the review records.",
    "ManagementReviewSignatoryInput": "A required signatory (TENANT/SUBJECT).",
    # raci and identity
    "RaciActivity": "An activity of a RACI matrix and who does what in it.",
    "RaciLetter": "A party's part in a RACI activity.",
    "RaciLetter.RESPONSIBLE": "Does the work.",
    "RaciLetter.ACCOUNTABLE": "Answers for it and approves; exactly one per activity.",
    "RaciLetter.CONSULTED": "Is asked before.",
    "RaciLetter.INFORMED": "Is told after.",
    "PrincipalKind": "Who is calling.",
    "PrincipalKind.USER": "A person signed in through their organisation's identity provider.",
    "PrincipalKind.SERVICE": "A machine client of an organisation.",
    "PrincipalKind.OPERATOR": "A platform operator (reads no tenant data).",
    "TenantStatus": "Whether an organisation is active: ACTIVE → SUSPENDED → ACTIVE, or → "
    "OFFBOARDED (final).",
    "TenantStatus.ACTIVE": "Active.",
    "TenantStatus.SUSPENDED": "Suspended: nothing is read or written until reactivated.",
    "TenantStatus.OFFBOARDED": "Gone (final).",
    "NetworkDashboard": "Your organisation's view over its partners' shared records.",
    # risks
    "RiskLevel": "A risk's level from its score.",
    "RiskLevel.LOW": "Score up to 4.",
    "RiskLevel.MEDIUM": "Score 5 to 9.",
    "RiskLevel.HIGH": "Score 10 to 16.",
    "RiskLevel.CRITICAL": "Score above 16.",
    "RiskOrder.SCORE": "Highest score first.",
    "RiskOrder.CREATED_AT": "Newest first.",
    "RiskStatus": "Where a risk stands: OPEN → TREATED or ACCEPTED → CLOSED.",
    "RiskStatus.OPEN": "Identified, not treated yet.",
    "RiskStatus.TREATED": "A treatment is under way.",
    "RiskStatus.ACCEPTED": "Accepted as it is.",
    "RiskStatus.CLOSED": "Closed (final).",
    "RiskTreatment": "How a risk is treated.",
    "RiskTreatment.AVOID": "Stop the activity that causes it.",
    "RiskTreatment.REDUCE": "Lower its likelihood or impact.",
    "RiskTreatment.TRANSFER": "Pass it to another party (insurance, contract).",
    "RiskTreatment.ACCEPT": "Live with it.",
    # identity
    "SigningKeyState": "Whether a member's signing key may sign: VALID → RETIRING → REVOKED.",
    "SigningKeyState.VALID": "Signs. Moves to RETIRING when a new key replaces it.",
    "SigningKeyState.RETIRING": "Replaced; still verifies what it signed, signs no more.",
    "SigningKeyState.REVOKED": "Withdrawn: signatures by it no longer count (final).",
    # sync
    "SyncRunStatus": "Where a connector sync run stands.",
    "SyncRunStatus.RUNNING": "Under way.",
    "SyncRunStatus.SUCCEEDED": "Finished (final).",
    "SyncRunStatus.FAILED": "Stopped by an error (final).",
    "SyncRunStatus.INTERRUPTED": "Stopped by a restart; the next run resumes (final).",
}


def _words(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


def _field_description(name: str, type_: GraphQLType) -> str | None:
    if name in FIELDS:
        return FIELDS[name]
    day = re.match(r"^(\w+)At$", name)
    if day and get_named_type(type_).name == "Date":  # a day, though named like a time
        words = _words(day.group(1))
        if words.endswith("due"):
            words = (words.removesuffix("due").strip() or "it") + " is due"
        return f"The day {words} (a calendar date, no time of day)."
    for pattern, template in _SUFFIXES:
        found = pattern.match(name)
        if found:
            return template.format(_words(found.group(1)))
    return None


def _type_description(name: str) -> str | None:
    if name in COORDINATES:
        return COORDINATES[name]
    for suffix, template in _TYPE_SUFFIXES:
        if name.endswith(suffix) and name != suffix:
            return template.format(_words(name.removesuffix(suffix)))
    return None


def describe(schema: GraphQLSchema) -> None:
    """Fill in missing descriptions from the shared vocabulary (see the module doc)."""
    for name, named in schema.type_map.items():
        if name.startswith("__"):
            continue
        if not named.description:
            named.description = _type_description(name)
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                if not field.description:
                    field.description = COORDINATES.get(
                        f"{name}.{field_name}"
                    ) or _field_description(field_name, field.type)
                for arg_name, arg in field.args.items():
                    if not arg.description:
                        arg.description = ARGUMENTS.get(arg_name)
        elif isinstance(named, GraphQLInputObjectType):
            for field_name, input_field in named.fields.items():
                if not input_field.description:
                    input_field.description = COORDINATES.get(
                        f"{name}.{field_name}"
                    ) or _field_description(field_name, input_field.type)
        elif isinstance(named, GraphQLEnumType):
            for value_name, value in named.values.items():
                if not value.description:
                    value.description = COORDINATES.get(f"{name}.{value_name}") or (
                        ERROR_CLASSES.get(value_name) if name.endswith("ErrorCode") else None
                    )
