"""``uploadEvidence``: a file filed on a finding, a CAPA, a CAPA action or an effectiveness
check, kept in the owner's own schema.

The file rides a GraphQL multipart request (the ``operations``/``map`` form of the GraphQL
multipart request specification). Only bearer tokens authenticate the API, so a form
posted from another site carries no credentials and the upload route needs no CSRF token.

Gates, as for every change to the record filed on: the owner shares that record type
with the caller's organisation (``full`` or ``summary``), the caller may read it (else it
does not exist for them), and the action gate allows one of the actions the filing is part
of under the process named:

| filed on                      | action (on)                          |
|-------------------------------|--------------------------------------|
| a finding                     | respond or verify (finding)          |
| a CAPA                        | propose_capa or complete_action (capa)|
| a CAPA action                 | complete_action (capa)               |
| a CAPA's effectiveness check  | verify (capa)                        |

Only then is the file read: within ``ACCORD_EVIDENCE_MAX_BYTES`` (the HTTP layer already
refused a larger request body while it streamed in), its media type recognised from its
bytes against the allow-list, its name sanitised. Bytes, record and event are written in
one transaction of the owner's store; a refusal writes nothing but, for a caller with
standing, the refused attempt in the owner's log.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload

from accord.compliance.capa import service as capa_service
from accord.compliance.evidence.models import Evidence
from accord.compliance.evidence.uploads import CHUNK_BYTES, Target, read_upload, store_upload
from accord.compliance.sharing.reads import SharedRecord
from accord.graphql.audits.access import (
    Caller,
    finding_not_found,
    get_visible_finding,
    log_refusal,
    require_visible,
    sovereign,
)
from accord.graphql.auth import require_principal
from accord.graphql.capas.access import capa_not_found, log_capa_refusal
from accord.graphql.context import Context
from accord.graphql.errors import EvidenceError
from accord.graphql.evidence.levels import evidence_level
from accord.graphql.listing import Process
from accord.graphql.records.evidence import RECORD_TYPE, EvidenceNode
from accord.graphql.relay import GlobalId
from accord.platform.errors import AccordError, BadInput, Conflict, Forbidden, NotFound
from accord.policies.schemas import Resource
from accord.tenants.sessions import tenant_session


@strawberry.input(description="A file to keep as evidence, and what it is filed on.")
class UploadEvidenceInput:
    file: Upload = strawberry.field(
        description="The file, sent as a GraphQL multipart request. Its media type is "
        "recognised from its bytes (PDF, PNG, JPEG, GIF, WebP, plain text, CSV, Word, "
        "Excel or PowerPoint files); the size limit is the server's evidence limit."
    )
    finding_id: strawberry.ID | None = strawberry.field(
        default=None, description="The finding it is filed on (or give capaId)."
    )
    capa_id: strawberry.ID | None = strawberry.field(
        default=None, description="The CAPA it is filed on (or give findingId)."
    )
    capa_action_id: uuid.UUID | None = strawberry.field(
        default=None, description="The action of the CAPA it shows done."
    )
    effectiveness_check: bool = strawberry.field(
        default=False, description="Filed for the CAPA's effectiveness check."
    )
    title: str | None = strawberry.field(default=None, description="Default: the file's name.")
    captured_at: datetime | None = strawberry.field(
        default=None,
        description="When what it shows was observed (closing a finding counts evidence "
        "captured after it was raised). Default: now.",
    )
    clause_keys: list[str] | None = None
    process: Process = None


@strawberry.type
class UploadEvidencePayload:
    evidence: EvidenceNode | None
    errors: list[EvidenceError]


@dataclass(frozen=True, slots=True)
class _Filing:
    """What the upload is filed on, and what the gates are asked."""

    owner: str
    record_type: str  # "finding" or "capa"
    record_id: uuid.UUID
    actions: tuple[str, ...]
    target: Target
    not_found: Callable[[], NotFound]


def _filing(input: UploadEvidenceInput) -> _Filing:
    if (input.finding_id is None) == (input.capa_id is None):
        raise BadInput(
            "Evidence is uploaded for one finding or one CAPA: give findingId or capaId.",
            reason="ONE_TARGET",
            field="finding_id",
        )
    if input.finding_id is not None:
        if input.capa_action_id is not None or input.effectiveness_check:
            raise BadInput(
                "A CAPA action or effectiveness check is named with its capaId.",
                reason="CAPA_REQUIRED",
                field="capa_id",
            )
        gid = GlobalId.decode(input.finding_id, expected="Finding")
        return _Filing(
            gid.tenant,
            "finding",
            gid.record_id,
            ("respond", "verify"),
            Target(finding_id=gid.record_id),
            finding_not_found,
        )
    assert input.capa_id is not None
    gid = GlobalId.decode(input.capa_id, expected="Capa")
    if input.capa_action_id is not None and input.effectiveness_check:
        raise BadInput(
            "Evidence is filed for a CAPA action or for the effectiveness check, not both.",
            reason="ONE_TARGET",
            field="effectiveness_check",
        )
    actions: tuple[str, ...] = ("propose_capa", "complete_action")
    if input.capa_action_id is not None:
        actions = ("complete_action",)
    elif input.effectiveness_check:
        actions = ("verify",)
    target = Target(
        capa_id=gid.record_id,
        capa_action_id=input.capa_action_id,
        effectiveness_check=input.effectiveness_check,
    )
    return _Filing(gid.tenant, "capa", gid.record_id, actions, target, capa_not_found)


def _require_one_of(context: Context, caller: Caller, filing: _Filing, resource: Resource) -> None:
    for action in filing.actions:
        if context.authorizer.authorize(caller.principal, action, resource).allowed:
            return
    raise Forbidden(
        f"You may not file evidence on {resource.describe()} "
        f"(it takes {' or '.join(filing.actions)}).",
        reason="ACTION_DENIED",
    )


async def _chunks(file: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await file.read(CHUNK_BYTES):
        yield chunk


async def _check_record(session: AsyncSession, filing: _Filing) -> None:
    if filing.record_type == "finding":
        await get_visible_finding(session, filing.record_id)
        return
    try:
        await capa_service.get_capa(session=session, capa_id=filing.record_id)
    except NotFound:
        raise capa_not_found() from None


def evidence_node(owner: str, level_value: str, evidence: Evidence) -> EvidenceNode:
    fields = {c.key: getattr(evidence, c.key) for c in Evidence.__table__.c}
    record = SharedRecord(owner=owner, level=level_value, record_type=RECORD_TYPE, fields=fields)
    return EvidenceNode.from_shared(record, None)


async def upload_evidence(
    info: strawberry.Info[Context, None], input: UploadEvidenceInput
) -> UploadEvidencePayload:
    context = info.context
    require_principal(context)
    caller: Caller | None = None
    filing: _Filing | None = None
    try:
        filing = _filing(input)
        caller = await sovereign(
            context, owner=filing.owner, record_type=filing.record_type, unshared=filing.not_found
        )
        resource = Resource(filing.owner, filing.record_type, input.process)
        require_visible(context, caller, resource, filing.not_found)
        _require_one_of(context, caller, filing, resource)
        if not isinstance(input.file, UploadFile):
            raise BadInput(
                "Send the file as a GraphQL multipart request.", reason="NOT_A_FILE", field="file"
            )
        upload = await read_upload(
            _chunks(input.file),
            filename=input.file.filename,
            max_bytes=context.runtime.settings.evidence_max_bytes,
        )
        level = await evidence_level(context, caller.tenant, filing.owner)
        async with tenant_session(context.runtime, filing.owner) as session:
            await _check_record(session, filing)
            evidence = await store_upload(
                session=session,
                upload=upload,
                target=filing.target,
                actor=caller.actor,
                title=input.title,
                captured_at=input.captured_at,
                clause_keys=input.clause_keys,
            )
            await session.flush()
            await session.refresh(evidence)
            node = evidence_node(filing.owner, level.value, evidence)
    except AccordError as exc:
        if caller is not None and filing is not None and isinstance(exc, Forbidden | Conflict):
            await _log_refused(context, filing, caller, exc)
        return UploadEvidencePayload(evidence=None, errors=[EvidenceError.of(exc)])
    return UploadEvidencePayload(evidence=node, errors=[])


async def _log_refused(context: Context, filing: _Filing, caller: Caller, exc: AccordError) -> None:
    if filing.record_type == "finding":
        await log_refusal(
            context,
            owner=filing.owner,
            record_type="finding",
            record_id=filing.record_id,
            caller=caller,
            attempt="upload_evidence",
            error=exc,
        )
    else:
        await log_capa_refusal(
            context,
            owner=filing.owner,
            capa_id=filing.record_id,
            caller=caller,
            attempt="upload_evidence",
            error=exc,
        )
