"""Evidence (tenant plane): a hashed artefact filed against a finding, a CAPA or clauses.

``captured_at`` is when the thing shown was observed (the photo taken, the record printed);
``uploaded_at`` is when it reached Accord. Closing a finding relies on the former. The file's
SHA-256 is ``sha256``: ``content_hash`` is the provenance hash every record carries (of the
source system's payload), a different thing.

Evidence uploaded to Accord keeps its bytes in the owner's own schema, in
``evidence_content``, one row per distinct SHA-256 (content-addressed: the same file filed
twice is stored once); its ``uri`` is then the RFC 6920 name ``ni:///sha-256;…`` of the
bytes. Evidence filed by a connector points at where its source keeps the file.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from types import MappingProxyType
from typing import ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

# Evidence refers to findings and CAPAs: their tables must be in the metadata too.
import accord.compliance.capa.models
import accord.compliance.findings.models  # noqa: F401
from accord.compliance.records.models import RecordMixin
from accord.platform.db import TenantBase

MEDIA_TYPE_PATTERN = r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$"


class Evidence(RecordMixin, TenantBase):
    __tablename__ = "evidence"
    __table_args__ = (
        UniqueConstraint("source_system", "external_id"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
        CheckConstraint(f"media_type ~ '{MEDIA_TYPE_PATTERN}'", name="media_type_form"),
        CheckConstraint("size_bytes >= 0", name="size_not_negative"),
        CheckConstraint(
            "finding_id IS NOT NULL OR capa_id IS NOT NULL OR cardinality(clause_keys) > 0",
            name="attached",
        ),
        CheckConstraint(
            "(capa_action_id IS NULL AND NOT effectiveness_check) OR capa_id IS NOT NULL",
            name="capa_part_has_capa",
        ),
        Index("ix_evidence_finding_id", "finding_id"),
        Index("ix_evidence_capa_id", "capa_id"),
        Index("ix_evidence_sha256", "sha256"),
        Index("ix_evidence_clause_keys", "clause_keys", postgresql_using="gin"),
    )
    __mapper_args__ = MappingProxyType({"eager_defaults": True})
    record_type: ClassVar[str] = "evidence"

    finding_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("findings.id")
    )
    capa_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("capas.id"))
    #: The CAPA action it shows done (an action of ``capa_id``).
    capa_action_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("capa_actions.id")
    )
    #: Filed for the effectiveness check of ``capa_id`` (not for its actions).
    effectiveness_check: Mapped[bool] = mapped_column(Boolean, server_default="false")
    #: The uploaded file's name, sanitised (None: not uploaded to Accord).
    filename: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(Text)
    media_type: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    uploaded_by: Mapped[str] = mapped_column(Text)
    uri: Mapped[str] = mapped_column(Text)
    clause_keys: Mapped[list[str]] = mapped_column(ARRAY(Text))


class EvidenceContent(TenantBase):
    """The bytes of uploaded evidence, once per SHA-256, in the owner's own schema."""

    __tablename__ = "evidence_content"
    __table_args__ = (
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
        CheckConstraint("size_bytes = octet_length(content)", name="size_matches"),
        CheckConstraint(f"media_type ~ '{MEDIA_TYPE_PATTERN}'", name="media_type_form"),
    )

    sha256: Mapped[str] = mapped_column(Text, primary_key=True)
    media_type: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stored_by: Mapped[str] = mapped_column(Text)
