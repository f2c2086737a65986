"""The finding life cycle as data: which transitions exist and which guards each must pass.

::

    open ──► responded ──► capa_planned ──► capa_implemented ──► verification ──► closed
                │  ▲              ▲                                   │             │
                │  │              └──────── verification failed ──────┘             │
                │  └──────────────────────── reopened ◄───────── reason ────────────┘
                └──► closed   (observations and opportunities for improvement only)

* Observations and opportunities for improvement are not nonconformities: ISO 19011 asks
  for no corrective action on them, so once the auditee has responded they may close
  without a CAPA (guard ``no_capa_required``). Nonconformities always go through a CAPA
  and a verification.
* Entering ``verification`` clears any earlier verification result, so a stale "failed"
  from a previous round can never send the finding back, nor a stale "passed" close it.
* Closing after verification also reads the CAPA: a linked CAPA whose effectiveness
  check is planned must have been verified effective (guard ``capa_effective``). The
  finding follows that check by itself (``accord.compliance.findings.follow``).
* Every (state, target) pair not listed here is forbidden, self-transitions included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class FindingState(StrEnum):
    OPEN = "open"
    RESPONDED = "responded"
    CAPA_PLANNED = "capa_planned"
    CAPA_IMPLEMENTED = "capa_implemented"
    VERIFICATION = "verification"
    CLOSED = "closed"
    REOPENED = "reopened"


class Guard(StrEnum):
    RESPONSE_GIVEN = "response_given"  # the call carries a non-empty response
    CAPA_LINKED = "capa_linked"  # at least one CAPA links the finding
    CAPA_ACTIONS_DONE = "capa_actions_done"  # linked CAPAs have actions, all of them done
    VERIFICATION_PASSED = "verification_passed"  # recorded verification result is passed
    EVIDENCE_CAPTURED = "evidence_captured"  # evidence captured after the finding was raised
    VERIFICATION_FAILED = "verification_failed"  # recorded verification result is failed
    NO_CAPA_REQUIRED = "no_capa_required"  # grade is observation or OFI
    REASON_GIVEN = "reason_given"  # the call carries a non-empty reason
    CAPA_EFFECTIVE = "capa_effective"  # linked CAPAs with a planned check were found effective


@dataclass(frozen=True, slots=True)
class Transition:
    source: FindingState
    target: FindingState
    guards: tuple[Guard, ...] = ()


S, G = FindingState, Guard

TRANSITIONS: tuple[Transition, ...] = (
    Transition(S.OPEN, S.RESPONDED, (G.RESPONSE_GIVEN,)),
    Transition(S.RESPONDED, S.CAPA_PLANNED, (G.CAPA_LINKED,)),
    Transition(S.RESPONDED, S.CLOSED, (G.NO_CAPA_REQUIRED,)),
    Transition(S.CAPA_PLANNED, S.CAPA_IMPLEMENTED, (G.CAPA_ACTIONS_DONE,)),
    Transition(S.CAPA_IMPLEMENTED, S.VERIFICATION),
    Transition(
        S.VERIFICATION, S.CLOSED, (G.VERIFICATION_PASSED, G.CAPA_EFFECTIVE, G.EVIDENCE_CAPTURED)
    ),
    Transition(S.VERIFICATION, S.CAPA_PLANNED, (G.VERIFICATION_FAILED,)),
    Transition(S.CLOSED, S.REOPENED, (G.REASON_GIVEN,)),
    Transition(S.REOPENED, S.RESPONDED, (G.RESPONSE_GIVEN,)),
)

ALLOWED: Mapping[tuple[FindingState, FindingState], Transition] = {
    (t.source, t.target): t for t in TRANSITIONS
}


@dataclass(frozen=True, slots=True)
class GuardFailure:
    """What a failed guard reports: a reason code, the field to fix, and why."""

    reason: str
    field: str
    message: str
    bad_input: bool = False  # the caller's input is missing (not the record's state)


GUARD_FAILURES: Mapping[Guard, GuardFailure] = {
    G.RESPONSE_GIVEN: GuardFailure(
        "RESPONSE_REQUIRED", "response", "A response text is required.", bad_input=True
    ),
    G.CAPA_LINKED: GuardFailure("CAPA_REQUIRED", "capa", "No CAPA is linked to this finding."),
    G.CAPA_ACTIONS_DONE: GuardFailure(
        "CAPA_ACTIONS_OPEN", "actions", "Every action of the linked CAPAs must be done."
    ),
    G.VERIFICATION_PASSED: GuardFailure(
        "VERIFICATION_NOT_PASSED", "verification_result", "Verification has not passed."
    ),
    G.EVIDENCE_CAPTURED: GuardFailure(
        "EVIDENCE_REQUIRED",
        "evidence",
        "Closing needs evidence captured after the finding was raised.",
    ),
    G.VERIFICATION_FAILED: GuardFailure(
        "VERIFICATION_NOT_FAILED", "verification_result", "Verification has not failed."
    ),
    G.NO_CAPA_REQUIRED: GuardFailure(
        "CAPA_REQUIRED_FOR_GRADE",
        "grade",
        "A nonconformity closes only through a CAPA and its verification.",
    ),
    G.REASON_GIVEN: GuardFailure(
        "REASON_REQUIRED", "reason", "Reopening a finding needs a reason.", bad_input=True
    ),
    G.CAPA_EFFECTIVE: GuardFailure(
        "CAPA_NOT_EFFECTIVE",
        "capa",
        "A linked CAPA's effectiveness check has not found it effective.",
    ),
}


def transition_for(source: FindingState, target: FindingState) -> Transition | None:
    return ALLOWED.get((source, target))


def targets_from(source: FindingState) -> tuple[FindingState, ...]:
    return tuple(t.target for t in TRANSITIONS if t.source == source)
