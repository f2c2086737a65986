"""Findings from a source: bulk upsert, and the source's status through the state machine.

How source-driven state respects the finding life cycle: a new finding always starts
``open`` (as ``raise_finding`` would). When a changed source record maps to another state
(SAP ``NotifProcessingPhase`` via the mapping's ``state`` code list), the step is applied
through ``workflow.service.transition`` — the same transition table, guards and event log
as a person's step. A step the machine refuses (SAP "completed" for a nonconformity with no
verified CAPA) changes nothing and appends a ``finding.source_status`` event recording the
source's status and why it was not applied, so the divergence is visible, never silent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.findings import service as finding_service
from accord.compliance.findings.models import Finding
from accord.compliance.findings.schemas import FindingIn
from accord.compliance.findings.states import FindingState
from accord.compliance.records.history import log_change
from accord.compliance.workflow import service as finding_workflow
from accord.connectors.sync.sinks import (
    Applied,
    Candidate,
    Sink,
    reason,
    taken_references,
    unknown_clauses,
)
from accord.platform.errors import AccordError


class FindingSink(Sink):
    record_type = "finding"
    schema = FindingIn
    table: ClassVar[Table] = Finding.__table__  # type: ignore[assignment]
    keep_on_update = frozenset({"id", "created_at", "created_by", "state", "raised_by"})

    def __init__(self, source_system: str) -> None:
        self.source_system = source_system

    async def check(self, session: AsyncSession, candidates: Sequence[Candidate]) -> None:
        keys = {k for c in candidates for k in c.model.clause_keys}  # type: ignore[union-attr]
        unknown = await unknown_clauses(session, keys)
        pairs = [(c.model.reference, c.external_id or "") for c in candidates]  # type: ignore[union-attr]
        taken = await taken_references(session, self.table, self.source_system, pairs)
        for c in candidates:
            data: Any = c.model
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
                        f"{data.reference!r} belongs to another finding",
                    )
                )
            raised = data.raised_at
            if (
                data.response_due_at
                and raised
                and data.response_due_at < raised.astimezone(UTC).date()
            ):
                c.reasons.append(
                    reason(
                        "response_due_at",
                        "DUE_BEFORE_RAISED",
                        "the response is due before the finding was raised",
                    )
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
            "audit_id": data.audit_id,
            "reference": data.reference,
            "title": data.title,
            "grade": data.grade.value,
            "severity": data.severity.value,
            "clause_keys": data.clause_keys,
            "criteria": data.criteria,
            "condition": data.condition,
            "cause": data.cause,
            "raised_at": data.raised_at or now,
            "raised_by": data.raised_by or actor,
            "owner": data.owner,
            "response_due_at": data.response_due_at,
            "state": FindingState.OPEN.value,
        }

    async def after_upsert(
        self, session: AsyncSession, applied: Sequence[Applied], *, actor: str
    ) -> None:
        for item in applied:
            wanted = item.candidate.state
            if wanted is None or wanted == item.state:
                continue
            finding = await finding_service.get_finding(session=session, finding_id=item.id)
            raw = item.candidate.payload
            try:
                await finding_workflow.transition(
                    session=session,
                    finding=finding,
                    target=wanted,
                    actor=actor,
                    response=f"Status in {self.source_system}: {wanted}",
                    reason=f"Status in {self.source_system}: {wanted}",
                )
            except AccordError as exc:
                await log_change(
                    session,
                    actor=actor,
                    action="finding.source_status",
                    record=finding,
                    change={
                        "source_state": wanted,
                        "state": finding.state,
                        "applied": False,
                        "reason": exc.reason,
                        "external_id": raw and item.external_id,
                    },
                )
