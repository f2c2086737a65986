"""KPIs with a target and two thresholds, periodic measurements, and governance items.

Thresholds are ordered by the KPI's direction: for ``higher_is_better`` the target lies
above the warning threshold, which lies above the breach threshold; for
``lower_is_better`` the order is reversed. A value *worse than* a threshold crosses it.
"""

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
    Double,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from accord.compliance.records.models import RecordMixin, TextEnum, enum_check
from accord.platform.db import TenantBase


class Direction(StrEnum):
    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"


class Rating(StrEnum):
    """Where a measured value falls relative to the KPI's target and thresholds."""

    ON_TARGET = "on_target"
    OFF_TARGET = "off_target"  # missed the target, within the warning threshold
    WARNING = "warning"  # crossed the warning threshold, not the breach threshold
    BREACH = "breach"


class GovernanceKind(StrEnum):
    KPI_BREACH = "kpi_breach"


class GovernanceStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Kpi(RecordMixin, TenantBase):
    __tablename__ = "kpis"
    __table_args__ = (
        UniqueConstraint("source_system", "external_id"),
        UniqueConstraint("key"),
        enum_check("direction", Direction),
        CheckConstraint(
            "(direction = 'higher_is_better'"
            " AND target > warning_threshold AND warning_threshold > breach_threshold)"
            " OR (direction = 'lower_is_better'"
            " AND target < warning_threshold AND warning_threshold < breach_threshold)",
            name="thresholds",
        ),
    )
    __mapper_args__ = MappingProxyType({"eager_defaults": True})
    record_type: ClassVar[str] = "kpi"

    key: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    definition: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(Text)
    direction: Mapped[Direction] = mapped_column(TextEnum(Direction))
    target: Mapped[float] = mapped_column(Double)
    warning_threshold: Mapped[float] = mapped_column(Double)
    breach_threshold: Mapped[float] = mapped_column(Double)
    owner: Mapped[str] = mapped_column(Text)
    standards: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    clause_keys: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)


class KpiMeasurement(RecordMixin, TenantBase):
    __tablename__ = "kpi_measurements"
    __table_args__ = (
        UniqueConstraint("source_system", "external_id"),
        UniqueConstraint("kpi_id", "period_end"),
        CheckConstraint("period_end >= period_start", name="period"),
        enum_check("rating", Rating),
    )
    __mapper_args__ = MappingProxyType({"eager_defaults": True})
    record_type: ClassVar[str] = "kpi_measurement"

    kpi_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("kpis.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    value: Mapped[float] = mapped_column(Double)
    rating: Mapped[Rating] = mapped_column(TextEnum(Rating))
    measured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class GovernanceItem(RecordMixin, TenantBase):
    """Something management must look at, e.g. a KPI breach; closed by a person, never by data."""

    __tablename__ = "governance_items"
    __table_args__ = (
        UniqueConstraint("source_system", "external_id"),
        Index(None, "kpi_id"),
        enum_check("kind", GovernanceKind),
        enum_check("status", GovernanceStatus),
        CheckConstraint(
            "kind <> 'kpi_breach' OR (kpi_id IS NOT NULL AND measurement_id IS NOT NULL)",
            name="kpi_breach_refs",
        ),
    )
    __mapper_args__ = MappingProxyType({"eager_defaults": True})
    record_type: ClassVar[str] = "governance_item"

    kind: Mapped[GovernanceKind] = mapped_column(TextEnum(GovernanceKind))
    kpi_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("kpis.id"))
    measurement_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("kpi_measurements.id")
    )
    title: Mapped[str] = mapped_column(Text)
    status: Mapped[GovernanceStatus] = mapped_column(TextEnum(GovernanceStatus))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(Text)
    resolution: Mapped[str | None] = mapped_column(Text)
