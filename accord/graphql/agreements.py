"""Agreement mutations: propose, accept, activate and revoke data-sharing agreements.

The service is the one the ``accord agreement`` command uses
(``accord.tenants.agreements.service``), so the rules are the same: either party
proposes; only the grantee accepts and only the grantor activates (the agreement is
active once both have); either party revokes, and since every request plans its reads
from the agreements as they are then, a revocation holds from the next request. An
agreement with ``validUntil`` ends by itself when the clock passes it (the state then
reads EXPIRED); one with a later ``validFrom`` reads PENDING until then.

Gates: the caller acts for its own organisation, which must be a party (else the
agreement does not exist for it, NOT_FOUND), and the action gate must let the caller
``approve`` every record type the agreement names in its own organisation (quality
managers do; viewers and auditors do not). Each step is appended to both parties' event
logs, in the transaction of the change.

Listing, incoming and outgoing, is the ``agreements(role:, state:)`` query.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.graphql.errors import AgreementError
from accord.graphql.records.agreements import AgreementLevelEnum, AgreementType
from accord.platform import clock
from accord.platform.errors import AccordError, Forbidden, NotFound
from accord.platform.eventlog import append_event
from accord.policies.schemas import Resource
from accord.policies.vocab import user_subject
from accord.tenants.agreements import service as agreement_service
from accord.tenants.agreements.models import SHAREABLE_RECORD_TYPES, Agreement
from accord.tenants.identity.principal import Principal
from accord.tenants.sessions import tenant_session

GATE_ACTION = "approve"


@strawberry.type
class AgreementPayload:
    agreement: AgreementType | None
    errors: list[AgreementError]


@strawberry.input(description="A data-sharing agreement to propose; your organisation is a party.")
class ProposeAgreementInput:
    grantor: str | None = strawberry.field(
        default=None, description="Whose records are shared; default: your organisation."
    )
    grantee: str = strawberry.field(description="Who may read them.")
    record_types: list[str] = strawberry.field(
        description="Among audit, finding, evidence, capa, management_review, kpi, risk, incident."
    )
    level: AgreementLevelEnum
    purpose: str = strawberry.field(description="Why the records are shared.")
    min_group_size: int | None = strawberry.field(
        default=None, description="Aggregate level only (and required there): at least 2."
    )
    valid_from: datetime | None = strawberry.field(default=None, description="Default: now.")
    valid_until: datetime | None = strawberry.field(
        default=None, description="When access ends by itself; default: until revoked."
    )


def _not_found() -> NotFound:
    return NotFound("No such agreement.", reason="UNKNOWN_AGREEMENT", field="id")


def _require_gate(context: Context, principal: Principal, own: str, types: Sequence[str]) -> None:
    denied = [
        t
        for t in sorted(set(types) & SHAREABLE_RECORD_TYPES)
        if not context.authorizer.authorize(principal, GATE_ACTION, Resource(own, t)).allowed
    ]
    if denied:
        raise Forbidden(
            f"You may not agree to share {', '.join(denied)} for your organisation.",
            reason="ACTION_DENIED",
        )


async def _log(agreement: Agreement, context: Context, actor: str, action: str) -> None:
    """The step, in each party's event log (in the transaction of the change)."""
    change: dict[str, Any] = {
        "grantor": agreement.grantor,
        "grantee": agreement.grantee,
        "record_types": sorted(agreement.record_types),
        "level": agreement.level,
        "state": agreement.state,
    }
    if agreement.min_group_size is not None:
        change["min_group_size"] = agreement.min_group_size
    if agreement.valid_until is not None:
        change["valid_until"] = agreement.valid_until.isoformat()
    if agreement.end_reason:
        change["reason"] = agreement.end_reason
    for party in (agreement.grantor, agreement.grantee):
        async with tenant_session(context.runtime, party) as session:
            await append_event(
                session,
                actor=actor,
                action=f"agreement.{action}",
                record_type="agreement",
                record_id=str(agreement.id),
                change=change,
            )


Step = Callable[[AsyncSession, str, str], Awaitable[Agreement]]


async def _change(
    context: Context, agreement_id: uuid.UUID, action: str, step: Step
) -> AgreementPayload:
    try:
        principal, own = require_tenant(context)
        actor = user_subject(own, principal.subject)
        async with context.runtime.control_session() as session:
            try:
                current = await agreement_service.get(session=session, agreement_id=agreement_id)
            except NotFound:
                raise _not_found() from None
            if own not in (current.grantor, current.grantee):
                raise _not_found()
            _require_gate(context, principal, own, current.record_types)
            agreement = await step(session, own, actor)
            await _log(agreement, context, actor, action)
            node = AgreementType.from_model(agreement, own, clock.now())
    except AccordError as exc:
        return AgreementPayload(agreement=None, errors=[AgreementError.of(exc)])
    return AgreementPayload(agreement=node, errors=[])


async def propose_agreement(
    info: strawberry.Info[Context, None], input: ProposeAgreementInput
) -> AgreementPayload:
    context = info.context
    try:
        principal, own = require_tenant(context)
        grantor = input.grantor or own
        if own not in (grantor, input.grantee):
            raise Forbidden(
                "Your organisation proposes agreements it is a party to.",
                reason="NOT_A_PARTY",
                field="grantee",
            )
        _require_gate(context, principal, own, input.record_types)
        actor = user_subject(own, principal.subject)
        async with context.runtime.control_session() as session:
            agreement = await agreement_service.propose(
                session=session,
                grantor=grantor,
                grantee=input.grantee,
                record_types=input.record_types,
                level=input.level.value,
                purpose=input.purpose,
                proposed_by=actor,
                valid_from=input.valid_from,
                valid_until=input.valid_until,
                min_group_size=input.min_group_size,
            )
            await _log(agreement, context, actor, "proposed")
            node = AgreementType.from_model(agreement, own, clock.now())
    except AccordError as exc:
        return AgreementPayload(agreement=None, errors=[AgreementError.of(exc)])
    return AgreementPayload(agreement=node, errors=[])


async def accept_agreement(info: strawberry.Info[Context, None], id: uuid.UUID) -> AgreementPayload:
    async def accept(session: AsyncSession, own: str, actor: str) -> Agreement:
        return await agreement_service.accept(
            session=session, agreement_id=id, tenant=own, actor=actor
        )

    return await _change(info.context, id, "accepted", accept)


async def activate_agreement(
    info: strawberry.Info[Context, None], id: uuid.UUID
) -> AgreementPayload:
    async def activate(session: AsyncSession, own: str, actor: str) -> Agreement:
        return await agreement_service.activate(
            session=session, agreement_id=id, tenant=own, actor=actor
        )

    return await _change(info.context, id, "activated", activate)


async def revoke_agreement(
    info: strawberry.Info[Context, None], id: uuid.UUID, reason: str
) -> AgreementPayload:
    async def revoke(session: AsyncSession, own: str, actor: str) -> Agreement:
        return await agreement_service.revoke(
            session=session, agreement_id=id, tenant=own, actor=actor, reason=reason
        )

    return await _change(info.context, id, "revoked", revoke)


@strawberry.type
class AgreementMutations:
    propose_agreement: AgreementPayload = strawberry.mutation(
        resolver=propose_agreement,
        description="Propose a data-sharing agreement (either party may); it is active once "
        "the grantee accepts and the grantor activates.",
    )
    accept_agreement: AgreementPayload = strawberry.mutation(
        resolver=accept_agreement, description="Accept a proposed agreement (the grantee only)."
    )
    activate_agreement: AgreementPayload = strawberry.mutation(
        resolver=activate_agreement,
        description="Activate a proposed agreement (the grantor only).",
    )
    revoke_agreement: AgreementPayload = strawberry.mutation(
        resolver=revoke_agreement,
        description="End an agreement (either party); it holds from the next request.",
    )
