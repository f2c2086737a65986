"""Computations over CAPA: what is overdue, and how far a CAPA's scope covers its findings.

Both are pure functions over loaded records (easy to test, usable on federated data);
``find_overdue`` and ``finding_coverage`` are their thin database front ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.capa.models import ActionStatus, Capa, CapaAction
from accord.compliance.capa.service import linked_findings
from accord.compliance.capa.states import CapaState
from accord.compliance.coverage import edge_coverage
from accord.compliance.crosswalk import MappingEdge
from accord.compliance.vocab import Coverage

_RANK = {Coverage.NONE: 0, Coverage.PARTIAL: 1, Coverage.FULL: 2}


@dataclass(frozen=True, slots=True)
class CapaOverdue:
    capa_id: uuid.UUID
    reference: str
    #: open actions whose due date has passed, with the days they are late
    overdue_actions: Mapping[uuid.UUID, int]
    #: the effectiveness check's due date passed without a recorded result
    effectiveness_overdue: bool

    @property
    def is_overdue(self) -> bool:
        return bool(self.overdue_actions) or self.effectiveness_overdue


def overdue(*, capa: Capa, actions: Iterable[CapaAction], today: date) -> CapaOverdue:
    """What of ``capa`` is late on ``today`` (something due today is not late yet)."""
    late = {
        a.id: (today - a.due_at).days
        for a in sorted(actions, key=lambda a: (a.due_at, str(a.id)))
        if a.status is ActionStatus.OPEN and a.due_at < today
    }
    check_late = (
        capa.state is not CapaState.CLOSED
        and capa.effectiveness_result is None
        and capa.effectiveness_due_at is not None
        and capa.effectiveness_due_at < today
    )
    return CapaOverdue(capa.id, capa.reference, late, check_late)


async def find_overdue(*, session: AsyncSession, today: date) -> list[CapaOverdue]:
    """Every CAPA of the session's tenant with something late, by reference."""
    late_action = select(CapaAction.capa_id).where(
        CapaAction.status == ActionStatus.OPEN, CapaAction.due_at < today
    )
    capas = (
        await session.scalars(
            select(Capa)
            .where(
                Capa.state != CapaState.CLOSED,
                or_(Capa.id.in_(late_action), Capa.effectiveness_due_at < today),
            )
            .order_by(Capa.reference)
        )
    ).all()
    actions: dict[uuid.UUID, list[CapaAction]] = {c.id: [] for c in capas}
    for action in await session.scalars(
        select(CapaAction).where(CapaAction.capa_id.in_(list(actions)))
    ):
        actions[action.capa_id].append(action)
    reports = [overdue(capa=c, actions=actions[c.id], today=today) for c in capas]
    return [r for r in reports if r.is_overdue]


def coverage_flags(
    *,
    scope: Sequence[str],
    findings: Mapping[str, Sequence[str]],
    edges: Iterable[MappingEdge],
) -> dict[str, Coverage]:
    """Per finding (id or reference → its clause keys): does the CAPA's scope cover it?

    A clause in ``scope`` is covered FULL; otherwise a mapping from a scope clause to it
    covers it as ``edge_coverage`` says (one hop; the strongest mapping wins). A finding is
    FULL when every one of its clauses is, PARTIAL when at least one is covered at all,
    NONE otherwise. Which mappings count (approved only, tenant ones) is the caller's choice.
    """
    in_scope = set(scope)
    best: dict[str, Coverage] = {key: Coverage.FULL for key in in_scope}
    for edge in edges:
        if edge.source in in_scope:
            level = edge_coverage(edge.relationship)
            if _RANK[level] > _RANK[best.get(edge.target, Coverage.NONE)]:
                best[edge.target] = level
    flags: dict[str, Coverage] = {}
    for finding, keys in findings.items():
        levels = [best.get(key, Coverage.NONE) for key in keys]
        if levels and all(level is Coverage.FULL for level in levels):
            flags[finding] = Coverage.FULL
        elif any(level is not Coverage.NONE for level in levels):
            flags[finding] = Coverage.PARTIAL
        else:
            flags[finding] = Coverage.NONE
    return flags


async def finding_coverage(
    *, session: AsyncSession, capa: Capa, edges: Iterable[MappingEdge]
) -> dict[str, Coverage]:
    """``coverage_flags`` for the findings linked to ``capa``, keyed by finding reference."""
    findings = await linked_findings(session=session, capa=capa)
    return coverage_flags(
        scope=capa.clause_keys,
        findings={f.reference: f.clause_keys for f in findings},
        edges=edges,
    )
