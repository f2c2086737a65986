"""The risk register. The caller owns the transaction; refusals write nothing.

A risk is scored likelihood × impact (both 1-5) by the database. Its treatment decides its
status: none yet → open, accept → accepted, avoid/reduce/transfer → treated; closing is a
separate, final step, after which the risk is read-only.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.catalog.service import check_clauses
from accord.compliance.records.history import log_change
from accord.compliance.records.inputs import parse_input
from accord.compliance.records.provenance import provenance_of, reject_duplicate
from accord.compliance.risks.models import Risk, RiskLevel, RiskStatus, Treatment
from accord.compliance.risks.schemas import AssessmentIn, RiskIn, TreatmentIn, status_for
from accord.platform.errors import BadInput, Conflict, NotFound


async def create_risk(
    *, session: AsyncSession, actor: str, data: RiskIn | Mapping[str, Any]
) -> Risk:
    risk_in = parse_input(RiskIn, data)
    await check_clauses(session, risk_in.clause_keys)
    existing = await session.scalar(select(Risk.id).where(Risk.reference == risk_in.reference))
    if existing is not None:
        raise Conflict(
            f"A risk with reference {risk_in.reference!r} exists already.",
            reason="DUPLICATE_RISK_REFERENCE",
            field="reference",
        )
    await reject_duplicate(session, Risk, risk_in)
    provenance = provenance_of(risk_in)
    values = risk_in.model_dump(exclude=set(provenance))
    risk = Risk(
        **values,
        status=status_for(risk_in.treatment),
        **provenance,
        created_by=actor,
        updated_by=actor,
    )
    session.add(risk)
    await session.flush()
    await log_change(
        session,
        actor=actor,
        action="risk.created",
        record=risk,
        change={**values, "score": risk.score, "status": risk.status},
    )
    return risk


async def get_risk(*, session: AsyncSession, risk_id: uuid.UUID) -> Risk:
    risk = await session.get(Risk, risk_id)
    if risk is None:
        raise NotFound(f"No risk {risk_id}.", reason="UNKNOWN_RISK", field="risk_id")
    return risk


async def get_risk_by_reference(*, session: AsyncSession, reference: str) -> Risk:
    risk = await session.scalar(select(Risk).where(Risk.reference == reference))
    if risk is None:
        raise NotFound(
            f"No risk with reference {reference!r}.", reason="UNKNOWN_RISK", field="reference"
        )
    return risk


async def list_risks(
    *,
    session: AsyncSession,
    status: RiskStatus | None = None,
    min_score: int | None = None,
    depends_on: str | None = None,
) -> list[Risk]:
    """Highest score first; ``depends_on`` keeps risks naming that partner or supplier."""
    stmt = select(Risk).order_by(Risk.score.desc(), Risk.reference)
    if status is not None:
        stmt = stmt.where(Risk.status == status)
    if min_score is not None:
        stmt = stmt.where(Risk.score >= min_score)
    if depends_on is not None:
        stmt = stmt.where(Risk.third_party_dependencies.any_() == depends_on)
    return list(await session.scalars(stmt))


def _refuse_if_closed(risk: Risk) -> None:
    if risk.status is RiskStatus.CLOSED:
        raise Conflict(
            f"Risk {risk.reference} is closed; it can no longer change.",
            reason="RISK_CLOSED",
            field="status",
        )


async def assess_risk(
    *, session: AsyncSession, actor: str, risk: Risk, likelihood: int, impact: int
) -> Risk:
    """A new likelihood and impact (e.g. after treatment took effect); the score follows."""
    assessment = parse_input(AssessmentIn, {"likelihood": likelihood, "impact": impact})
    _refuse_if_closed(risk)
    before = {"likelihood": risk.likelihood, "impact": risk.impact, "score": risk.score}
    risk.likelihood, risk.impact = assessment.likelihood, assessment.impact
    risk.updated_by = actor
    await session.flush()
    after = {"likelihood": risk.likelihood, "impact": risk.impact, "score": risk.score}
    await log_change(
        session,
        actor=actor,
        action="risk.assessed",
        record=risk,
        change={"from": before, "to": after},
    )
    return risk


async def treat_risk(
    *,
    session: AsyncSession,
    actor: str,
    risk: Risk,
    treatment: Treatment | str,
    treatment_plan: str | None = None,
) -> Risk:
    treated = parse_input(TreatmentIn, {"treatment": treatment, "treatment_plan": treatment_plan})
    if treated.treatment is None:
        raise BadInput("A treatment is required.", reason="REQUIRED", field="treatment")
    _refuse_if_closed(risk)
    risk.treatment, risk.treatment_plan = treated.treatment, treated.treatment_plan
    risk.status = status_for(treated.treatment)
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
    return risk


async def close_risk(*, session: AsyncSession, actor: str, risk: Risk, reason: str) -> Risk:
    """Close a risk that no longer applies (e.g. the activity ended); final."""
    if not reason.strip():
        raise BadInput("Closing a risk needs a reason.", reason="REASON_REQUIRED", field="reason")
    _refuse_if_closed(risk)
    risk.status = RiskStatus.CLOSED
    risk.updated_by = actor
    await session.flush()
    await log_change(
        session,
        actor=actor,
        action="risk.closed",
        record=risk,
        change={"status": risk.status, "reason": reason.strip()},
    )
    return risk


async def register_summary(*, session: AsyncSession) -> dict[str, Any]:
    """The register as a management review sees it (ISO 9.3.2 e), as JSON values: counts by
    status and level, and every risk not closed, highest score first."""
    risks = await list_risks(session=session)
    live = [r for r in risks if r.status is not RiskStatus.CLOSED]
    return {
        "by_status": {s.value: n for s, n in sorted(Counter(r.status for r in risks).items())},
        "by_level": {level.value: sum(1 for r in live if r.level is level) for level in RiskLevel},
        "untreated": sum(1 for r in live if r.status is RiskStatus.OPEN),
        "risks": [
            {
                "reference": r.reference,
                "title": r.title,
                "likelihood": r.likelihood,
                "impact": r.impact,
                "score": r.score,
                "level": r.level.value,
                "treatment": None if r.treatment is None else r.treatment.value,
                "status": r.status.value,
                "owner": r.owner,
                "third_party_dependencies": list(r.third_party_dependencies),
            }
            for r in live
        ],
    }
