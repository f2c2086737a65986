"""CAPA records: create one for findings, add and complete actions, root cause, transitions.

``transition_capa`` moves a CAPA along the table of ``states.py`` when its guards hold.
The steps taken across organisations (approval, completion by the action's owner, the
effectiveness check) are in ``flows.py``; pure computations (overdue, coverage flags) in
``analysis.py``. The caller owns the transaction; every check runs before the first write,
so a refused call writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.capa.models import (
    ActionStatus,
    Capa,
    CapaAction,
    EffectivenessResult,
    RootCauseMethod,
    capa_findings,
)
from accord.compliance.capa.schemas import CapaActionIn, CapaIn, RootCauseAnalysis, RootCauseIn
from accord.compliance.capa.states import CAPA_ALLOWED, CAPA_GUARD_FAILURES, CapaGuard, CapaState
from accord.compliance.catalog.service import check_clauses
from accord.compliance.findings.models import Finding
from accord.compliance.records.day import now
from accord.compliance.records.history import log_change
from accord.compliance.records.inputs import choice, parse_input
from accord.compliance.records.provenance import provenance_of, reject_duplicate
from accord.platform.errors import BadInput, Conflict, NotFound


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


async def get_capa(*, session: AsyncSession, capa_id: uuid.UUID) -> Capa:
    capa = await session.get(Capa, capa_id)
    if capa is None:
        raise NotFound(f"No CAPA {capa_id}.", reason="CAPA_NOT_FOUND", field="capa_id")
    return capa


async def get_action(*, session: AsyncSession, action_id: uuid.UUID) -> CapaAction:
    action = await session.get(CapaAction, action_id)
    if action is None:
        raise NotFound(f"No CAPA action {action_id}.", reason="ACTION_NOT_FOUND", field="action_id")
    return action


async def list_actions(*, session: AsyncSession, capa: Capa) -> Sequence[CapaAction]:
    return (
        await session.scalars(
            select(CapaAction)
            .where(CapaAction.capa_id == capa.id)
            .order_by(CapaAction.due_at, CapaAction.id)
        )
    ).all()


async def linked_findings(*, session: AsyncSession, capa: Capa) -> Sequence[Finding]:
    linked = select(capa_findings.c.finding_id).where(capa_findings.c.capa_id == capa.id)
    return (
        await session.scalars(
            select(Finding).where(Finding.id.in_(linked)).order_by(Finding.reference)
        )
    ).all()


async def capas_for_finding(*, session: AsyncSession, finding: Finding) -> Sequence[Capa]:
    linked = select(capa_findings.c.capa_id).where(capa_findings.c.finding_id == finding.id)
    return (
        await session.scalars(select(Capa).where(Capa.id.in_(linked)).order_by(Capa.reference))
    ).all()


async def finding_links(
    *,
    session: AsyncSession,
    capa_ids: Sequence[uuid.UUID] | None = None,
    finding_ids: Sequence[uuid.UUID] | None = None,
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(capa id, finding id) links of any of ``capa_ids`` and/or ``finding_ids``: one read
    for a batch of parents."""
    stmt = select(capa_findings.c.capa_id, capa_findings.c.finding_id)
    if capa_ids is not None:
        stmt = stmt.where(capa_findings.c.capa_id.in_(capa_ids))
    if finding_ids is not None:
        stmt = stmt.where(capa_findings.c.finding_id.in_(finding_ids))
    return [(c, f) for c, f in (await session.execute(stmt)).all()]


async def live_actions_of(
    *, session: AsyncSession, capa_ids: Sequence[uuid.UUID]
) -> Sequence[CapaAction]:
    """The actions (not deleted at their source) of any of ``capa_ids``, by due date."""
    stmt = (
        select(CapaAction)
        .where(CapaAction.capa_id.in_(capa_ids), CapaAction.deleted_at.is_(None))
        .order_by(CapaAction.due_at, CapaAction.id)
    )
    return (await session.scalars(stmt)).all()


def _check_due_dates(due_dates: Iterable[tuple[str, date]], findings: Iterable[Finding]) -> None:
    raised = [f.raised_at.astimezone(UTC).date() for f in findings]
    if not raised:
        return
    earliest = min(raised)
    for field, due_at in due_dates:
        if due_at < earliest:
            raise BadInput(
                f"Due {due_at}, before the earliest linked finding was raised ({earliest}).",
                reason="DUE_BEFORE_FINDING_RAISED",
                field=field,
            )


def check_independent_verifier(
    tenant: str | None, owner_tenants: Iterable[str], field: str
) -> None:
    if tenant is not None and tenant in set(owner_tenants):
        raise BadInput(
            f"The effectiveness verifier's tenant {tenant!r} also owns actions of this CAPA; "
            "effectiveness is checked by another party.",
            reason="VERIFIER_NOT_INDEPENDENT",
            field=field,
        )


async def _reject_duplicate_actions(session: AsyncSession, actions: Sequence[CapaActionIn]) -> None:
    seen: set[tuple[str, str]] = set()
    for action in actions:
        if action.external_id is not None:
            key = (action.source_system, action.external_id)
            if key in seen:
                raise Conflict(
                    f"Action {key[0]}/{key[1]} is listed twice.",
                    reason="DUPLICATE_RECORD",
                    field="external_id",
                )
            seen.add(key)
        await reject_duplicate(session, CapaAction, action)


def _new_action(capa: Capa, data: CapaActionIn, actor: str) -> CapaAction:
    return CapaAction(
        id=uuid.uuid4(),
        capa_id=capa.id,
        title=data.title,
        owner=data.owner,
        owner_tenant=data.owner_tenant,
        due_at=data.due_at,
        status=ActionStatus.OPEN,
        created_by=actor,
        updated_by=actor,
        **provenance_of(data),
    )


async def create_capa(
    *, session: AsyncSession, data: CapaIn | Mapping[str, Any], actor: str
) -> Capa:
    """A CAPA in state ``planned`` for the given findings, with its actions if any."""
    data = parse_input(CapaIn, data)
    findings = (
        await session.scalars(select(Finding).where(Finding.id.in_(data.finding_ids)))
    ).all()
    missing = set(data.finding_ids) - {f.id for f in findings}
    if missing:
        raise BadInput(
            f"No finding {', '.join(sorted(map(str, missing)))}.",
            reason="UNKNOWN_FINDING",
            field="finding_ids",
        )
    await check_clauses(session, data.clause_keys)
    _check_due_dates(
        ((f"actions.{i}.due_at", a.due_at) for i, a in enumerate(data.actions)), findings
    )
    if data.effectiveness is not None:
        check_independent_verifier(
            data.effectiveness.verifier.tenant,
            (a.owner_tenant for a in data.actions),
            "effectiveness.verifier.tenant",
        )
    if await session.scalar(select(Capa.id).where(Capa.reference == data.reference)):
        raise Conflict(
            f"A CAPA {data.reference!r} exists already.",
            reason="DUPLICATE_REFERENCE",
            field="reference",
        )
    await reject_duplicate(session, Capa, data)
    await _reject_duplicate_actions(session, data.actions)

    plan = data.effectiveness
    capa = Capa(
        id=uuid.uuid4(),
        reference=data.reference,
        title=data.title,
        clause_keys=data.clause_keys,
        root_cause_method=RootCauseMethod(data.root_cause.method) if data.root_cause else None,
        root_cause_analysis=_dump(data.root_cause) if data.root_cause else None,
        containment=data.containment,
        state=CapaState.PLANNED,
        effectiveness_due_at=plan.due_at if plan else None,
        effectiveness_verifier_subject=plan.verifier.subject if plan else None,
        effectiveness_verifier_tenant=plan.verifier.tenant if plan else None,
        created_by=actor,
        updated_by=actor,
        **provenance_of(data),
    )
    session.add(capa)
    await session.flush()
    if findings:
        await session.execute(
            insert(capa_findings), [{"capa_id": capa.id, "finding_id": f.id} for f in findings]
        )
    actions = [_new_action(capa, a, actor) for a in data.actions]
    session.add_all(actions)
    change = _dump(data)
    change.update(state=capa.state, action_ids=[a.id for a in actions])
    await log_change(session, actor=actor, action="capa.created", record=capa, change=change)
    return capa


async def link_finding(*, session: AsyncSession, capa: Capa, finding: Finding, actor: str) -> None:
    """Make ``capa`` address ``finding`` too (e.g. the same cause under another standard)."""
    if finding.id in {f.id for f in await linked_findings(session=session, capa=capa)}:
        raise Conflict(
            "The finding is linked already.", reason="ALREADY_LINKED", field="finding_id"
        )
    # Due dates need no re-check: linking can only make the earliest raised date earlier.
    await session.execute(insert(capa_findings).values(capa_id=capa.id, finding_id=finding.id))
    capa.updated_by = actor
    await log_change(
        session,
        actor=actor,
        action="capa.finding_linked",
        record=capa,
        change={"finding_id": finding.id, "reference": finding.reference},
    )


async def add_action(
    *, session: AsyncSession, capa: Capa, data: CapaActionIn | Mapping[str, Any], actor: str
) -> CapaAction:
    """A new open action with an owner and a due date no earlier than the findings."""
    data = parse_input(CapaActionIn, data)
    if capa.state is CapaState.CLOSED:
        raise Conflict("The CAPA is closed.", reason="CAPA_CLOSED", field="capa_id")
    _check_due_dates([("due_at", data.due_at)], await linked_findings(session=session, capa=capa))
    check_independent_verifier(
        capa.effectiveness_verifier_tenant, [data.owner_tenant], "owner_tenant"
    )
    await _reject_duplicate_actions(session, [data])
    action = _new_action(capa, data, actor)
    session.add(action)
    capa.updated_by = actor
    await log_change(
        session,
        actor=actor,
        action="capa.action_added",
        record=capa,
        change={"action_id": action.id, **_dump(data)},
    )
    return action


async def complete_action(
    *, session: AsyncSession, action: CapaAction, actor: str, at: datetime | None = None
) -> CapaAction:
    await session.refresh(action, with_for_update=True)
    if action.status is ActionStatus.DONE:
        raise Conflict("The action is done already.", reason="ACTION_ALREADY_DONE", field="status")
    capa = await get_capa(session=session, capa_id=action.capa_id)
    action.status = ActionStatus.DONE
    action.completed_at, action.completed_by = at or now(), actor
    action.updated_by = capa.updated_by = actor
    await log_change(
        session,
        actor=actor,
        action="capa.action_completed",
        record=capa,
        change={"action_id": action.id, "completed_at": action.completed_at},
    )
    return action


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


async def transition_capa(
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
