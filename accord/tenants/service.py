"""Control-plane reads and writes of tenants and members. The caller owns the transaction."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from accord.platform.errors import BadInput, Forbidden, NotFound
from accord.platform.naming import validate_slug
from accord.tenants.models import Member, Tenant, TenantStatus

_JURISDICTION_RE = re.compile(r"^[A-Z]{2}$")
MEMBER_ROLES = ("tenant_admin", "admin", "quality_manager", "auditor", "executive", "viewer")


def validate_jurisdiction(value: str) -> str:
    if not _JURISDICTION_RE.match(value):
        raise BadInput(
            "Jurisdiction is an ISO 3166-1 alpha-2 country code, e.g. 'DE', 'US', 'GB'.",
            reason="BAD_JURISDICTION",
            field="jurisdiction",
        )
    return value


def validate_legal_name(value: str) -> str:
    value = value.strip()
    if not value or len(value) > 200:
        raise BadInput(
            "A legal name has 1 to 200 characters.", reason="BAD_LEGAL_NAME", field="legal_name"
        )
    return value


async def find(*, session: AsyncSession, slug: str) -> Tenant | None:
    return await session.get(Tenant, slug)


async def get(*, session: AsyncSession, slug: str) -> Tenant:
    tenant = await session.get(Tenant, slug)
    if tenant is None or tenant.status == TenantStatus.PROVISIONING:
        raise NotFound(f"No tenant '{slug}'.", reason="UNKNOWN_TENANT", field="slug")
    return tenant


async def get_accessible(*, session: AsyncSession, slug: str) -> Tenant:
    """The tenant, if its records may be accessed now (active); else a coded refusal."""
    validate_slug(slug)
    tenant = await get(session=session, slug=slug)
    if tenant.status == TenantStatus.SUSPENDED:
        raise Forbidden(f"Tenant '{slug}' is suspended.", reason="TENANT_SUSPENDED")
    if tenant.status == TenantStatus.OFFBOARDED:
        raise NotFound(f"Tenant '{slug}' has been offboarded.", reason="TENANT_OFFBOARDED")
    return tenant


async def list_tenants(
    *, session: AsyncSession, include_offboarded: bool = True
) -> Sequence[Tenant]:
    stmt = select(Tenant).where(Tenant.status != TenantStatus.PROVISIONING).order_by(Tenant.slug)
    if not include_offboarded:
        stmt = stmt.where(Tenant.status != TenantStatus.OFFBOARDED)
    return (await session.scalars(stmt)).all()


async def add_member(
    *,
    session: AsyncSession,
    tenant: Tenant,
    subject: str,
    display_name: str,
    roles: Sequence[str],
    email: str | None = None,
) -> Member:
    unknown = sorted(set(roles) - set(MEMBER_ROLES))
    if unknown:
        raise BadInput(
            f"Unknown member role(s) {', '.join(unknown)}; known: {', '.join(MEMBER_ROLES)}.",
            reason="UNKNOWN_ROLE",
            field="roles",
        )
    member = Member(
        tenant=tenant.slug,
        subject=subject,
        display_name=display_name,
        roles=list(roles),
        email=email,
    )
    session.add(member)
    await session.flush()
    return member


async def unregistered(
    *, session: AsyncSession, people: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Those of ``(tenant slug, subject)`` that are no registered member, in the given order."""
    if not people:
        return []
    pairs = tuple_(Member.tenant, Member.subject).in_([(t, s) for t, s in people])
    known = set((await session.execute(select(Member.tenant, Member.subject).where(pairs))).all())
    return [(t, s) for t, s in people if (t, s) not in known]


async def list_members(*, session: AsyncSession, tenant: Tenant) -> Sequence[Member]:
    stmt = (
        select(Member)
        .where(Member.tenant == tenant.slug, Member.removed_at.is_(None))
        .order_by(Member.subject)
    )
    return (await session.scalars(stmt)).all()


async def get_for_update(*, session: AsyncSession, slug: str) -> Tenant:
    tenant = await session.get(Tenant, slug, with_for_update=True)
    if tenant is None:
        raise NotFound(f"No tenant '{slug}'.", reason="UNKNOWN_TENANT", field="slug")
    return tenant
