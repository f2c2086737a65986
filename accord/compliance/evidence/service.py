"""Evidence: file a hashed artefact against a finding, a CAPA or clauses; find it again."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.capa.models import Capa, CapaAction, capa_findings
from accord.compliance.catalog.service import check_clauses
from accord.compliance.evidence.models import Evidence
from accord.compliance.evidence.schemas import EvidenceIn
from accord.compliance.findings.models import Finding
from accord.compliance.records.day import now
from accord.compliance.records.history import log_change
from accord.compliance.records.inputs import parse_input
from accord.compliance.records.provenance import provenance_of, reject_duplicate
from accord.platform.errors import BadInput, NotFound


async def add_evidence(
    *, session: AsyncSession, data: EvidenceIn | Mapping[str, Any], actor: str
) -> Evidence:
    """File evidence; it must be attached to a finding, a CAPA or at least one clause."""
    data = parse_input(EvidenceIn, data)
    if data.finding_id is None and data.capa_id is None and not data.clause_keys:
        raise BadInput(
            "Evidence is filed against a finding, a CAPA or clauses.",
            reason="EVIDENCE_UNATTACHED",
            field="finding_id",
        )
    uploaded_at = data.uploaded_at or now()
    if data.captured_at > uploaded_at:
        raise BadInput(
            "Evidence cannot be captured after it was uploaded.",
            reason="CAPTURED_AFTER_UPLOAD",
            field="captured_at",
        )
    if data.finding_id is not None and await session.get(Finding, data.finding_id) is None:
        raise BadInput(
            f"No finding {data.finding_id}.", reason="UNKNOWN_FINDING", field="finding_id"
        )
    if data.capa_id is not None and await session.get(Capa, data.capa_id) is None:
        raise BadInput(f"No CAPA {data.capa_id}.", reason="UNKNOWN_CAPA", field="capa_id")
    if (data.capa_action_id is not None or data.effectiveness_check) and data.capa_id is None:
        raise BadInput(
            "Evidence of a CAPA action or of an effectiveness check names its CAPA.",
            reason="CAPA_REQUIRED",
            field="capa_id",
        )
    if data.capa_action_id is not None:
        action = await session.get(CapaAction, data.capa_action_id)
        if action is None or action.capa_id != data.capa_id:
            raise BadInput(
                f"No action {data.capa_action_id} of CAPA {data.capa_id}.",
                reason="UNKNOWN_CAPA_ACTION",
                field="capa_action_id",
            )
    await check_clauses(session, data.clause_keys)
    await reject_duplicate(session, Evidence, data)
    evidence = Evidence(
        id=uuid.uuid4(),
        finding_id=data.finding_id,
        capa_id=data.capa_id,
        capa_action_id=data.capa_action_id,
        effectiveness_check=data.effectiveness_check,
        filename=data.filename,
        title=data.title,
        sha256=data.sha256,
        media_type=data.media_type,
        size_bytes=data.size_bytes,
        captured_at=data.captured_at,
        uploaded_at=uploaded_at,
        uploaded_by=actor,
        uri=data.uri,
        clause_keys=data.clause_keys,
        created_by=actor,
        updated_by=actor,
        **provenance_of(data),
    )
    session.add(evidence)
    change = data.model_dump(mode="json", exclude_none=True)
    if not data.effectiveness_check:
        del change["effectiveness_check"]
    change["uploaded_at"] = uploaded_at
    await log_change(session, actor=actor, action="evidence.added", record=evidence, change=change)
    return evidence


async def get_evidence(*, session: AsyncSession, evidence_id: uuid.UUID) -> Evidence:
    evidence = await session.get(Evidence, evidence_id)
    if evidence is None:
        raise NotFound(
            f"No evidence {evidence_id}.", reason="EVIDENCE_NOT_FOUND", field="evidence_id"
        )
    return evidence


async def for_finding(*, session: AsyncSession, finding: Finding) -> Sequence[Evidence]:
    """Evidence filed on the finding itself or on a CAPA that addresses it."""
    capas = select(capa_findings.c.capa_id).where(capa_findings.c.finding_id == finding.id)
    return (
        await session.scalars(
            select(Evidence)
            .where(or_(Evidence.finding_id == finding.id, Evidence.capa_id.in_(capas)))
            .order_by(Evidence.captured_at, Evidence.id)
        )
    ).all()


async def for_clauses(*, session: AsyncSession, keys: Sequence[str]) -> Sequence[Evidence]:
    """Evidence filed directly against any of ``keys`` (the gap analysis' direct input)."""
    return (
        await session.scalars(
            select(Evidence)
            .where(Evidence.clause_keys.overlap(list(keys)))
            .order_by(Evidence.captured_at, Evidence.id)
        )
    ).all()
