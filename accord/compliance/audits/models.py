"""Audits and their teams (tenant plane).

An audit lives in the audited tenant's schema; ``lead_tenant`` and team members may be other
partners (a joint audit led by northwind at globex's plant is globex's record).
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from accord.compliance.records.models import RecordMixin, TextEnum, enum_check
from accord.platform.db import TenantBase


class AuditType(StrEnum):
    INTERNAL = "internal"
    JOINT = "joint"
    SUPPLIER = "supplier"
    CERTIFICATION = "certification"


class AuditStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class TeamRole(StrEnum):
    LEAD_AUDITOR = "lead_auditor"
    AUDITOR = "auditor"
    OBSERVER = "observer"
    AUDITEE_REPRESENTATIVE = "auditee_representative"


class Audit(RecordMixin, TenantBase):
    __tablename__ = "audits"
    __table_args__ = (
        UniqueConstraint("source_system", "external_id"),
        enum_check("type", AuditType),
        enum_check("status", AuditStatus),
        CheckConstraint("window_end >= window_start", name="window_order"),
        CheckConstraint("cardinality(clause_keys) > 0", name="has_clauses"),
    )
    __mapper_args__ = MappingProxyType({"eager_defaults": True})
    record_type: ClassVar[str] = "audit"

    programme: Mapped[str] = mapped_column(Text)
    type: Mapped[AuditType] = mapped_column(TextEnum(AuditType))
    title: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    clause_keys: Mapped[list[str]] = mapped_column(ARRAY(Text))
    lead_tenant: Mapped[str] = mapped_column(Text)
    audited_tenant: Mapped[str] = mapped_column(Text)
    window_start: Mapped[date] = mapped_column(Date)
    window_end: Mapped[date] = mapped_column(Date)
    status: Mapped[AuditStatus] = mapped_column(TextEnum(AuditStatus))


class AuditTeamMember(RecordMixin, TenantBase):
    __tablename__ = "audit_team_members"
    __table_args__ = (
        UniqueConstraint("source_system", "external_id"),
        enum_check("role", TeamRole),
        CheckConstraint("valid_until >= valid_from", name="validity_order"),
        Index("ix_audit_team_members_audit_id", "audit_id"),
    )
    __mapper_args__ = MappingProxyType({"eager_defaults": True})
    record_type: ClassVar[str] = "audit_team_member"

    audit_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("audits.id", ondelete="CASCADE")
    )
    tenant: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    role: Mapped[TeamRole] = mapped_column(TextEnum(TeamRole))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
