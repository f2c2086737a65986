"""Data-sharing agreements (control plane) and the grantor's access log (tenant plane)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Integer, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from accord.platform.db import ControlBase, TenantBase

#: Record types a tenant can share; the compliance layer's records use these names.
SHAREABLE_RECORD_TYPES = frozenset(
    {
        "audit",
        "finding",
        "evidence",
        "capa",
        "management_review",
        "kpi",
        "risk",
        "incident",
    }
)


class SharingLevel(StrEnum):
    FULL = "full"
    SUMMARY = "summary"
    AGGREGATE = "aggregate"


class AgreementState(StrEnum):
    PROPOSED = "proposed"
    ACTIVE = "active"
    REVOKED = "revoked"


class Agreement(ControlBase):
    __tablename__ = "agreements"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    grantor: Mapped[str] = mapped_column(Text, ForeignKey("accord.tenants.slug"))
    grantee: Mapped[str] = mapped_column(Text, ForeignKey("accord.tenants.slug"))
    record_types: Mapped[list[str]] = mapped_column(ARRAY(Text))
    level: Mapped[str] = mapped_column(Text)
    min_group_size: Mapped[int | None] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(Text)
    proposed_by: Mapped[str] = mapped_column(Text)
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_by: Mapped[str | None] = mapped_column(Text)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    activated_by: Mapped[str | None] = mapped_column(Text)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_by: Mapped[str | None] = mapped_column(Text)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(Text)
    notification_policy: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    def effective_state(self, at: datetime) -> str:
        """``expired`` and ``pending`` are derived from the clock, never stored."""
        if self.state != AgreementState.ACTIVE:
            return self.state
        if self.valid_until is not None and at >= self.valid_until:
            return "expired"
        if at < self.valid_from:
            return "pending"
        return self.state


class AccessLogEntry(TenantBase):
    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    grantee: Mapped[str] = mapped_column(Text)
    principal: Mapped[str] = mapped_column(Text)
    agreement_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    record_type: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text)
    records: Mapped[int] = mapped_column(Integer)
    request_id: Mapped[str | None] = mapped_column(Text)
