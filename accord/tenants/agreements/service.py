"""Sharing agreements: who may see which of a grantor's record types, and at which level.

Lifecycle: either party proposes; the grantee accepts and the grantor activates (in any
order; the agreement is ``active`` once both have). Either party can revoke; revocation
is a row update read by the next request's plan, so it takes effect on the next request.
``expired`` and ``pending`` (before ``valid_from``) are derived from the clock.
Services never commit: the caller's control session owns the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import any_, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.platform.errors import BadInput, Conflict, Forbidden, NotFound
from accord.tenants import service as tenant_service
from accord.tenants.agreements.models import (
    SHAREABLE_RECORD_TYPES,
    AccessLogEntry,
    Agreement,
    AgreementState,
    SharingLevel,
)

MIN_GROUP_SIZE_FLOOR = 2


@dataclass(frozen=True, slots=True)
class Grant:
    """What one grantee may see of one grantor's record type, right now."""

    grantor: str
    record_type: str
    level: SharingLevel
    agreement_id: uuid.UUID
    min_group_size: int | None


def _now() -> datetime:
    return datetime.now(UTC)


async def propose(
    *,
    session: AsyncSession,
    grantor: str,
    grantee: str,
    record_types: Sequence[str],
    level: str,
    purpose: str,
    proposed_by: str,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    min_group_size: int | None = None,
    notification_policy: dict[str, Any] | None = None,
) -> Agreement:
    problems: list[BadInput] = []
    if grantor == grantee:
        problems.append(
            BadInput("A tenant cannot grant itself.", reason="SELF_GRANT", field="grantee")
        )
    unknown = sorted(set(record_types) - SHAREABLE_RECORD_TYPES)
    if unknown or not record_types:
        problems.append(
            BadInput(
                f"Unknown record type(s) {', '.join(unknown) or '(none given)'}; shareable: "
                f"{', '.join(sorted(SHAREABLE_RECORD_TYPES))}.",
                reason="UNKNOWN_RECORD_TYPE",
                field="record_types",
            )
        )
    if level not in set(SharingLevel):
        problems.append(
            BadInput(
                f"Level is full, summary or aggregate; got {level!r}.",
                reason="BAD_LEVEL",
                field="level",
            )
        )
    elif level == SharingLevel.AGGREGATE and (min_group_size or 0) < MIN_GROUP_SIZE_FLOOR:
        problems.append(
            BadInput(
                f"An aggregate agreement needs min_group_size ≥ {MIN_GROUP_SIZE_FLOOR}.",
                reason="MIN_GROUP_SIZE_REQUIRED",
                field="min_group_size",
            )
        )
    elif level != SharingLevel.AGGREGATE and min_group_size is not None:
        problems.append(
            BadInput(
                "min_group_size applies to aggregate agreements only.",
                reason="BAD_LEVEL",
                field="min_group_size",
            )
        )
    start = valid_from or _now()
    if valid_until is not None and valid_until <= start:
        problems.append(
            BadInput(
                "valid_until must be after valid_from.", reason="BAD_VALIDITY", field="valid_until"
            )
        )
    if not purpose.strip():
        problems.append(
            BadInput("State the purpose of sharing.", reason="PURPOSE_REQUIRED", field="purpose")
        )
    if problems:
        first = problems[0]
        if len(problems) > 1:
            first = BadInput(
                "; ".join(p.message for p in problems), reason=first.reason, field=first.field
            )
        raise first
    for slug in (grantor, grantee):
        await tenant_service.get_accessible(session=session, slug=slug)
    agreement = Agreement(
        grantor=grantor,
        grantee=grantee,
        record_types=sorted(set(record_types)),
        level=level,
        min_group_size=min_group_size,
        purpose=purpose.strip(),
        valid_from=start,
        valid_until=valid_until,
        state=AgreementState.PROPOSED,
        proposed_by=proposed_by,
        proposed_at=_now(),
        notification_policy=notification_policy,
    )
    session.add(agreement)
    await session.flush()
    return agreement


async def get(
    *, session: AsyncSession, agreement_id: uuid.UUID, for_update: bool = False
) -> Agreement:
    agreement = await session.get(Agreement, agreement_id, with_for_update=for_update)
    if agreement is None:
        raise NotFound("No such agreement.", reason="UNKNOWN_AGREEMENT", field="agreement")
    return agreement


def _require_party(agreement: Agreement, tenant: str, *, as_: str) -> None:
    expected = agreement.grantee if as_ == "grantee" else agreement.grantor
    if tenant != expected:
        raise Forbidden(f"Only the {as_} can do this.", reason=f"NOT_{as_.upper()}")


def _require_state(agreement: Agreement, *states: AgreementState) -> None:
    if agreement.state not in states:
        raise Conflict(f"The agreement is {agreement.state}.", reason="INVALID_AGREEMENT_STATE")


async def accept(
    *, session: AsyncSession, agreement_id: uuid.UUID, tenant: str, actor: str
) -> Agreement:
    agreement = await get(session=session, agreement_id=agreement_id, for_update=True)
    _require_party(agreement, tenant, as_="grantee")
    _require_state(agreement, AgreementState.PROPOSED)
    agreement.accepted_by, agreement.accepted_at = actor, _now()
    if agreement.activated_at is not None:
        agreement.state = AgreementState.ACTIVE
    await session.flush()
    return agreement


async def activate(
    *, session: AsyncSession, agreement_id: uuid.UUID, tenant: str, actor: str
) -> Agreement:
    agreement = await get(session=session, agreement_id=agreement_id, for_update=True)
    _require_party(agreement, tenant, as_="grantor")
    _require_state(agreement, AgreementState.PROPOSED)
    agreement.activated_by, agreement.activated_at = actor, _now()
    if agreement.accepted_at is not None:
        agreement.state = AgreementState.ACTIVE
    await session.flush()
    return agreement


async def revoke(
    *, session: AsyncSession, agreement_id: uuid.UUID, tenant: str, actor: str, reason: str
) -> Agreement:
    agreement = await get(session=session, agreement_id=agreement_id, for_update=True)
    if tenant not in (agreement.grantor, agreement.grantee):
        raise Forbidden("Only a party to the agreement can end it.", reason="NOT_A_PARTY")
    _require_state(agreement, AgreementState.PROPOSED, AgreementState.ACTIVE)
    agreement.state = AgreementState.REVOKED
    agreement.ended_by, agreement.ended_at, agreement.end_reason = actor, _now(), reason
    await session.flush()
    return agreement


async def list_for(*, session: AsyncSession, tenant: str) -> Sequence[Agreement]:
    stmt = (
        select(Agreement)
        .where(or_(Agreement.grantor == tenant, Agreement.grantee == tenant))
        .order_by(Agreement.proposed_at)
    )
    return (await session.scalars(stmt)).all()


async def grants_for(
    *, session: AsyncSession, grantee: str, record_type: str, at: datetime | None = None
) -> list[Grant]:
    """The grantors whose ``record_type`` ``grantee`` may read now, each at its best level.

    Read fresh on every request: a revocation takes effect on the next request.
    """
    at = at or _now()
    stmt = select(Agreement).where(
        Agreement.grantee == grantee,
        Agreement.state == AgreementState.ACTIVE,
        literal(record_type) == any_(Agreement.record_types),
        Agreement.valid_from <= at,
        or_(Agreement.valid_until.is_(None), Agreement.valid_until > at),
    )
    best: dict[str, Grant] = {}
    order = {SharingLevel.AGGREGATE: 0, SharingLevel.SUMMARY: 1, SharingLevel.FULL: 2}
    for agreement in (await session.scalars(stmt)).all():
        grant = Grant(
            grantor=agreement.grantor,
            record_type=record_type,
            level=SharingLevel(agreement.level),
            agreement_id=agreement.id,
            min_group_size=agreement.min_group_size,
        )
        current = best.get(agreement.grantor)
        if (
            current is None
            or order[grant.level] > order[current.level]
            # Two aggregate agreements: the stricter minimum group size protects the grantor.
            or (
                grant.level == current.level
                and (grant.min_group_size or 0) > (current.min_group_size or 0)
            )
        ):
            best[agreement.grantor] = grant
    return sorted(best.values(), key=lambda g: g.grantor)


def access_entries(
    *,
    grants: Iterable[tuple[Grant, int]],
    grantee: str,
    principal: str,
    request_id: str | None,
    at: datetime | None = None,
) -> dict[str, list[AccessLogEntry]]:
    """The access-log rows of one request, grouped by grantor (one batch per grantor)."""
    at = at or _now()
    rows: dict[str, list[AccessLogEntry]] = {}
    for grant, count in grants:
        rows.setdefault(grant.grantor, []).append(
            AccessLogEntry(
                at=at,
                grantee=grantee,
                principal=principal,
                agreement_id=grant.agreement_id,
                record_type=grant.record_type,
                level=grant.level.value,
                records=count,
                request_id=request_id,
            )
        )
    return rows
