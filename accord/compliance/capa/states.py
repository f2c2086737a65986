"""The CAPA life cycle as data, like ``accord.compliance.findings.states``.

::

    planned ──► approved ──► in_progress ──► implemented ──► effectiveness_check ──► closed
                                  ▲                                  │
                                  └──────────── not effective ───────┘

Entering ``effectiveness_check`` clears an earlier result, so each check is judged afresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class CapaState(StrEnum):
    PLANNED = "planned"
    APPROVED = "approved"
    IN_PROGRESS = "in_progress"
    IMPLEMENTED = "implemented"
    EFFECTIVENESS_CHECK = "effectiveness_check"
    CLOSED = "closed"


class CapaGuard(StrEnum):
    ROOT_CAUSE_ANALYSED = "root_cause_analysed"  # method and analysis recorded
    HAS_ACTIONS = "has_actions"  # at least one action
    ACTIONS_DONE = "actions_done"  # at least one action, and every action done
    CHECK_PLANNED = "check_planned"  # effectiveness due date and verifier set
    EFFECTIVE = "effective"  # recorded effectiveness result is effective
    NOT_EFFECTIVE = "not_effective"  # recorded effectiveness result is not effective


@dataclass(frozen=True, slots=True)
class CapaTransition:
    source: CapaState
    target: CapaState
    guards: tuple[CapaGuard, ...] = ()


S, G = CapaState, CapaGuard

CAPA_TRANSITIONS: tuple[CapaTransition, ...] = (
    CapaTransition(S.PLANNED, S.APPROVED, (G.ROOT_CAUSE_ANALYSED, G.HAS_ACTIONS)),
    CapaTransition(S.APPROVED, S.IN_PROGRESS),
    CapaTransition(S.IN_PROGRESS, S.IMPLEMENTED, (G.ACTIONS_DONE,)),
    CapaTransition(S.IMPLEMENTED, S.EFFECTIVENESS_CHECK, (G.CHECK_PLANNED,)),
    CapaTransition(S.EFFECTIVENESS_CHECK, S.CLOSED, (G.EFFECTIVE,)),
    CapaTransition(S.EFFECTIVENESS_CHECK, S.IN_PROGRESS, (G.NOT_EFFECTIVE,)),
)

CAPA_ALLOWED: Mapping[tuple[CapaState, CapaState], CapaTransition] = {
    (t.source, t.target): t for t in CAPA_TRANSITIONS
}

#: guard -> (reason code, field, message)
CAPA_GUARD_FAILURES: Mapping[CapaGuard, tuple[str, str, str]] = {
    G.ROOT_CAUSE_ANALYSED: (
        "ROOT_CAUSE_REQUIRED",
        "root_cause",
        "Approval needs a root-cause analysis.",
    ),
    G.HAS_ACTIONS: ("CAPA_WITHOUT_ACTIONS", "actions", "The CAPA has no actions."),
    G.ACTIONS_DONE: ("CAPA_ACTIONS_OPEN", "actions", "Every action must be done first."),
    G.CHECK_PLANNED: (
        "EFFECTIVENESS_CHECK_UNPLANNED",
        "effectiveness_due_at",
        "The effectiveness check needs a due date and a verifier.",
    ),
    G.EFFECTIVE: (
        "NOT_EFFECTIVE",
        "effectiveness_result",
        "Closing needs an effectiveness result of 'effective'.",
    ),
    G.NOT_EFFECTIVE: (
        "EFFECTIVENESS_NOT_FAILED",
        "effectiveness_result",
        "Reworking needs an effectiveness result of 'not_effective'.",
    ),
}
