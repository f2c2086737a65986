"""Audit findings (tenant plane): graded, against clauses of one or more standards."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

# Findings refer to audits: that table must be in the metadata too.
import accord.compliance.audits.models  # noqa: F401
from accord.compliance.findings.states import FindingState
from accord.compliance.records.models import RecordMixin, TextEnum, enum_check
from accord.platform.db import TenantBase


class FindingGrade(StrEnum):
    MAJOR_NONCONFORMITY = "major_nonconformity"
    MINOR_NONCONFORMITY = "minor_nonconformity"
    OBSERVATION = "observation"
    OPPORTUNITY_FOR_IMPROVEMENT = "opportunity_for_improvement"

    @property
    def is_nonconformity(self) -> bool:
        return self in (FindingGrade.MAJOR_NONCONFORMITY, FindingGrade.MINOR_NONCONFORMITY)


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class VerificationResult(StrEnum):
    PASSED = "passed"
    FAILED = "failed"


class Finding(RecordMixin, TenantBase):
    __tablename__ = "findings"
    __table_args__ = (
        UniqueConstraint("source_system", "external_id"),
        UniqueConstraint("reference"),
        enum_check("grade", FindingGrade),
        enum_check("severity", Severity),
        enum_check("state", FindingState),
        enum_check("verification_result", VerificationResult),
        CheckConstraint("cardinality(clause_keys) > 0", name="has_clauses"),
        CheckConstraint(
            "state <> 'closed' OR (closed_at IS NOT NULL AND closed_by IS NOT NULL)",
            name="closed_stamped",
        ),
        Index("ix_findings_audit_id", "audit_id"),
        Index("ix_findings_clause_keys", "clause_keys", postgresql_using="gin"),
        # Keyset pages of federated listings (tenant migration t0009).
        Index("ix_findings_created_at_id", "created_at", "id"),
        Index("ix_findings_raised_at_id", "raised_at", "id"),
        Index("ix_findings_due_id", text("coalesce(response_due_at, 'infinity'::date)"), "id"),
    )
    __mapper_args__ = MappingProxyType({"eager_defaults": True})
    record_type: ClassVar[str] = "finding"

    audit_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("audits.id"))
    reference: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    grade: Mapped[FindingGrade] = mapped_column(TextEnum(FindingGrade))
    severity: Mapped[Severity] = mapped_column(TextEnum(Severity))
    clause_keys: Mapped[list[str]] = mapped_column(ARRAY(Text))
    criteria: Mapped[str | None] = mapped_column(Text)
    condition: Mapped[str] = mapped_column(Text)
    cause: Mapped[str | None] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    raised_by: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(Text)
    response_due_at: Mapped[date | None] = mapped_column(Date)
    response: Mapped[str | None] = mapped_column(Text)
    state: Mapped[FindingState] = mapped_column(TextEnum(FindingState))
    verification_result: Mapped[VerificationResult | None] = mapped_column(
        TextEnum(VerificationResult)
    )
    verified_by: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reopened_reason: Mapped[str | None] = mapped_column(Text)
    reopened_by: Mapped[str | None] = mapped_column(Text)
    reopened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(Text)
    #: Set when the source system reported the finding deleted (the row is kept).
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
