"""Findings follow their CAPA's effectiveness check, by themselves.

``record_effectiveness`` is the CAPA flow's (``accord.compliance.capa.flows``) followed by
``follow_capa``: the verifier's judgement, then the findings it settles.

When the verifier records a CAPA's effectiveness, each finding it addresses takes the
steps that judgement settles, as that verifier and through ``workflow.service`` (so every guard,
the agreed audit protocol and the event log apply as to a step taken by hand):

* effective — once every CAPA of the finding with a planned check is found effective:
  ``capa_planned`` → ``capa_implemented`` → ``verification``, the verification recorded
  as passed (unless someone recorded it failed), then ``closed``;
* not effective — ``capa_implemented`` → ``verification``, the verification recorded as
  failed, back to ``capa_planned``; a finding closed meanwhile is reopened.

A finding stops at the first step whose guard does not hold (closing without evidence,
a protocol that names another closer): it is left there for people to take on, and the
refusal is returned, not raised, so the judgement itself stands. Each step checks before
it writes, so a stopped step writes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.capa import flows as capa_flows
from accord.compliance.capa import service as capa_service
from accord.compliance.capa.models import Capa, EffectivenessResult, capa_findings
from accord.compliance.findings.models import Finding, VerificationResult
from accord.compliance.findings.states import FindingState
from accord.compliance.workflow import service as finding_workflow
from accord.platform.errors import AccordError

S = FindingState


@dataclass
class Followed:
    """What one finding did: the states it passed through, and why it stopped short."""

    finding: Finding
    states: list[FindingState] = field(default_factory=list)
    stopped: AccordError | None = None


Step = Callable[[], Awaitable[Finding]]


async def _all_effective(session: AsyncSession, finding: Finding) -> bool:
    """No CAPA of ``finding`` with a planned check is still to be found effective."""
    linked = select(capa_findings.c.capa_id).where(capa_findings.c.finding_id == finding.id)
    pending = select(Capa.id).where(
        Capa.id.in_(linked),
        Capa.effectiveness_due_at.is_not(None),
        Capa.effectiveness_result.is_distinct_from(EffectivenessResult.EFFECTIVE),
    )
    return not await session.scalar(select(exists(pending)))


def _next_step(
    session: AsyncSession, finding: Finding, effective: bool, actor: str, reason: str
) -> Step | None:
    def move(target: FindingState) -> Step:
        return lambda: finding_workflow.transition(
            session=session, finding=finding, target=target, actor=actor, reason=reason
        )

    def verify(result: VerificationResult) -> Step:
        return lambda: finding_workflow.record_verification(
            session=session, finding=finding, result=result, actor=actor
        )

    state, verified = finding.state, finding.verification_result
    if effective:
        if state is S.CAPA_PLANNED:
            return move(S.CAPA_IMPLEMENTED)
        if state is S.CAPA_IMPLEMENTED:
            return move(S.VERIFICATION)
        if state is S.VERIFICATION and verified is None:
            return verify(VerificationResult.PASSED)
        if state is S.VERIFICATION and verified is VerificationResult.PASSED:
            return move(S.CLOSED)
        return None
    if state is S.CAPA_IMPLEMENTED:
        return move(S.VERIFICATION)
    if state is S.VERIFICATION and verified is not VerificationResult.FAILED:
        return verify(VerificationResult.FAILED)
    if state is S.VERIFICATION:
        return move(S.CAPA_PLANNED)
    if state is S.CLOSED:
        return move(S.REOPENED)
    return None


async def follow_capa(*, session: AsyncSession, capa: Capa, actor: str) -> list[Followed]:
    """Move the findings ``capa`` addresses as its recorded effectiveness settles."""
    if capa.effectiveness_result is None:
        return []
    effective = capa.effectiveness_result is EffectivenessResult.EFFECTIVE
    verdict = "verified effective" if effective else "found not effective"
    reason = f"CAPA {capa.reference} {verdict}."
    followed = []
    for finding in await capa_service.linked_findings(session=session, capa=capa):
        outcome = Followed(finding)
        followed.append(outcome)
        if effective and not await _all_effective(session, finding):
            continue
        while (step := _next_step(session, finding, effective, actor, reason)) is not None:
            before = (finding.state, finding.verification_result)
            try:
                await step()
            except AccordError as refused:
                outcome.stopped = refused
                break
            if finding.state is not before[0]:
                outcome.states.append(finding.state)
            elif finding.verification_result is before[1]:
                break  # nothing changed: never loop
    return followed


async def record_effectiveness(
    *,
    session: AsyncSession,
    capa: Capa,
    owner: str,
    result: EffectivenessResult | str,
    actor: str,
    today: date | None = None,
) -> Capa:
    """The planned verifier's judgement (``capa_flows.record_effectiveness``: effective
    closes the CAPA, not effective reworks it), then its findings follow."""
    capa = await capa_flows.record_effectiveness(
        session=session, capa=capa, owner=owner, result=result, actor=actor, today=today
    )
    await follow_capa(session=session, capa=capa, actor=actor)
    return capa
