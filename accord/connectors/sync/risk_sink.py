"""Risks from a source: bulk upsert, and the source's status within the register's rules.

A risk's status follows its treatment (none → open, accept → accepted, otherwise treated),
as ``risks.service`` sets it, and ``closed`` is final: a closed risk is read-only. So the
upsert never writes the status column of an existing risk; after it, a changed risk's
status is brought in line with its (possibly new) treatment, and a source reporting the
risk closed (the mapping's ``state``) closes it through ``close_risk``. A source record
for a risk already closed in Accord is quarantined (``RISK_CLOSED``) instead of changing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.records.history import log_change
from accord.compliance.risks import service as risk_service
from accord.compliance.risks.models import Risk, RiskStatus
from accord.compliance.risks.schemas import RiskIn, status_for
from accord.connectors.sync.sinks import (
    Applied,
    Candidate,
    Sink,
    reason,
    taken_references,
    unknown_clauses,
)

CLOSED = RiskStatus.CLOSED.value


class RiskSink(Sink):
    record_type = "risk"
    schema = RiskIn
    table: ClassVar[Table] = Risk.__table__  # type: ignore[assignment]
    keep_on_update = frozenset({"id", "created_at", "created_by", "status"})

    def __init__(self, source_system: str) -> None:
        self.source_system = source_system

    async def check(self, session: AsyncSession, candidates: Sequence[Candidate]) -> None:
        models: list[Any] = [c.model for c in candidates]
        unknown = await unknown_clauses(session, {k for m in models for k in m.clause_keys})
        pairs = [
            (m.reference, c.external_id or "") for m, c in zip(models, candidates, strict=True)
        ]
        taken = await taken_references(session, self.table, self.source_system, pairs)
        closed = set(
            await session.scalars(
                select(Risk.external_id).where(
                    Risk.source_system == self.source_system,
                    Risk.external_id.in_([c.external_id for c in candidates]),
                    Risk.status == RiskStatus.CLOSED,
                )
            )
        )
        for data, c in zip(models, candidates, strict=True):
            missing = [k for k in data.clause_keys if k in unknown]
            if missing:
                c.reasons.append(
                    reason(
                        "clause_keys", "UNKNOWN_CLAUSE", f"not in the catalog: {', '.join(missing)}"
                    )
                )
            if data.reference in taken:
                c.reasons.append(
                    reason(
                        "reference",
                        "DUPLICATE_REFERENCE",
                        f"{data.reference!r} belongs to another risk",
                    )
                )
            if c.external_id in closed:
                c.reasons.append(
                    reason("status", "RISK_CLOSED", "the risk is closed in Accord; it is final")
                )

    def row(self, candidate: Candidate, *, actor: str, now: datetime) -> dict[str, Any]:
        data: Any = candidate.model
        return {
            "source_system": data.source_system,
            "external_id": data.external_id,
            "fetched_at": data.fetched_at,
            "content_hash": data.content_hash,
            "created_by": actor,
            "updated_by": actor,
            "reference": data.reference,
            "title": data.title,
            "description": data.description,
            "likelihood": data.likelihood,
            "impact": data.impact,
            "treatment": None if data.treatment is None else data.treatment.value,
            "treatment_plan": data.treatment_plan,
            "owner": data.owner,
            "third_party_dependencies": data.third_party_dependencies,
            "status": status_for(data.treatment).value,
            "clause_keys": data.clause_keys,
        }

    async def after_upsert(
        self, session: AsyncSession, applied: Sequence[Applied], *, actor: str
    ) -> None:
        for item in applied:
            wanted = item.candidate.state
            if item.created and wanted != CLOSED:
                continue  # inserted with the status of its treatment
            risk = await risk_service.get_risk(session=session, risk_id=item.id)
            if wanted == CLOSED:
                await risk_service.close_risk(
                    session=session,
                    actor=actor,
                    risk=risk,
                    reason=f"Status in {self.source_system}: closed",
                )
                continue
            status = status_for(risk.treatment)
            if risk.status is not status:
                risk.status = status
                risk.updated_by = actor
                await session.flush()
                await log_change(
                    session,
                    actor=actor,
                    action="risk.treated",
                    record=risk,
                    change={
                        "treatment": risk.treatment,
                        "treatment_plan": risk.treatment_plan,
                        "status": risk.status,
                    },
                )
