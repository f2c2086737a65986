"""Break-glass: an operator's time-boxed, justified, logged access to one tenant.

A grant lives in the control plane and is announced in the *tenant's* own event log, so
the tenant can see every time the platform looked inside. The tenant entry is committed
before the caller commits the grant: if that later commit fails, the log shows a grant
that never took effect, which is the safe way round (access is never silent).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.platform import clock
from accord.platform.errors import BadInput, NotFound
from accord.platform.eventlog import append_event
from accord.platform.runtime import Runtime
from accord.tenants.identity.models import BreakGlassGrant, Operator
from accord.tenants.identity.principal import Principal, PrincipalKind
from accord.tenants.models import Tenant, TenantStatus

MAX_DURATION = timedelta(hours=24)
MIN_REASON_LENGTH = 10


def operator_actor(issuer: str, subject: str) -> str:
    """How an operator appears as an event-log actor."""
    return f"operator:{subject}@{issuer}"


async def grant_break_glass(
    *,
    session: AsyncSession,
    runtime: Runtime,
    operator: Operator,
    tenant: Tenant,
    reason: str,
    duration: timedelta,
    now: datetime | None = None,
) -> BreakGlassGrant:
    """Give ``operator`` access to ``tenant`` for ``duration`` (at most 24 h)."""
    reason = reason.strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise BadInput(
            f"Say why, in at least {MIN_REASON_LENGTH} characters.",
            reason="REASON_REQUIRED",
            field="reason",
        )
    if not timedelta(0) < duration <= MAX_DURATION:
        raise BadInput(
            "Break-glass access lasts more than 0 and at most 24 hours.",
            reason="BAD_DURATION",
            field="duration",
        )
    if tenant.status not in (TenantStatus.ACTIVE, TenantStatus.SUSPENDED):
        raise NotFound(f"No tenant '{tenant.slug}'.", reason="UNKNOWN_TENANT", field="tenant")
    granted_at = now or clock.now()
    grant = BreakGlassGrant(
        id=uuid.uuid4(),
        operator_issuer=operator.issuer,
        operator_subject=operator.subject,
        tenant=tenant.slug,
        reason=reason,
        granted_at=granted_at,
        expires_at=granted_at + duration,
    )
    session.add(grant)
    await session.flush()
    async with runtime.stores.tenant_session(tenant.scope) as tenant_session:
        await append_event(
            tenant_session,
            actor=operator_actor(operator.issuer, operator.subject),
            action="break_glass.granted",
            record_type="break_glass_grant",
            record_id=str(grant.id),
            change={
                "operator": operator.subject,
                "issuer": operator.issuer,
                "reason": reason,
                "granted_at": granted_at.isoformat(),
                "expires_at": grant.expires_at.isoformat(),
            },
        )
    return grant


async def revoke_break_glass(
    *,
    session: AsyncSession,
    runtime: Runtime,
    grant_id: uuid.UUID,
    actor: str,
    now: datetime | None = None,
) -> BreakGlassGrant:
    """End a grant early; the tenant's log records who ended it."""
    grant = await session.get(BreakGlassGrant, grant_id, with_for_update=True)
    if grant is None:
        raise NotFound("No such break-glass grant.", reason="UNKNOWN_GRANT", field="grant_id")
    tenant = await session.get(Tenant, grant.tenant)
    assert tenant is not None  # the foreign key guarantees it
    if grant.revoked_at is None:
        grant.revoked_at = now or clock.now()
        await session.flush()
        async with runtime.stores.tenant_session(tenant.scope) as tenant_session:
            await append_event(
                tenant_session,
                actor=actor,
                action="break_glass.revoked",
                record_type="break_glass_grant",
                record_id=str(grant.id),
                change={"revoked_at": grant.revoked_at.isoformat()},
            )
    return grant


async def has_break_glass(
    *,
    session: AsyncSession,
    operator: Operator | Principal,
    tenant: str,
    now: datetime | None = None,
) -> bool:
    """Whether ``operator`` holds an unrevoked grant for ``tenant`` that covers ``now``."""
    if isinstance(operator, Principal) and operator.kind != PrincipalKind.OPERATOR:
        return False
    at = now or clock.now()
    stmt = (
        select(BreakGlassGrant.id)
        .where(
            BreakGlassGrant.tenant == tenant,
            BreakGlassGrant.operator_issuer == operator.issuer,
            BreakGlassGrant.operator_subject == operator.subject,
            BreakGlassGrant.revoked_at.is_(None),
            BreakGlassGrant.granted_at <= at,
            BreakGlassGrant.expires_at > at,
        )
        .limit(1)
    )
    return (await session.scalars(stmt)).first() is not None
