"""What callers hand to the evidence service."""

from __future__ import annotations

import re
import uuid

from pydantic import AwareDatetime, Field, field_validator

from accord.compliance.evidence.models import MEDIA_TYPE_PATTERN
from accord.compliance.records.inputs import NonEmpty, clause_keys, custom_error
from accord.compliance.records.provenance import SHA256_RE, ProvenanceIn

#: IANA top-level media types (RFC 6838 section 4.2, RFC 8081, RFC 9695)
TOP_LEVEL_TYPES = frozenset(
    {
        "application",
        "audio",
        "example",
        "font",
        "haptics",
        "image",
        "message",
        "model",
        "multipart",
        "text",
        "video",
    }
)
_MEDIA_TYPE_RE = re.compile(MEDIA_TYPE_PATTERN)
_URI_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$")
_MAX_NAME = 127  # RFC 6838: type and subtype names are at most 127 characters


class EvidenceIn(ProvenanceIn):
    finding_id: uuid.UUID | None = None
    capa_id: uuid.UUID | None = None
    capa_action_id: uuid.UUID | None = None  # an action of ``capa_id``
    effectiveness_check: bool = False  # filed for ``capa_id``'s effectiveness check
    filename: str | None = None  # of an uploaded file, sanitised
    title: NonEmpty
    sha256: str
    media_type: str
    size_bytes: int
    captured_at: AwareDatetime
    uploaded_at: AwareDatetime | None = None  # default: now
    uri: NonEmpty
    clause_keys: list[str] = Field(default_factory=list)

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, value: str) -> str:
        value = value.lower()
        if not SHA256_RE.match(value):
            raise custom_error("BAD_HASH", "sha256 must be 64 hexadecimal digits")
        return value

    @field_validator("media_type")
    @classmethod
    def _media_type(cls, value: str) -> str:
        value = value.lower()
        if not _MEDIA_TYPE_RE.match(value) or any(len(p) > _MAX_NAME for p in value.split("/")):
            raise custom_error(
                "BAD_MEDIA_TYPE", f"{value!r} is not a media type 'type/subtype' (RFC 6838)"
            )
        if value.split("/")[0] not in TOP_LEVEL_TYPES:
            raise custom_error("BAD_MEDIA_TYPE", f"{value!r} has no registered top-level type")
        return value

    @field_validator("size_bytes")
    @classmethod
    def _size(cls, value: int) -> int:
        if value < 0:
            raise custom_error("NEGATIVE_SIZE", "size_bytes must be 0 or more")
        return value

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        if not _URI_RE.match(value):
            raise custom_error("BAD_URI", f"{value!r} is not an absolute URI (scheme:...)")
        return value

    @field_validator("clause_keys")
    @classmethod
    def _clauses(cls, value: list[str]) -> list[str]:
        return clause_keys(value)
