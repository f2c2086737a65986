"""What callers hand to the findings service."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import AwareDatetime, Field, ValidationInfo, field_validator

from accord.compliance.findings.models import FindingGrade, Severity
from accord.compliance.records.inputs import NonEmpty, clause_keys, custom_error
from accord.compliance.records.provenance import ProvenanceIn


class FindingIn(ProvenanceIn):
    audit_id: uuid.UUID | None = None
    reference: NonEmpty
    title: NonEmpty
    grade: FindingGrade
    severity: Severity
    clause_keys: list[str] = Field(default_factory=list, validate_default=True)
    criteria: str | None = Field(default=None, validate_default=True)
    condition: NonEmpty
    cause: str | None = None
    raised_at: AwareDatetime | None = None  # default: now
    raised_by: str | None = None  # default: the actor
    owner: str | None = None
    response_due_at: date | None = None

    @field_validator("clause_keys")
    @classmethod
    def _clauses(cls, value: list[str]) -> list[str]:
        if not value:
            raise custom_error("CLAUSES_REQUIRED", "a finding names at least one clause")
        return clause_keys(value)

    @field_validator("criteria")
    @classmethod
    def _criteria(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A nonconformity is the non-fulfilment of a requirement: it must say which one.
        grade = info.data.get("grade")
        if grade is not None and grade.is_nonconformity and not (value and value.strip()):
            raise custom_error("CRITERIA_REQUIRED", "a nonconformity states its audit criteria")
        return value.strip() if value else None
