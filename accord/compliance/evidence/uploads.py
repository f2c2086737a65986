"""Evidence uploaded to Accord: read within the size limit, recognised, kept by its hash.

``read_upload`` takes the file chunk by chunk and stops at the first chunk past the limit
(nothing of it is kept); ``store_upload`` then files it in the owner's own schema, in the
caller's transaction: the bytes once per SHA-256 (``evidence_content``) and the evidence
record naming that hash, whose ``evidence.added`` event binds it.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.capa.models import Capa
from accord.compliance.capa.states import CapaState
from accord.compliance.evidence import service as evidence_service
from accord.compliance.evidence.models import Evidence, EvidenceContent
from accord.compliance.evidence.sniff import safe_filename, sniff
from accord.compliance.findings.models import Finding
from accord.compliance.findings.states import FindingState
from accord.compliance.records.day import now
from accord.platform.errors import BadInput, Conflict, NotFound

CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Upload:
    """A file read whole and recognised, not yet stored."""

    content: bytes
    sha256: str
    media_type: str
    filename: str

    @property
    def uri(self) -> str:
        """The RFC 6920 name of the bytes (``ni:///sha-256;…``)."""
        digest = base64.urlsafe_b64encode(bytes.fromhex(self.sha256)).decode().rstrip("=")
        return f"ni:///sha-256;{digest}"


def too_large(max_bytes: int) -> BadInput:
    return BadInput(
        f"The file is larger than {max_bytes} bytes, the most Accord keeps as evidence.",
        reason="EVIDENCE_TOO_LARGE",
        field="file",
    )


async def read_upload(
    chunks: AsyncIterator[bytes], *, filename: str | None, max_bytes: int
) -> Upload:
    """Read ``chunks`` up to ``max_bytes``, hash and recognise them; refuse past the limit,
    empty files and kinds of file not on the allow-list (``sniff``)."""
    digest = hashlib.sha256()
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise too_large(max_bytes)
        digest.update(chunk)
        parts.append(chunk)
    if size == 0:
        raise BadInput("The file is empty.", reason="EVIDENCE_EMPTY", field="file")
    content = b"".join(parts)
    media_type = sniff(content, filename=filename)
    return Upload(content, digest.hexdigest(), media_type, safe_filename(filename, media_type))


@dataclass(frozen=True, slots=True)
class Target:
    """What the evidence is filed on (ids of records in the owner's schema)."""

    finding_id: uuid.UUID | None = None
    capa_id: uuid.UUID | None = None
    capa_action_id: uuid.UUID | None = None
    effectiveness_check: bool = False


async def store_upload(
    *,
    session: AsyncSession,
    upload: Upload,
    target: Target,
    actor: str,
    title: str | None = None,
    captured_at: datetime | None = None,
    clause_keys: list[str] | None = None,
) -> Evidence:
    """File ``upload`` on ``target``: its bytes once per hash, the evidence record, the
    event. A closed finding or CAPA takes no more evidence."""
    if target.finding_id is not None:
        finding = await session.get(Finding, target.finding_id)
        if finding is not None and finding.state is FindingState.CLOSED:
            raise Conflict(
                "The finding is closed; reopen it to add evidence.",
                reason="FINDING_CLOSED",
                field="finding_id",
            )
    if target.capa_id is not None:
        capa = await session.get(Capa, target.capa_id)
        if capa is not None and capa.state is CapaState.CLOSED:
            raise Conflict("The CAPA is closed.", reason="CAPA_CLOSED", field="capa_id")
    uploaded_at = now()
    evidence = await evidence_service.add_evidence(
        session=session,
        data={
            "finding_id": target.finding_id,
            "capa_id": target.capa_id,
            "capa_action_id": target.capa_action_id,
            "effectiveness_check": target.effectiveness_check,
            "filename": upload.filename,
            "title": title if title and title.strip() else upload.filename,
            "sha256": upload.sha256,
            "media_type": upload.media_type,
            "size_bytes": len(upload.content),
            "captured_at": captured_at or uploaded_at,
            "uploaded_at": uploaded_at,
            "uri": upload.uri,
            "clause_keys": clause_keys or [],
        },
        actor=actor,
    )
    await session.execute(
        insert(EvidenceContent)
        .values(
            sha256=upload.sha256,
            media_type=upload.media_type,
            size_bytes=len(upload.content),
            content=upload.content,
            stored_at=uploaded_at,
            stored_by=actor,
        )
        .on_conflict_do_nothing(index_elements=["sha256"])
    )
    return evidence


async def content_of(*, session: AsyncSession, evidence: Evidence) -> EvidenceContent:
    """The stored bytes of ``evidence``; NotFound when it was filed with a pointer to its
    source (a connector's evidence) rather than uploaded."""
    stored = await session.scalar(
        select(EvidenceContent).where(EvidenceContent.sha256 == evidence.sha256)
    )
    if stored is None:
        raise NotFound(
            "This evidence was not uploaded to Accord; its source keeps the file.",
            reason="EVIDENCE_NOT_STORED",
            field="id",
        )
    return stored
