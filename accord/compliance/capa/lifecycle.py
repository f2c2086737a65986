"""The CAPA life cycle (``states.py``): root cause, effectiveness plan and result, transitions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.capa import service as capa_service
from accord.compliance.capa.models import (
    ActionStatus,
    Capa,
    CapaAction,
    EffectivenessResult,
    RootCauseMethod,
)
from accord.compliance.capa.schemas import EffectivenessPlanIn, RootCauseAnalysis, RootCauseIn
from accord.compliance.capa.service import check_independent_verifier
from accord.compliance.capa.states import CAPA_ALLOWED, CAPA_GUARD_FAILURES, CapaGuard, CapaState
from accord.compliance.records.day import now
from accord.compliance.records.history import log_change
from accord.compliance.records.inputs import choice, parse_input
from accord.platform.errors import Conflict


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


async def _guard_holds(session: AsyncSession, capa: Capa, guard: CapaGuard) -> bool:
    match guard:
        case CapaGuard.ROOT_CAUSE_ANALYSED:
            return capa.root_cause_method is not None
        case CapaGuard.CHECK_PLANNED:
            return (
                capa.effectiveness_due_at is not None
                and capa.effectiveness_verifier_subject is not None
            )
        case CapaGuard.EFFECTIVE:
            return capa.effectiveness_result is EffectivenessResult.EFFECTIVE
        case CapaGuard.NOT_EFFECTIVE:
            return capa.effectiveness_result is EffectivenessResult.NOT_EFFECTIVE
        case CapaGuard.HAS_ACTIONS | CapaGuard.ACTIONS_DONE:
            total, still_open = (
                await session.execute(
                    select(
                        func.count(),
                        func.count().filter(CapaAction.status != ActionStatus.DONE),
                    ).where(CapaAction.capa_id == capa.id)
                )
            ).one()
            return total > 0 and (guard is CapaGuard.HAS_ACTIONS or still_open == 0)
    raise AssertionError(f"unhandled guard {guard}")  # pragma: no cover


async def transition(
    *, session: AsyncSession, capa: Capa, target: CapaState | str, actor: str
) -> Capa:
    """Move ``capa`` to ``target`` if the table allows it and every guard holds."""
    target = choice(CapaState, target, field="state")
    await session.refresh(capa, with_for_update=True)
    source = capa.state
    step = CAPA_ALLOWED.get((source, target))
    if step is None:
        raise Conflict(
            f"A CAPA cannot go from {source} to {target}.",
            reason="INVALID_TRANSITION",
            field="state",
        )
    for guard in step.guards:
        if not await _guard_holds(session, capa, guard):
            reason, field, message = CAPA_GUARD_FAILURES[guard]
            raise Conflict(message, reason=reason, field=field)
    if target is CapaState.EFFECTIVENESS_CHECK:
        capa.effectiveness_result = None
        capa.effectiveness_checked_at = capa.effectiveness_checked_by = None
    elif target is CapaState.CLOSED:
        capa.closed_at, capa.closed_by = now(), actor
    capa.state = target
    capa.updated_by = actor
    await log_change(
        session,
        actor=actor,
        action="capa.transition",
        record=capa,
        change={"from": source, "to": target},
    )
    return capa


async def record_effectiveness(
    *,
    session: AsyncSession,
    capa: Capa,
    result: EffectivenessResult | str,
    actor: str,
    at: datetime | None = None,
) -> Capa:
    """The verifier's judgement; then ``transition`` closes or reworks the CAPA."""
    result = choice(EffectivenessResult, result, field="result")
    await session.refresh(capa, with_for_update=True)
    if capa.state is not CapaState.EFFECTIVENESS_CHECK:
        raise Conflict(
            f"The CAPA is {capa.state}; effectiveness is recorded during its check.",
            reason="NOT_IN_EFFECTIVENESS_CHECK",
            field="state",
        )
    capa.effectiveness_result = result
    capa.effectiveness_checked_at, capa.effectiveness_checked_by = at or now(), actor
    capa.updated_by = actor
    change: dict[str, Any] = {"result": result, "checked_at": capa.effectiveness_checked_at}
    await log_change(
        session, actor=actor, action="capa.effectiveness_recorded", record=capa, change=change
    )
    return capa


async def set_root_cause(
    *,
    session: AsyncSession,
    capa: Capa,
    analysis: RootCauseAnalysis | Mapping[str, Any],
    actor: str,
) -> Capa:
    """Record (or revise, until implemented) the method and its structured analysis."""
    parsed = parse_input(RootCauseIn, {"analysis": analysis}).analysis
    if capa.state not in (CapaState.PLANNED, CapaState.APPROVED, CapaState.IN_PROGRESS):
        raise Conflict(
            f"The CAPA is {capa.state}; its root cause is settled.",
            reason="ROOT_CAUSE_LOCKED",
            field="root_cause",
        )
    capa.root_cause_method = RootCauseMethod(parsed.method)
    capa.root_cause_analysis = _dump(parsed)
    capa.updated_by = actor
    await log_change(
        session, actor=actor, action="capa.root_cause_set", record=capa, change=_dump(parsed)
    )
    return capa


async def plan_effectiveness_check(
    *,
    session: AsyncSession,
    capa: Capa,
    plan: EffectivenessPlanIn | Mapping[str, Any],
    actor: str,
) -> Capa:
    """When effectiveness is checked and by whom (not a tenant that owns an action)."""
    plan = parse_input(EffectivenessPlanIn, plan)
    if capa.state is CapaState.CLOSED:
        raise Conflict("The CAPA is closed.", reason="CAPA_CLOSED", field="capa_id")
    actions = await capa_service.list_actions(session=session, capa=capa)
    check_independent_verifier(
        plan.verifier.tenant, (a.owner_tenant for a in actions), "verifier.tenant"
    )
    capa.effectiveness_due_at = plan.due_at
    capa.effectiveness_verifier_subject = plan.verifier.subject
    capa.effectiveness_verifier_tenant = plan.verifier.tenant
    capa.updated_by = actor
    await log_change(
        session, actor=actor, action="capa.effectiveness_planned", record=capa, change=_dump(plan)
    )
    return capa
