"""The CAPA workflow across organisations: approval, actions, effectiveness, coverage.

The action gate (RACI) has already decided that the caller may take the step; these
functions hold the rules the gate cannot see, because they depend on the record:

* ``approve_plan``: once, in state ``planned``, never by the person who proposed it;
* ``complete_action_as``: only the action's owner, acting for the action's owner tenant
  (which may be another organisation than the CAPA's owner);
* ``plan_effectiveness_check``: due a number of days from today, checked by a person of
  another tenant than the owner and than any action owner;
* ``record_effectiveness``: only that person, not before the due date; the result then
  closes the CAPA or sends it back to work;
* ``coverage_by_finding``: per linked finding and per clause, whether the CAPA's clauses
  and the approved cross-walk cover it FULL, PARTIAL or not at all.

Steps that follow by themselves are taken here too: the first completed action starts the
work (approved → in progress), the last one makes the CAPA implemented, and an
implemented CAPA with a planned check enters its effectiveness check.

Actors are ``user:<tenant>/<subject>``. Every check runs before the first write, so a
refused call writes nothing; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.capa import service as capa_service
from accord.compliance.capa.analysis import coverage_flags
from accord.compliance.capa.models import ActionStatus, Capa, CapaAction, EffectivenessResult
from accord.compliance.capa.schemas import VerifierIn
from accord.compliance.capa.states import CapaState
from accord.compliance.crosswalk import MappingEdge
from accord.compliance.findings.models import Finding
from accord.compliance.mappings import service as mapping_service
from accord.compliance.records.day import current_day, now
from accord.compliance.records.history import log_change
from accord.compliance.records.inputs import InputModel, choice, parse_input
from accord.compliance.vocab import Coverage, MappingStatus
from accord.platform.errors import BadInput, Conflict, Forbidden

#: The longest wait before an effectiveness check (as for a joint audit's re-check).
MAX_CHECK_DAYS = 1095
_WORKING = (CapaState.APPROVED, CapaState.IN_PROGRESS)


@dataclass(frozen=True, slots=True)
class Person:
    """Someone named as ``user:globex/li``, ``globex/li``, ``user:li`` or ``li``."""

    tenant: str | None
    subject: str

    @classmethod
    def of(cls, name: str, tenant: str | None = None) -> Person:
        """``name`` as a person; ``tenant`` is theirs when the name does not say."""
        bare = name.strip().removeprefix("user:")
        named, slash, subject = bare.partition("/")
        return cls(named, subject) if slash else cls(tenant, bare)

    def may_be(self, other: Person) -> bool:
        """The same subject, and no tenant tells them apart."""
        return self.subject == other.subject and (
            self.tenant is None or other.tenant is None or self.tenant == other.tenant
        )

    def __str__(self) -> str:
        return f"{self.tenant}/{self.subject}" if self.tenant else self.subject


def _acting(actor: str) -> Person:
    person = Person.of(actor)
    if person.tenant is None:
        raise Forbidden(
            f"{actor!r} names no tenant; cross-entity CAPA steps are taken as TENANT/SUBJECT.",
            reason="ACTOR_WITHOUT_TENANT",
        )
    return person


# --------------------------------------------------------------------------- approval


async def approve_plan(*, session: AsyncSession, capa: Capa, actor: str) -> Capa:
    """The Accountable party approves the plan: planned → approved, once."""
    await session.refresh(capa, with_for_update=True)
    if Person.of(capa.created_by).may_be(Person.of(actor)):
        raise Forbidden("Nobody approves a CAPA plan they proposed.", reason="OWN_PLAN")
    if capa.state is not CapaState.PLANNED:
        raise Conflict(
            f"The plan was approved already; the CAPA is {capa.state}.",
            reason="ALREADY_APPROVED",
            field="state",
        )
    return await capa_service.transition_capa(
        session=session, capa=capa, target=CapaState.APPROVED, actor=actor
    )


# --------------------------------------------------------------------------- actions


async def complete_action_as(
    *, session: AsyncSession, action: CapaAction, actor: str, at: datetime | None = None
) -> CapaAction:
    """The action's owner, of the action's owner tenant, reports it done."""
    me = _acting(actor)
    owner = Person.of(action.owner, action.owner_tenant)
    if me.tenant != action.owner_tenant or me != owner:
        raise Forbidden(
            f"Only {owner} completes this action.", reason="NOT_ACTION_OWNER", field="action_id"
        )
    capa = await capa_service.get_capa(session=session, capa_id=action.capa_id)
    await session.refresh(capa, with_for_update=True)
    if capa.state not in _WORKING:
        planned = capa.state is CapaState.PLANNED
        raise Conflict(
            "The plan is not approved yet."
            if planned
            else f"The CAPA is {capa.state}; its actions are settled.",
            reason="PLAN_NOT_APPROVED" if planned else "CAPA_NOT_IN_PROGRESS",
            field="state",
        )
    await session.refresh(action, with_for_update=True)
    if action.status is ActionStatus.DONE:
        raise Conflict("The action is done already.", reason="ACTION_ALREADY_DONE", field="status")

    if capa.state is CapaState.APPROVED:
        await capa_service.transition_capa(
            session=session, capa=capa, target=CapaState.IN_PROGRESS, actor=actor
        )
    action = await capa_service.complete_action(session=session, action=action, actor=actor, at=at)
    await _advance(session, capa, actor)
    return action


async def _advance(session: AsyncSession, capa: Capa, actor: str) -> None:
    """Take the steps whose guards now hold: implemented, then effectiveness check."""
    if capa.state is CapaState.IN_PROGRESS:
        actions = await capa_service.list_actions(session=session, capa=capa)
        if actions and all(a.status is ActionStatus.DONE for a in actions):
            await capa_service.transition_capa(
                session=session, capa=capa, target=CapaState.IMPLEMENTED, actor=actor
            )
    if capa.state is CapaState.IMPLEMENTED and capa.effectiveness_due_at is not None:
        await capa_service.transition_capa(
            session=session, capa=capa, target=CapaState.EFFECTIVENESS_CHECK, actor=actor
        )


# --------------------------------------------------------------------------- effectiveness


class EffectivenessCheckIn(InputModel):
    """When (days from today) and by whom the CAPA's effectiveness is checked."""

    after_days: int = Field(ge=1, le=MAX_CHECK_DAYS)
    verifier: VerifierIn


async def plan_effectiveness_check(
    *,
    session: AsyncSession,
    capa: Capa,
    owner: str,
    check: EffectivenessCheckIn | Mapping[str, Any],
    actor: str,
    today: date | None = None,
) -> Capa:
    """Plan the check ``after_days`` from ``today`` by a person of another tenant than
    ``owner`` (the CAPA's) and than its action owners."""
    check = parse_input(EffectivenessCheckIn, check)
    if check.verifier.tenant == owner:
        raise BadInput(
            f"{owner} owns the CAPA; its effectiveness is checked by another party.",
            reason="VERIFIER_IS_OWNER",
            field="verifier.tenant",
        )
    await session.refresh(capa, with_for_update=True)
    if capa.state in (CapaState.EFFECTIVENESS_CHECK, CapaState.CLOSED):
        raise Conflict(
            f"The CAPA is {capa.state}; its check can no longer be planned.",
            reason="CHECK_UNDER_WAY"
            if capa.state is CapaState.EFFECTIVENESS_CHECK
            else "CAPA_CLOSED",
            field="state",
        )
    actions = await capa_service.list_actions(session=session, capa=capa)
    capa_service.check_independent_verifier(
        check.verifier.tenant, (a.owner_tenant for a in actions), "verifier.tenant"
    )
    capa.effectiveness_due_at = (today or current_day()) + timedelta(days=check.after_days)
    capa.effectiveness_verifier_subject = check.verifier.subject
    capa.effectiveness_verifier_tenant = check.verifier.tenant
    capa.updated_by = actor
    plan = {"due_at": capa.effectiveness_due_at, "verifier": check.verifier.model_dump()}
    await log_change(
        session, actor=actor, action="capa.effectiveness_planned", record=capa, change=plan
    )
    await _advance(session, capa, actor)
    return capa


async def record_effectiveness(
    *,
    session: AsyncSession,
    capa: Capa,
    owner: str,
    result: EffectivenessResult | str,
    actor: str,
    today: date | None = None,
) -> Capa:
    """The planned verifier's judgement, once due; effective closes, not effective reworks."""
    me = _acting(actor)
    await session.refresh(capa, with_for_update=True)
    if me.tenant == owner:
        raise Forbidden(
            f"{owner} owns the CAPA and does not judge its own effectiveness.",
            reason="OWNER_CANNOT_VERIFY",
        )
    subject, tenant = capa.effectiveness_verifier_subject, capa.effectiveness_verifier_tenant
    if subject is not None and me != Person.of(subject, tenant):
        raise Forbidden(
            f"{Person.of(subject, tenant)} checks this CAPA's effectiveness.",
            reason="NOT_THE_VERIFIER",
        )
    if capa.state is not CapaState.EFFECTIVENESS_CHECK:
        raise Conflict(
            f"The CAPA is {capa.state}; effectiveness is recorded during its check.",
            reason="NOT_IN_EFFECTIVENESS_CHECK",
            field="state",
        )
    day = today or current_day()
    assert capa.effectiveness_due_at is not None  # the check_planned guard
    if day < capa.effectiveness_due_at:
        raise Conflict(
            f"The effectiveness check is due on {capa.effectiveness_due_at}, not before.",
            reason="EFFECTIVENESS_NOT_DUE",
            field="effectiveness_due_at",
        )
    result = choice(EffectivenessResult, result, field="result")
    capa.effectiveness_result = result
    capa.effectiveness_checked_at, capa.effectiveness_checked_by = now(), actor
    capa.updated_by = actor
    change = {"result": result, "checked_at": capa.effectiveness_checked_at}
    await log_change(
        session, actor=actor, action="capa.effectiveness_recorded", record=capa, change=change
    )
    effective = result is EffectivenessResult.EFFECTIVE
    target = CapaState.CLOSED if effective else CapaState.IN_PROGRESS
    return await capa_service.transition_capa(
        session=session, capa=capa, target=target, actor=actor
    )


# --------------------------------------------------------------------------- coverage


@dataclass(frozen=True, slots=True)
class ClauseCoverage:
    clause: str
    coverage: Coverage


@dataclass(frozen=True, slots=True)
class FindingCoverage:
    finding: Finding
    #: FULL when every clause is, PARTIAL when some clause is covered at all, else NONE
    coverage: Coverage
    clauses: tuple[ClauseCoverage, ...]


def coverage_of(
    *, scope: Sequence[str], findings: Sequence[Finding], edges: Iterable[MappingEdge]
) -> list[FindingCoverage]:
    """``analysis.coverage_flags`` per finding and per clause of each finding."""
    edges = list(edges)
    per_finding = coverage_flags(
        scope=scope, findings={str(f.id): f.clause_keys for f in findings}, edges=edges
    )
    keys = dict.fromkeys(key for f in findings for key in f.clause_keys)
    per_clause = coverage_flags(scope=scope, findings={k: [k] for k in keys}, edges=edges)
    return [
        FindingCoverage(
            finding=f,
            coverage=per_finding[str(f.id)],
            clauses=tuple(ClauseCoverage(k, per_clause[k]) for k in f.clause_keys),
        )
        for f in findings
    ]


async def coverage_by_finding(
    *, session: AsyncSession, capa: Capa, owner: str
) -> list[FindingCoverage]:
    """How far ``capa`` covers each finding it addresses, by reference.

    The cross-walk is the catalog's mappings and ``owner``'s own, approved ones only: a
    draft mapping has not been reviewed and claims no coverage.
    """
    findings = await capa_service.linked_findings(session=session, capa=capa)
    edges = await mapping_service.mapping_edges(session=session, tenant_slug=owner)
    approved = [e for e in edges if e.status == MappingStatus.APPROVED]
    return coverage_of(scope=capa.clause_keys, findings=findings, edges=approved)
