"""``accord evidence``: file, list and fetch evidence in a tenant's own store (operators and
scripts; people use the ``uploadEvidence`` mutation). The same checks as the API: the size
limit (``ACCORD_EVIDENCE_MAX_BYTES``, refused while reading), the media type recognised
from the bytes against the allow-list, the file name sanitised, the event logged."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select

from accord.commands._support import JsonOption, out
from accord.commands._support import with_synced_runtime as _with_runtime
from accord.compliance.capa.models import Capa
from accord.compliance.evidence import service as evidence_service
from accord.compliance.evidence.models import Evidence
from accord.compliance.evidence.uploads import (
    CHUNK_BYTES,
    Target,
    content_of,
    read_upload,
    store_upload,
)
from accord.compliance.findings import service as finding_service
from accord.platform.errors import BadInput, NotFound
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session

CLI_ACTOR = "accord-cli"

evidence_app = typer.Typer(
    help="Evidence: upload a file to a tenant's own store, list it, download it.",
    no_args_is_help=True,
)
TenantOption = Annotated[str, typer.Option("--tenant", help="The tenant that owns the record.")]


def _dict(e: Evidence) -> dict[str, Any]:
    return {
        "id": str(e.id),
        "finding_id": str(e.finding_id) if e.finding_id else None,
        "capa_id": str(e.capa_id) if e.capa_id else None,
        "capa_action_id": str(e.capa_action_id) if e.capa_action_id else None,
        "effectiveness_check": e.effectiveness_check,
        "title": e.title,
        "filename": e.filename,
        "media_type": e.media_type,
        "size_bytes": e.size_bytes,
        "sha256": e.sha256,
        "captured_at": e.captured_at.isoformat(),
        "uploaded_by": e.uploaded_by,
    }


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadInput(f"{value!r} is not an id.", reason="BAD_ID", field=field) from None


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


@evidence_app.command("upload")
def upload(
    file: Annotated[Path, typer.Argument(help="The file to keep as evidence.", exists=True)],
    tenant: TenantOption,
    finding: Annotated[
        str | None, typer.Option(help="Reference of the finding it is filed on.")
    ] = None,
    capa: Annotated[str | None, typer.Option(help="Reference of the CAPA it is filed on.")] = None,
    action: Annotated[
        str | None, typer.Option(help="Id of the CAPA action it shows done (with --capa).")
    ] = None,
    effectiveness: Annotated[
        bool, typer.Option("--effectiveness", help="Filed for the CAPA's effectiveness check.")
    ] = False,
    title: Annotated[str | None, typer.Option(help="Default: the file's name.")] = None,
    captured_at: Annotated[
        str | None, typer.Option(help="When what it shows was observed (ISO 8601; default now).")
    ] = None,
    actor: Annotated[str, typer.Option(help="Who files it (kept in the event log).")] = CLI_ACTOR,
    as_json: JsonOption = False,
) -> None:
    """Upload FILE as evidence on a finding or a CAPA, into the tenant's own store."""

    async def run(runtime: Runtime) -> Evidence:
        if (finding is None) == (capa is None):
            raise BadInput("Give --finding or --capa.", reason="ONE_TARGET", field="finding")
        try:
            captured = datetime.fromisoformat(captured_at) if captured_at else None
        except ValueError:
            raise BadInput(
                f"{captured_at!r} is not an ISO 8601 time.", reason="BAD_TIME", field="captured_at"
            ) from None
        read = await read_upload(
            _chunks(file), filename=file.name, max_bytes=runtime.settings.evidence_max_bytes
        )
        async with tenant_session(runtime, tenant) as session:
            if finding is not None:
                found = await finding_service.get_by_reference(session=session, reference=finding)
                target = Target(finding_id=found.id)
            else:
                capa_id = await session.scalar(select(Capa.id).where(Capa.reference == capa))
                if capa_id is None:
                    raise NotFound(f"No CAPA {capa!r}.", reason="CAPA_NOT_FOUND", field="capa")
                target = Target(
                    capa_id=capa_id,
                    capa_action_id=_uuid(action, "action") if action else None,
                    effectiveness_check=effectiveness,
                )
            evidence = await store_upload(
                session=session,
                upload=read,
                target=target,
                actor=actor,
                title=title,
                captured_at=captured,
            )
            await session.flush()
            await session.refresh(evidence)
            return evidence

    evidence = _with_runtime(run)
    if as_json:
        out.print_json(json.dumps(_dict(evidence)))
    else:
        out.print(
            f"{evidence.id} {evidence.filename} ({evidence.media_type}, {evidence.size_bytes} "
            f"bytes) sha256 {evidence.sha256}",
            soft_wrap=True,
        )


@evidence_app.command("list")
def list_evidence(
    tenant: TenantOption,
    finding: Annotated[
        str | None, typer.Option(help="Only evidence of this finding (reference) and its CAPA.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List a tenant's evidence (all of it, or a finding's)."""

    async def run(runtime: Runtime) -> list[Evidence]:
        async with tenant_session(runtime, tenant) as session:
            if finding is not None:
                found = await finding_service.get_by_reference(session=session, reference=finding)
                return list(await evidence_service.for_finding(session=session, finding=found))
            rows = await session.scalars(select(Evidence).order_by(Evidence.uploaded_at))
            return list(rows)

    items = _with_runtime(run)
    if as_json:
        out.print_json(json.dumps([_dict(e) for e in items]))
        return
    table = Table("id", "title", "type", "bytes", "captured", title=f"Evidence of {tenant}")
    for e in items:
        table.add_row(
            str(e.id), e.title, e.media_type, str(e.size_bytes), e.captured_at.isoformat()
        )
    out.print(table)


@evidence_app.command("download")
def download(
    evidence_id: Annotated[str, typer.Argument(help="The evidence's id.")],
    tenant: TenantOption,
    output: Annotated[
        Path | None, typer.Option(help="Where to write the file (default: its kept name).")
    ] = None,
) -> None:
    """Write an uploaded evidence file from the tenant's store to disk."""

    async def run(runtime: Runtime) -> tuple[str, bytes]:
        async with tenant_session(runtime, tenant) as session:
            evidence = await evidence_service.get_evidence(
                session=session, evidence_id=_uuid(evidence_id, "evidence_id")
            )
            stored = await content_of(session=session, evidence=evidence)
            return evidence.filename or "evidence", stored.content

    name, content = _with_runtime(run)
    target = output or Path(name)
    target.write_bytes(content)
    out.print(f"wrote {target} ({len(content)} bytes)")
