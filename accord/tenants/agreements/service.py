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
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, null, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from accord.platform import clock
from accord.platform.errors import BadInput, Conflict, Forbidden, NotFound
from accord.tenants import service as tenant_service
from accord.tenants.agreements.models import (
    SHAREABLE_RECORD_TYPES,
    AccessLogEntry,
    Agreement,
    AgreementState,
    SharingLevel,
)
from accord.tenants.models import Tenant

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
    return clock.now()


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


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a tenant lives and whether it may be read now."""

    store: str
    status: str


_LEVEL_ORDER = {SharingLevel.AGGREGATE: 0, SharingLevel.SUMMARY: 1, SharingLevel.FULL: 2}


def _best(grants: Iterable[Grant]) -> list[Grant]:
    """Per grantor, the best level; between aggregate agreements, the stricter minimum
    group size (it protects the grantor)."""
    best: dict[str, Grant] = {}
    for grant in grants:
        current = best.get(grant.grantor)
        if (
            current is None
            or _LEVEL_ORDER[grant.level] > _LEVEL_ORDER[current.level]
            or (
                grant.level == current.level
                and (grant.min_group_size or 0) > (current.min_group_size or 0)
            )
        ):
            best[grant.grantor] = grant
    return sorted(best.values(), key=lambda g: g.grantor)


def _plan_statement() -> Select[Any]:
    a, t = Agreement.__table__, Tenant.__table__
    at = bindparam("at", type_=a.c.valid_from.type)
    granted = (
        select(
            t.c.slug,
            t.c.store,
            t.c.status,
            a.c.id,
            a.c.level,
            a.c.min_group_size,
            # As text: an array column costs a Python conversion per row and element.
            func.array_to_string(a.c.record_types, " ").label("record_types"),
        )
        .join_from(a, t, t.c.slug == a.c.grantor)
        .where(
            a.c.grantee == bindparam("grantee"),
            a.c.state == AgreementState.ACTIVE.value,
            a.c.record_types.overlap(bindparam("types", type_=a.c.record_types.type)),
            a.c.valid_from <= at,
            or_(a.c.valid_until.is_(None), a.c.valid_until > at),
        )
    )
    own = select(
        t.c.slug,
        t.c.store,
        t.c.status,
        null().label("id"),
        null().label("level"),
        null().label("min_group_size"),
        null().label("record_types"),
    ).where(t.c.slug == bindparam("grantee"))
    return select(union_all(granted, own).subquery())


_PLAN = _plan_statement()


async def plan_grants(
    *,
    session: AsyncSession,
    grantee: str,
    record_types: Sequence[str],
    at: datetime | None = None,
) -> tuple[dict[str, list[Grant]], dict[str, Placement]]:
    """For each of ``record_types``, the grantors whose records ``grantee`` may read now
    (each at its best level), and where every tenant involved lives — the grantee's own
    tenant included — in one statement.

    Read fresh on every request: a revocation or a suspension takes effect on the next
    request.
    """
    rows = (
        await session.execute(
            _PLAN, {"grantee": grantee, "types": list(record_types), "at": at or _now()}
        )
    ).all()
    placements: dict[str, Placement] = {}
    found: dict[str, list[Grant]] = {r: [] for r in record_types}
    for slug, store, status, agreement_id, level, min_group_size, types in rows:
        placements[slug] = Placement(store, status)
        if agreement_id is None:
            continue
        for record_type in types.split():
            if record_type in found:
                found[record_type].append(
                    Grant(
                        grantor=slug,
                        record_type=record_type,
                        level=SharingLevel(level),
                        agreement_id=agreement_id,
                        min_group_size=min_group_size,
                    )
                )
    return {r: _best(g) for r, g in found.items()}, placements


async def grants_for(
    *, session: AsyncSession, grantee: str, record_type: str, at: datetime | None = None
) -> list[Grant]:
    """The grantors whose ``record_type`` ``grantee`` may read now, each at its best level.

    Read fresh on every request: a revocation takes effect on the next request.
    """
    grants, _ = await plan_grants(
        session=session, grantee=grantee, record_types=[record_type], at=at
    )
    return grants[record_type]


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
