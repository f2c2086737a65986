"""Incident reports and their partner notifications.

A notification is *late* when it was made after its deadline, or when it has not been made
and the deadline has passed. Lateness depends on the clock, so it is computed (``is_late``
in Python, ``late_condition`` in SQL), never stored.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar

from sqlalchemy import (
    CheckConstraint,
    ColumnElement,
    DateTime,
    Double,
    ForeignKey,
    Integer,
    Text,
    UniqueConstraint,
    and_,
    or_,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accord.compliance.records.models import RecordMixin, TextEnum, enum_check
from accord.platform.db import TenantBase

SEVERITIES = range(1, 5)  # 1 is the most severe


class IncidentStatus(StrEnum):
    OPEN = "open"
    CONTAINED = "contained"
    RESOLVED = "resolved"
    CLOSED = "closed"


class IncidentReport(RecordMixin, TenantBase):
    __tablename__ = "incident_reports"
    __table_args__ = (
        UniqueConstraint("source_system", "external_id"),
        UniqueConstraint("reference"),
        CheckConstraint("severity BETWEEN 1 AND 4", name="severity"),
        CheckConstraint(
            "detected_at >= occurred_at AND reported_at >= detected_at", name="timeline"
        ),
        enum_check("status", IncidentStatus),
    )
    __mapper_args__ = MappingProxyType({"eager_defaults": True})
    record_type: ClassVar[str] = "incident_report"

    reference: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    severity: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[IncidentStatus] = mapped_column(TextEnum(IncidentStatus))


class IncidentNotification(RecordMixin, TenantBase):
    __tablename__ = "incident_notifications"
    __table_args__ = (
        UniqueConstraint("source_system", "external_id"),
        UniqueConstraint("incident_id", "partner"),
        CheckConstraint("deadline_hours > 0", name="deadline_hours"),
    )
    __mapper_args__ = MappingProxyType({"eager_defaults": True})
    record_type: ClassVar[str] = "incident_notification"

    incident_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("incident_reports.id")
    )
    partner: Mapped[str] = mapped_column(Text)
    deadline_hours: Mapped[float] = mapped_column(Double)
    required_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notified_by: Mapped[str | None] = mapped_column(Text)

    incident: Mapped[IncidentReport] = relationship(lazy="raise")

    def is_late(self, now: datetime) -> bool:
        if self.notified_at is not None:
            return self.notified_at > self.required_by
        return now > self.required_by

    @classmethod
    def late_condition(cls, now: datetime) -> ColumnElement[bool]:
        return or_(
            cls.notified_at > cls.required_by,
            and_(cls.notified_at.is_(None), cls.required_by < now),
        )
