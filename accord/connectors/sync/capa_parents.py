"""What the CAPA sinks share: parents found by source key, and the source-driven life cycle.

Parents. A sourced CAPA names its findings, and a sourced action its CAPA, by their keys in
the source; ``find_findings`` and ``find_capas`` look a page's worth up in one query each.
``make_capas`` makes CAPAs from their findings — title and clauses of the finding, state
``planned``, linked to it, a ``capa.created`` event each — as ``create_capa`` would.

Life cycle, as ``FindingSink`` does it for findings: ``follow_source_state`` walks a CAPA
towards the source's state through ``capa_service.transition_capa``, one step at a time, each with
its guards and its event; the first refused step ends the walk and appends
``capa.source_status`` (the source's state, the state reached, why), so the divergence is
visible, never silent. ``follow_action_completion`` completes actions through
``complete_action``; a source reopening a done action cannot be followed (the service has
no reopen) and ``capa_action.source_status`` records it.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Table, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.capa import service as capa_service
from accord.compliance.capa.models import ActionStatus, Capa, CapaAction, capa_findings
from accord.compliance.capa.states import CAPA_ALLOWED, CapaState
from accord.compliance.findings.models import Finding
from accord.compliance.records.history import log_change
from accord.connectors.sync.events import PendingEvent, append_events
from accord.connectors.sync.raw import driver, schema_of
from accord.platform import clock
from accord.platform.errors import AccordError

#: The first state of the CAPA machine, where every CAPA starts.
INITIAL_STATE = CapaState.PLANNED
#: States in which ``set_root_cause`` still accepts an analysis.
ROOT_CAUSE_OPEN = frozenset({CapaState.PLANNED, CapaState.APPROVED, CapaState.IN_PROGRESS})


@dataclass(frozen=True, slots=True)
class ParentFinding:
    id: uuid.UUID
    title: str
    clause_keys: list[str]
    raised_on: date


@dataclass(frozen=True, slots=True)
class ExistingCapa:
    id: uuid.UUID
    state: CapaState
    method: str | None
    analysis: dict[str, Any] | None
    verifier_tenant: str | None
    #: The day the earliest linked finding was raised (no action may be due before).
    earliest_finding: date | None


async def session_tenant(session: AsyncSession) -> str:
    """The slug of the tenant ``session`` writes for (``t_<slug>`` is its schema)."""
    _, translate = await driver(session)
    return schema_of(cast(Table, Capa.__table__), translate).removeprefix("t_")


async def find_findings(
    session: AsyncSession, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], ParentFinding]:
    """Findings by (source_system, external_id)."""
    if not keys:
        return {}
    rows = await session.execute(
        select(
            Finding.source_system,
            Finding.external_id,
            Finding.id,
            Finding.title,
            Finding.clause_keys,
            Finding.raised_at,
        ).where(tuple_(Finding.source_system, Finding.external_id).in_(sorted(keys)))
    )
    return {
        (r[0], str(r[1])): ParentFinding(r[2], r[3], list(r[4]), r[5].astimezone(UTC).date())
        for r in rows
    }


async def find_capas(
    session: AsyncSession, source_system: str, external_ids: Iterable[str]
) -> dict[str, ExistingCapa]:
    """The CAPAs of ``source_system`` by external id."""
    wanted = sorted(set(external_ids))
    if not wanted:
        return {}
    earliest = (
        select(capa_findings.c.capa_id, func.min(Finding.raised_at).label("raised_at"))
        .join(Finding, Finding.id == capa_findings.c.finding_id)
        .group_by(capa_findings.c.capa_id)
        .subquery()
    )
    rows = await session.execute(
        select(
            Capa.external_id,
            Capa.id,
            Capa.state,
            Capa.root_cause_method,
            Capa.root_cause_analysis,
            Capa.effectiveness_verifier_tenant,
            earliest.c.raised_at,
        )
        .outerjoin(earliest, earliest.c.capa_id == Capa.id)
        .where(Capa.source_system == source_system, Capa.external_id.in_(wanted))
    )
    return {
        str(r[0]): ExistingCapa(
            r[1], r[2], r[3], r[4], r[5], r[6].astimezone(UTC).date() if r[6] else None
        )
        for r in rows
    }


async def make_capas(
    session: AsyncSession,
    *,
    source_system: str,
    plans: dict[str, tuple[str, ParentFinding]],
    actor: str,
) -> None:
    """CAPAs (external id -> (reference, finding)) made from their findings."""
    if not plans:
        return
    now = clock.now()
    rows = [
        {
            "id": uuid.uuid4(),
            "source_system": source_system,
            "external_id": external_id,
            "fetched_at": now,
            "reference": reference,
            "title": finding.title,
            "clause_keys": finding.clause_keys,
            "state": INITIAL_STATE.value,
            "created_by": actor,
            "updated_by": actor,
        }
        for external_id, (reference, finding) in plans.items()
    ]
    made = await session.execute(
        pg_insert(Capa)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["source_system", "external_id"])
        .returning(Capa.id, Capa.external_id)
    )
    events: list[PendingEvent] = []
    links: list[dict[str, Any]] = []
    for capa_id, external_id in made.all():
        reference, finding = plans[str(external_id)]
        links.append({"capa_id": capa_id, "finding_id": finding.id})
        change = {
            "source_system": source_system,
            "external_id": external_id,
            "reference": reference,
            "title": finding.title,
            "clause_keys": finding.clause_keys,
            "finding_ids": [str(finding.id)],
            "state": INITIAL_STATE.value,
        }
        events.append(("capa.created", "capa", str(capa_id), change))
    if links:
        await session.execute(pg_insert(capa_findings).values(links).on_conflict_do_nothing())
    await append_events(session, actor=actor, events=events)


async def link_findings(
    session: AsyncSession,
    *,
    links: dict[uuid.UUID, list[ParentFinding]],
    created: set[uuid.UUID],
    actor: str,
) -> None:
    """Link CAPAs to their findings; a new link of an existing CAPA is a logged change."""
    values = [{"capa_id": c, "finding_id": f.id} for c, found in links.items() for f in found]
    if not values:
        return
    result = await session.execute(
        pg_insert(capa_findings)
        .values(values)
        .on_conflict_do_nothing()
        .returning(capa_findings.c.capa_id, capa_findings.c.finding_id)
    )
    for capa_id, finding_id in result.all():
        if capa_id not in created:  # a new CAPA's event names its findings already
            capa = await capa_service.get_capa(session=session, capa_id=capa_id)
            await log_change(
                session,
                actor=actor,
                action="capa.finding_linked",
                record=capa,
                change={"finding_id": finding_id},
            )


def state_path(source: CapaState, target: CapaState) -> list[CapaState] | None:
    """The fewest transitions from ``source`` to ``target`` (None: the machine has none)."""
    previous: dict[CapaState, CapaState | None] = {source: None}
    queue = deque([source])
    while queue:
        state = queue.popleft()
        if state == target:
            path: list[CapaState] = []
            step: CapaState | None = state
            while step is not None and step != source:
                path.append(step)
                step = previous[step]
            return path[::-1]
        for after in (t for s, t in CAPA_ALLOWED if s == state):
            if after not in previous:
                previous[after] = state
                queue.append(after)
    return None


async def follow_source_state(
    session: AsyncSession, *, capa_id: uuid.UUID, wanted: str, actor: str, source_system: str
) -> None:
    """Walk the CAPA towards the source's state; log where and why the walk stopped."""
    capa = await capa_service.get_capa(session=session, capa_id=capa_id)
    try:
        path = state_path(capa.state, CapaState(wanted))
    except ValueError:
        path = None
    refusal = "INVALID_TRANSITION"
    if path is not None:
        try:
            for step in path:
                await capa_service.transition_capa(
                    session=session, capa=capa, target=step, actor=actor
                )
            return
        except AccordError as exc:
            refusal = exc.reason
    await log_change(
        session,
        actor=actor,
        action="capa.source_status",
        record=capa,
        change={
            "source_system": source_system,
            "external_id": capa.external_id,
            "source_state": wanted,
            "state": capa.state,
            "applied": False,
            "reason": refusal,
        },
    )


async def log_settled_root_cause(
    session: AsyncSession, *, capa_id: uuid.UUID, actor: str, source_system: str
) -> None:
    """The source changed the analysis of a CAPA whose root cause is settled."""
    capa = await capa_service.get_capa(session=session, capa_id=capa_id)
    await log_change(
        session,
        actor=actor,
        action="capa.source_root_cause",
        record=capa,
        change={
            "source_system": source_system,
            "external_id": capa.external_id,
            "state": capa.state,
            "applied": False,
            "reason": "ROOT_CAUSE_LOCKED",
        },
    )


async def follow_action_completion(
    session: AsyncSession,
    *,
    actions: dict[uuid.UUID, datetime | None],
    actor: str,
    source_system: str,
) -> None:
    """Complete the actions the source completed (at its time); log a reopening."""
    if not actions:
        return
    status = dict(
        (
            await session.execute(
                select(CapaAction.id, CapaAction.status).where(CapaAction.id.in_(list(actions)))
            )
        ).all()
    )
    for action_id, completed_at in actions.items():
        if completed_at is not None and status[action_id] is ActionStatus.OPEN:
            action = await capa_service.get_action(session=session, action_id=action_id)
            await capa_service.complete_action(
                session=session, action=action, actor=actor, at=completed_at
            )
        elif completed_at is None and status[action_id] is ActionStatus.DONE:
            action = await capa_service.get_action(session=session, action_id=action_id)
            await log_change(
                session,
                actor=actor,
                action="capa_action.source_status",
                record=action,
                change={
                    "source_system": source_system,
                    "external_id": action.external_id,
                    "source_status": ActionStatus.OPEN,
                    "status": action.status,
                    "applied": False,
                    "reason": "ACTION_REOPEN_UNSUPPORTED",
                },
            )
