"""Compiling a management review's inputs (ISO 9.3.2) from the tenant's records.

Orchestration across domains: KPIs and their breaches, risks, audits, findings and CAPA,
and the actions of earlier reviews. Records are read as they stand now; what falls in the
review's period decides which of them are reported. The result is JSON values, stored in
``ManagementReview.inputs`` and, once frozen, covered by the review's digest.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.audits.models import Audit, AuditStatus
from accord.compliance.capa.models import Capa, CapaAction
from accord.compliance.capa.states import CapaState
from accord.compliance.findings.models import Finding, FindingGrade
from accord.compliance.findings.states import FindingState
from accord.compliance.kpis import service as kpi_service
from accord.compliance.records.day import now
from accord.compliance.records.history import log_change
from accord.compliance.reviews.models import ManagementReview, ReviewAction
from accord.compliance.reviews.schemas import (
    action_entry,
    audit_entry,
    capa_entry,
    finding_entry,
)
from accord.compliance.reviews.service import refuse_unless_draft
from accord.compliance.risks import service as risk_service
from accord.platform.canonical import canonical_digest


async def compile_inputs(
    *,
    session: AsyncSession,
    actor: str,
    review: ManagementReview,
    external_internal_issues: str = "",
    partners: Mapping[str, Any] | None = None,
) -> ManagementReview:
    """Compile the ISO 9.3.2 inputs for the review's period from the tenant's records, and
    the participating partners' shared counts (``sharing.partners.partner_inputs``)."""
    refuse_unless_draft(review)
    start, end = review.period_start, review.period_end
    inputs = {
        "clause": "9.3.2",
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "compiled_at": now().isoformat(),
        "compiled_by": actor,
        "previous_actions": await _previous_actions(session, review),
        "external_internal_issues": external_internal_issues.strip(),
        "kpi_performance": await kpi_service.performance(
            session=session, period_start=start, period_end=end
        ),
        "audit_results": await _audit_results(session, review),
        **await _nonconformities(session, review),
    }
    if partners is not None:
        inputs["partners"] = dict(partners)
    review.inputs = inputs
    review.updated_by = actor
    await session.flush()
    await log_change(
        session,
        actor=actor,
        action="review.compiled",
        record=review,
        change={"inputs_digest": canonical_digest(inputs), "sections": sorted(inputs)},
    )
    return review


def _window(review: ManagementReview) -> tuple[datetime, datetime]:
    start = datetime.combine(review.period_start, time.min, UTC)
    return start, datetime.combine(review.period_end + timedelta(days=1), time.min, UTC)


async def _previous_actions(session: AsyncSession, review: ManagementReview) -> dict[str, Any]:
    rows = await session.execute(
        select(ReviewAction, ManagementReview.title)
        .join(ManagementReview, ManagementReview.id == ReviewAction.review_id)
        .where(ManagementReview.period_end < review.period_start)
        .order_by(ReviewAction.due_at, ReviewAction.text)
    )
    entries = [action_entry(a, title, as_of=review.period_end) for a, title in rows]
    return {
        "by_status": dict(sorted(Counter(e["status"] for e in entries).items())),
        "overdue": sum(1 for e in entries if e["overdue"]),
        "actions": entries,
    }


async def _audit_results(session: AsyncSession, review: ManagementReview) -> list[dict[str, Any]]:
    audits = list(
        await session.scalars(
            select(Audit)
            .where(
                Audit.window_start <= review.period_end,
                Audit.window_end >= review.period_start,
                Audit.status != AuditStatus.CANCELLED,
            )
            .order_by(Audit.window_start, Audit.title)
        )
    )
    findings: dict[uuid.UUID | None, list[Finding]] = {}
    for finding in await session.scalars(
        select(Finding).where(Finding.audit_id.in_([a.id for a in audits]))
    ):
        findings.setdefault(finding.audit_id, []).append(finding)
    return [audit_entry(a, findings.get(a.id, [])) for a in audits]


async def _nonconformities(session: AsyncSession, review: ManagementReview) -> dict[str, Any]:
    """Findings and CAPA still open, or raised or closed in the period; and the OFIs."""
    start, end = _window(review)
    findings = list(
        await session.scalars(
            select(Finding)
            .where(
                Finding.raised_at < end,
                or_(
                    Finding.state != FindingState.CLOSED,
                    Finding.raised_at >= start,
                    Finding.closed_at >= start,
                ),
            )
            .order_by(Finding.raised_at, Finding.reference)
        )
    )
    capas = list(
        await session.scalars(
            select(Capa)
            .where(
                Capa.created_at < end,
                or_(Capa.state != CapaState.CLOSED, Capa.closed_at >= start),
            )
            .order_by(Capa.reference)
        )
    )
    actions: dict[uuid.UUID, list[CapaAction]] = {c.id: [] for c in capas}
    for action in await session.scalars(
        select(CapaAction).where(CapaAction.capa_id.in_(list(actions)))
    ):
        actions[action.capa_id].append(action)
    raised = [f for f in findings if f.raised_at >= start]
    return {
        "nonconformities_and_corrective_actions": {
            "raised_in_period_by_grade": dict(
                sorted(Counter(f.grade.value for f in raised).items())
            ),
            "nonconformities": [finding_entry(f) for f in findings if f.grade.is_nonconformity],
            "capas_by_state": dict(sorted(Counter(c.state.value for c in capas).items())),
            "capas": [capa_entry(c, actions[c.id], as_of=review.period_end) for c in capas],
        },
        "risks_and_opportunities": {
            "risks": await risk_service.register_summary(session=session),
            "opportunities_for_improvement": [
                finding_entry(f)
                for f in findings
                if f.grade is FindingGrade.OPPORTUNITY_FOR_IMPROVEMENT
            ],
        },
    }
