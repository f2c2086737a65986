"""The agreed protocol of a joint audit, a finding's deadlines, the notifications sent."""

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
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from accord.compliance.records.models import RecordMixin, enum_check
from accord.platform.db import TenantBase

# --------------------------------------------------------------------------- tables


class AuditProtocol(RecordMixin, TenantBase):
    """A programme's default protocol (``audit_id`` null) or the one agreed for an audit."""

    __tablename__ = "audit_protocols"
    __table_args__ = (
        UniqueConstraint("source_system", "external_id"),
        UniqueConstraint("audit_id"),
        Index(
            "uq_audit_protocols_programme_default",
            "programme",
            unique=True,
            postgresql_where=text("audit_id IS NULL"),
        ),
        CheckConstraint("response_days BETWEEN 1 AND 365", name="response_days_range"),
        CheckConstraint(
            "capa_plan_days BETWEEN response_days AND 730", name="capa_plan_days_range"
        ),
        CheckConstraint(
            "recheck_after_days IS NULL OR recheck_after_days BETWEEN 1 AND 1095",
            name="recheck_after_days_range",
        ),
    )
    __mapper_args__ = MappingProxyType({"eager_defaults": True})
    record_type: ClassVar[str] = "audit_protocol"

    audit_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("audits.id", ondelete="CASCADE")
    )
    programme: Mapped[str] = mapped_column(Text)
    response_days: Mapped[int] = mapped_column(Integer)
    capa_plan_days: Mapped[int] = mapped_column(Integer)
    #: null only on a programme default (then: the lead tenant of each audit)
    verifier_tenant: Mapped[str | None] = mapped_column(Text)
    required_evidence_types: Mapped[list[str]] = mapped_column(ARRAY(Text))
    recheck_after_days: Mapped[int | None] = mapped_column(Integer)
    process: Mapped[str | None] = mapped_column(Text)


class OverdueKind(StrEnum):
    RESPONSE = "response_overdue"
    CAPA_PLAN = "capa_plan_overdue"


class FindingDeadline(TenantBase):
    """The protocol's clock on one finding: deadlines, overdue flag, effectiveness re-check."""

    __tablename__ = "audit_finding_deadlines"
    __table_args__ = (Index("ix_audit_finding_deadlines_audit_id", "audit_id"),)

    finding_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("findings.id", ondelete="CASCADE"), primary_key=True
    )
    audit_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("audits.id", ondelete="CASCADE")
    )
    capa_plan_due_at: Mapped[date | None] = mapped_column(Date)
    recheck_due_at: Mapped[date | None] = mapped_column(Date)
    overdue_since: Mapped[date | None] = mapped_column(Date)
    overdue_kinds: Mapped[list[str]] = mapped_column(
        ARRAY(Text), default=list, server_default=text("'{}'")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class AuditNotification(TenantBase):
    """A notice to the Accountable party (a party key such as ``user:northwind/maria``)."""

    __tablename__ = "audit_notifications"
    __table_args__ = (
        UniqueConstraint("finding_id", "kind", "due_on"),
        enum_check("kind", OverdueKind),
        Index("ix_audit_notifications_recipient_tenant", "recipient_tenant"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    audit_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("audits.id", ondelete="CASCADE")
    )
    finding_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("findings.id", ondelete="CASCADE")
    )
    recipient_tenant: Mapped[str] = mapped_column(Text)
    recipient: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    due_on: Mapped[date] = mapped_column(Date)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
