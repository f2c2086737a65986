"""Where a record came from: source system, external id (unique together), fetched at and
content hash. Records created in Accord itself keep the defaults; an imported record is
checked against its source's earlier imports before anything is written."""

from __future__ import annotations

import re
from typing import Any

from pydantic import AwareDatetime, Field, ValidationInfo, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.records.history import jsonable
from accord.compliance.records.inputs import InputModel, custom_error
from accord.compliance.records.models import ACCORD_SOURCE, RecordMixin
from accord.platform.canonical import canonical_digest
from accord.platform.errors import Conflict

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class ProvenanceIn(InputModel):
    """Where a record came from; records created in Accord itself keep the defaults."""

    source_system: str = ACCORD_SOURCE
    external_id: str | None = Field(default=None, validate_default=True)
    fetched_at: AwareDatetime | None = None
    content_hash: str | None = None

    @field_validator("external_id")
    @classmethod
    def _external_id_for_imports(cls, value: str | None, info: ValidationInfo) -> str | None:
        source = info.data.get("source_system", ACCORD_SOURCE)
        if source != ACCORD_SOURCE and not value:
            raise custom_error(
                "EXTERNAL_ID_REQUIRED", f"a record from '{source}' needs its external id"
            )
        return value

    @field_validator("content_hash")
    @classmethod
    def _content_hash(cls, value: str | None) -> str | None:
        if value is not None and not SHA256_RE.match(value.lower()):
            raise custom_error("BAD_HASH", "content_hash must be 64 hexadecimal digits (SHA-256)")
        return None if value is None else value.lower()


def provenance_of(data: ProvenanceIn) -> dict[str, Any]:
    return {
        "source_system": data.source_system,
        "external_id": data.external_id,
        "fetched_at": data.fetched_at,
        "content_hash": data.content_hash,
    }


def content_hash_of(payload: dict[str, Any]) -> str:
    """SHA-256 of the RFC 8785 form of a record's source payload (provenance)."""
    return canonical_digest(jsonable(payload))


async def reject_duplicate(
    session: AsyncSession, model: type[RecordMixin], data: ProvenanceIn
) -> None:
    """``Conflict(DUPLICATE_RECORD)`` if ``model`` already holds this source record."""
    if data.external_id is None:
        return
    existing = await session.scalar(
        select(model.id).where(
            model.source_system == data.source_system, model.external_id == data.external_id
        )
    )
    if existing is not None:
        raise Conflict(
            f"{model.record_type} {data.source_system}/{data.external_id} exists already "
            f"(id {existing}).",
            reason="DUPLICATE_RECORD",
            field="external_id",
        )
