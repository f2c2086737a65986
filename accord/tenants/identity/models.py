"""Control-plane tables of identity (schema ``accord`` on the home store, revision c0002)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, ForeignKeyConstraint, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from accord.platform.db import ControlBase


class IdentityProvider(ControlBase):
    """An OIDC issuer that one tenant trusts for its users and service accounts."""

    __tablename__ = "identity_providers"
    __table_args__ = (
        UniqueConstraint("tenant", "issuer", name="uq_identity_providers_tenant_issuer"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant: Mapped[str] = mapped_column(Text, ForeignKey("accord.tenants.slug", ondelete="CASCADE"))
    issuer: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(Text)
    jwks_url: Mapped[str | None] = mapped_column(Text)
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    algorithms: Mapped[list[str]] = mapped_column(ARRAY(Text))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: the discovery document it was registered from (None: explicit JWKS URL or keys)
    discovery_url: Mapped[str | None] = mapped_column(Text)


class PlatformIssuer(ControlBase):
    """An issuer whose tokens identify platform operators (not any tenant's users)."""

    __tablename__ = "platform_issuers"

    issuer: Mapped[str] = mapped_column(Text, primary_key=True)
    audience: Mapped[str] = mapped_column(Text)
    jwks_url: Mapped[str | None] = mapped_column(Text)
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    algorithms: Mapped[list[str]] = mapped_column(ARRAY(Text))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MemberKey(ControlBase):
    """A member's public signing key (executives sign management reviews with it)."""

    __tablename__ = "member_keys"
    __table_args__ = (UniqueConstraint("member", "kid", name="uq_member_keys_member_kid"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    member: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("accord.members.id", ondelete="CASCADE")
    )
    kid: Mapped[str] = mapped_column(Text)
    alg: Mapped[str] = mapped_column(Text)
    jwk: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ServiceAccount(ControlBase):
    """A connector's OAuth2 client: its tokens carry ``sub`` = ``client_id``."""

    __tablename__ = "service_accounts"

    client_id: Mapped[str] = mapped_column(Text, primary_key=True)
    tenant: Mapped[str] = mapped_column(Text, ForeignKey("accord.tenants.slug", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: scrypt hash of a secret Accord issued (None: tokens come from the tenant's IdP)
    secret_hash: Mapped[str | None] = mapped_column(Text)


class Operator(ControlBase):
    """A platform operator, known by subject at one platform issuer."""

    __tablename__ = "operators"

    issuer: Mapped[str] = mapped_column(
        Text, ForeignKey("accord.platform_issuers.issuer"), primary_key=True
    )
    subject: Mapped[str] = mapped_column(Text, primary_key=True)
    display_name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BreakGlassGrant(ControlBase):
    """Time-boxed (at most 24 h) emergency access of one operator to one tenant."""

    __tablename__ = "break_glass_grants"
    __table_args__ = (
        ForeignKeyConstraint(
            ["operator_issuer", "operator_subject"],
            ["accord.operators.issuer", "accord.operators.subject"],
            name="fk_break_glass_grants_operator",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    operator_issuer: Mapped[str] = mapped_column(Text)
    operator_subject: Mapped[str] = mapped_column(Text)
    tenant: Mapped[str] = mapped_column(Text, ForeignKey("accord.tenants.slug", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
