"""Signatures of management reviews (tenant plane, revision t0008).

One row per signatory and revision, in the tenant that owns the review: the detached JWS
as submitted, the binding it was verified against (revision, digest) and a snapshot of the
public key that verified it, so that an export still verifies after the key is revoked.
A row is never rewritten: the database lets an update only mark it superseded (once),
when a new revision of the review is made (see ``signatures.supersede_signatures``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from accord.platform.db import TenantBase


class ReviewSignature(TenantBase):
    __tablename__ = "review_signatures"
    __table_args__ = (
        UniqueConstraint("review_id", "signer_tenant", "signer_subject"),
        CheckConstraint("alg IN ('Ed25519', 'EdDSA', 'ES256')", name="alg"),
        CheckConstraint("(superseded_at IS NULL) = (superseded_by IS NULL)", name="superseded"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    review_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("management_reviews.id")
    )
    revision: Mapped[int] = mapped_column(Integer)
    content_digest: Mapped[str] = mapped_column(Text)
    signer_tenant: Mapped[str] = mapped_column(Text)
    signer_subject: Mapped[str] = mapped_column(Text)
    signer_role: Mapped[str] = mapped_column(Text)
    kid: Mapped[str] = mapped_column(Text)
    alg: Mapped[str] = mapped_column(Text)
    jwk: Mapped[dict[str, Any]] = mapped_column(JSONB)
    jws: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    recorded_by: Mapped[str] = mapped_column(Text)
    superseded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    superseded_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("management_reviews.id")
    )
