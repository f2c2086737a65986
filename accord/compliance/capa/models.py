"""Corrective and preventive actions (tenant plane): analysis, actions, effectiveness."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

# capa_findings refers to findings: their table must be in the metadata too.
import accord.compliance.findings.models  # noqa: F401
from accord.compliance.capa.states import CapaState
from accord.compliance.records.models import RecordMixin, TextEnum, enum_check
from accord.platform.db import TenantBase


class RootCauseMethod(StrEnum):
    FIVE_WHYS = "five_whys"
    FISHBONE = "fishbone"
    FMEA = "fmea"


class EffectivenessResult(StrEnum):
    EFFECTIVE = "effective"
    NOT_EFFECTIVE = "not_effective"


class ActionStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


capa_findings = Table(
    "capa_findings",
    TenantBase.metadata,
    Column("capa_id", UUID(as_uuid=True), ForeignKey("capas.id", ondelete="CASCADE")),
    Column("finding_id", UUID(as_uuid=True), ForeignKey("findings.id", ondelete="CASCADE")),
    PrimaryKeyConstraint("capa_id", "finding_id"),
    Index("ix_capa_findings_finding_id", "finding_id"),
)


class Capa(RecordMixin, TenantBase):
    __tablename__ = "capas"
    __table_args__ = (
        UniqueConstraint("source_system", "external_id"),
        UniqueConstraint("reference"),
        enum_check("root_cause_method", RootCauseMethod),
        enum_check("state", CapaState),
        enum_check("effectiveness_result", EffectivenessResult),
        CheckConstraint(
            "(root_cause_method IS NULL) = (root_cause_analysis IS NULL)",
            name="root_cause_complete",
        ),
        CheckConstraint(
            "(effectiveness_verifier_subject IS NULL) = (effectiveness_verifier_tenant IS NULL)",
            name="verifier_complete",
        ),
        Index("ix_capas_created_at_id", "created_at", "id"),
    )
    __mapper_args__ = MappingProxyType({"eager_defaults": True})
    record_type: ClassVar[str] = "capa"

    reference: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    #: The clauses the CAPA's actions address (its scope); see ``coverage_flags``.
    clause_keys: Mapped[list[str]] = mapped_column(ARRAY(Text))
    root_cause_method: Mapped[RootCauseMethod | None] = mapped_column(TextEnum(RootCauseMethod))
    root_cause_analysis: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    containment: Mapped[str | None] = mapped_column(Text)
    state: Mapped[CapaState] = mapped_column(TextEnum(CapaState))
    effectiveness_due_at: Mapped[date | None] = mapped_column(Date)
    effectiveness_verifier_subject: Mapped[str | None] = mapped_column(Text)
    effectiveness_verifier_tenant: Mapped[str | None] = mapped_column(Text)
    effectiveness_result: Mapped[EffectivenessResult | None] = mapped_column(
        TextEnum(EffectivenessResult)
    )
    effectiveness_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    effectiveness_checked_by: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(Text)
    #: Set when the source system reported the CAPA deleted (the row is kept).
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CapaAction(RecordMixin, TenantBase):
    __tablename__ = "capa_actions"
    __table_args__ = (
        UniqueConstraint("source_system", "external_id"),
        enum_check("status", ActionStatus),
        CheckConstraint(
            "(status = 'done') = (completed_at IS NOT NULL AND completed_by IS NOT NULL)",
            name="completion_stamped",
        ),
        Index("ix_capa_actions_capa_id", "capa_id"),
    )
    __mapper_args__ = MappingProxyType({"eager_defaults": True})
    record_type: ClassVar[str] = "capa_action"

    capa_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("capas.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(Text)
    owner_tenant: Mapped[str] = mapped_column(Text)
    due_at: Mapped[date] = mapped_column(Date)
    status: Mapped[ActionStatus] = mapped_column(TextEnum(ActionStatus))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_by: Mapped[str | None] = mapped_column(Text)
    #: Set when the source system reported the action deleted (the row is kept).
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
