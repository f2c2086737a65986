"""What review services accept, and the shapes they produce: the canonical document that a
frozen review's digest covers, and the JSON entries of compiled inputs (ISO 9.3.2)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from accord.compliance.audits.models import Audit
from accord.compliance.capa.models import Capa, CapaAction
from accord.compliance.findings.models import Finding
from accord.compliance.kpis.schemas import PeriodEnd, StandardIds
from accord.compliance.records.inputs import InputModel, NonEmpty, custom_error, tenant_slug
from accord.compliance.records.provenance import ProvenanceIn
from accord.compliance.reviews.models import ManagementReview, ReviewAction
from accord.platform.canonical import canonical_digest

#: Bump when the document's shape changes; old digests stay verifiable under their format.
DOCUMENT_FORMAT = 1
DOCUMENT_TYPE = "accord.management_review"


class DecisionIn(InputModel):
    """A decision of the review (ISO 9.3.3); freezing turns it into a tracked action."""

    text: NonEmpty
    owner: NonEmpty
    due_at: date


class SignatoryIn(InputModel):
    """Who must sign the frozen review: a person (subject) of a partner tenant, in a role."""

    tenant: Annotated[str, AfterValidator(tenant_slug)]
    subject: NonEmpty
    role: NonEmpty


class ReviewContentIn(InputModel):
    """Everything of a review that freezing locks, except the compiled inputs."""

    title: NonEmpty
    period_start: date
    period_end: PeriodEnd
    standards: StandardIds = Field(min_length=1)
    minutes: str = ""
    decisions: list[DecisionIn] = Field(default_factory=list)
    required_signatories: list[SignatoryIn] = Field(default_factory=list)

    @field_validator("required_signatories")
    @classmethod
    def _distinct(cls, value: list[SignatoryIn]) -> list[SignatoryIn]:
        seen = Counter((s.tenant, s.subject) for s in value)
        twice = [f"{t}/{s}" for (t, s), n in seen.items() if n > 1]
        if twice:
            raise custom_error(
                "DUPLICATE_SIGNATORY", f"listed more than once: {', '.join(sorted(twice))}"
            )
        return value


class ReviewIn(ReviewContentIn, ProvenanceIn):
    pass


EDITABLE = frozenset(ReviewContentIn.model_fields)


def content_of(review: ManagementReview) -> dict[str, Any]:
    """The review's editable content as ``ReviewContentIn`` accepts it."""
    return {
        "title": review.title,
        "period_start": review.period_start,
        "period_end": review.period_end,
        "standards": list(review.standards),
        "minutes": review.minutes,
        "decisions": list(review.decisions),
        "required_signatories": list(review.required_signatories),
    }


def review_document(review: ManagementReview) -> dict[str, Any]:
    """The canonical document of a review: what ``content_digest`` is the SHA-256 of (over
    its RFC 8785 form) and what signatories sign. Identity and revision are part of it, so
    a digest never fits another review or another revision of the same one."""
    return {
        "type": DOCUMENT_TYPE,
        "format": DOCUMENT_FORMAT,
        "id": str(review.id),
        "revision": review.revision,
        "previous_id": None if review.previous_id is None else str(review.previous_id),
        "title": review.title,
        "period": {"start": review.period_start.isoformat(), "end": review.period_end.isoformat()},
        "standards": list(review.standards),
        "inputs": review.inputs,
        "minutes": review.minutes,
        "decisions": list(review.decisions),
        "required_signatories": list(review.required_signatories),
    }


def document_digest(review: ManagementReview) -> str:
    return canonical_digest(review_document(review))


def _at(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def action_entry(action: ReviewAction, review_title: str, *, as_of: date) -> dict[str, Any]:
    return {
        "review": review_title,
        "text": action.text,
        "owner": action.owner,
        "due_at": action.due_at.isoformat(),
        "status": action.status.value,
        "overdue": action.status.value == "open" and action.due_at < as_of,
    }


def audit_entry(audit: Audit, findings: Iterable[Finding]) -> dict[str, Any]:
    return {
        "id": str(audit.id),
        "title": audit.title,
        "programme": audit.programme,
        "type": audit.type.value,
        "status": audit.status.value,
        "lead_tenant": audit.lead_tenant,
        "window": {"start": audit.window_start.isoformat(), "end": audit.window_end.isoformat()},
        "clause_keys": list(audit.clause_keys),
        "findings_by_grade": dict(sorted(Counter(f.grade.value for f in findings).items())),
    }


def finding_entry(finding: Finding) -> dict[str, Any]:
    return {
        "reference": finding.reference,
        "title": finding.title,
        "grade": finding.grade.value,
        "severity": finding.severity.value,
        "state": finding.state.value,
        "clause_keys": list(finding.clause_keys),
        "raised_at": _at(finding.raised_at),
        "closed_at": _at(finding.closed_at),
    }


def capa_entry(capa: Capa, actions: Iterable[CapaAction], *, as_of: date) -> dict[str, Any]:
    actions = list(actions)
    return {
        "reference": capa.reference,
        "title": capa.title,
        "state": capa.state.value,
        "actions": len(actions),
        "actions_open": sum(1 for a in actions if a.status.value == "open"),
        "actions_overdue": sum(1 for a in actions if a.status.value == "open" and a.due_at < as_of),
        "effectiveness_result": (
            None if capa.effectiveness_result is None else capa.effectiveness_result.value
        ),
    }
