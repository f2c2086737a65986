"""Webhook endpoints partners register and the owner's append-only delivery attempts."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from accord.compliance.records.models import TextEnum, enum_check
from accord.platform.db import ControlBase, TenantBase


class AttemptStatus(StrEnum):
    #: failed, and another attempt follows
    RETRYING = "retrying"
    DELIVERED = "delivered"
    #: failed, and it was the last attempt of its delivery
    FAILED = "failed"


class Channel(StrEnum):
    WEBHOOK = "webhook"
    #: into the partner's own Accord event log (the ``incidentNotifications`` subscription)
    EVENT = "event"


class WebhookEndpoint(ControlBase):
    __tablename__ = "incident_webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant: Mapped[str] = mapped_column(Text, ForeignKey("accord.tenants.slug"), unique=True)
    url: Mapped[str] = mapped_column(Text)
    #: Fernet token of the shared secret
    secret: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class WebhookDelivery(TenantBase):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        enum_check("status", AttemptStatus),
        CheckConstraint("attempt >= 1", name="attempt"),
        Index("ix_webhook_deliveries_notification_id", "notification_id"),
        Index("ix_webhook_deliveries_delivery_id", "delivery_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    notification_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("incident_notifications.id")
    )
    partner: Mapped[str] = mapped_column(Text)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    #: scheme, host, port and path of the endpoint (never its query or credentials)
    target: Mapped[str] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[AttemptStatus] = mapped_column(TextEnum(AttemptStatus))
    http_status: Mapped[int | None] = mapped_column(Integer)
    #: e.g. TIMEOUT, CONNECTION_ERROR, HTTP_503 (None when delivered)
    error_code: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Double)


class ReceivedIncidentNotification(TenantBase):
    __tablename__ = "received_incident_notifications"
    __table_args__ = (
        enum_check("channel", Channel),
        Index("ix_received_incident_notifications_owner", "owner"),
    )

    #: the owner's notification id (unique across tenants: a UUID)
    notification_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    owner: Mapped[str] = mapped_column(Text)
    incident_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    incident_reference: Mapped[str] = mapped_column(Text)
    severity: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    required_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    channel: Mapped[Channel] = mapped_column(TextEnum(Channel))
    delivery_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))

    def is_late(self) -> bool:
        return self.received_at > self.required_by
