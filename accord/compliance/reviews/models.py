"""Management reviews and the actions their decisions become.

A review is edited while ``draft``; freezing turns its content into one RFC 8785 document
whose SHA-256 (``content_digest``) is what signatories will sign. From then on the content
is locked — by the service, and by a trigger in the database — and a change needs a new
revision that links to the one it revises.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from accord.compliance.records.models import RecordMixin, TextEnum, enum_check
from accord.platform.db import TenantBase


class ReviewStatus(StrEnum):
    DRAFT = "draft"
    FROZEN = "frozen"
    APPROVED = "approved"


class ActionStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class ManagementReview(RecordMixin, TenantBase):
    __tablename__ = "management_reviews"
    __table_args__ = (
        UniqueConstraint("source_system", "external_id"),
        # One successor per revision: the history of a review is a line, never a fork.
        UniqueConstraint("previous_id"),
        CheckConstraint("period_end >= period_start", name="period"),
        CheckConstraint("revision >= 1", name="revision"),
        CheckConstraint(
            "(status = 'draft') = (content_digest IS NULL AND frozen_at IS NULL)",
            name="frozen_digest",
        ),
        enum_check("status", ReviewStatus),
    )
    __mapper_args__ = MappingProxyType({"eager_defaults": True})
    record_type: ClassVar[str] = "management_review"

    title: Mapped[str] = mapped_column(Text)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    standards: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    minutes: Mapped[str] = mapped_column(Text, default="")
    decisions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    required_signatories: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    status: Mapped[ReviewStatus] = mapped_column(TextEnum(ReviewStatus))
    revision: Mapped[int] = mapped_column(Integer)
    previous_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("management_reviews.id")
    )
    content_digest: Mapped[str | None] = mapped_column(Text)
    frozen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    frozen_by: Mapped[str | None] = mapped_column(Text)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[str | None] = mapped_column(Text)


class ReviewAction(RecordMixin, TenantBase):
    """A decision of a frozen review, tracked until done (ISO 9.3.3 outputs)."""

    __tablename__ = "review_actions"
    __table_args__ = (
        UniqueConstraint("source_system", "external_id"),
        Index(None, "review_id"),
        enum_check("status", ActionStatus),
    )
    __mapper_args__ = MappingProxyType({"eager_defaults": True})
    record_type: ClassVar[str] = "review_action"

    review_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("management_reviews.id")
    )
    text: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(Text)
    due_at: Mapped[date] = mapped_column(Date)
    status: Mapped[ActionStatus] = mapped_column(TextEnum(ActionStatus))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
