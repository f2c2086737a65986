"""Control-plane tables of the tenants domain (schema ``accord`` on the home store)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, ForeignKey, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from accord.platform.db import ControlBase, TenantScope


class TenantStatus(StrEnum):
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    OFFBOARDED = "offboarded"


class Tenant(ControlBase):
    __tablename__ = "tenants"

    slug: Mapped[str] = mapped_column(Text, primary_key=True)
    legal_name: Mapped[str] = mapped_column(Text)
    jurisdiction: Mapped[str] = mapped_column(Text)
    store: Mapped[str] = mapped_column(Text, ForeignKey("accord.stores.name"))
    status: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    offboarded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    export_hash: Mapped[str | None] = mapped_column(Text)
    export_path: Mapped[str | None] = mapped_column(Text)

    @property
    def scope(self) -> TenantScope:
        return TenantScope(slug=self.slug, store=self.store)


class Member(ControlBase):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("tenant", "subject", name="uq_members_tenant_subject"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant: Mapped[str] = mapped_column(Text, ForeignKey("accord.tenants.slug"))
    subject: Mapped[str] = mapped_column(Text)
    display_name: Mapped[str] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    roles: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: set when the member was removed: no sign-in any more, its keys' history kept
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
