"""A tenant's members: who of its IdP's subjects may sign in, and with which roles.

A removed member keeps its row (``removed_at``): it signs in no more and its signing keys
are revoked from that instant, but what it signed while they were valid still verifies.
Adding the subject again restores it with the roles given then.

The tenant keeps at least one ``tenant_admin`` once it has one, so an organisation never
locks itself out of its own administration (LAST_ADMIN).
Services take keyword-only arguments, session first, and never commit.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accord.platform import clock
from accord.platform.errors import BadInput, Conflict, NotFound
from accord.tenants.identity.models import MemberKey
from accord.tenants.models import Member, Tenant
from accord.tenants.service import MEMBER_ROLES

TENANT_ADMIN = "tenant_admin"
MAX_SUBJECT_LENGTH = 200


def validate_subject(subject: str) -> str:
    """An IdP's ``sub``: 1 to 200 characters, no control characters, no outer spaces."""
    if (
        not subject
        or len(subject) > MAX_SUBJECT_LENGTH
        or subject != subject.strip()
        or any(unicodedata.category(c).startswith("C") for c in subject)
    ):
        raise BadInput(
            "A subject has 1 to 200 characters, no control characters or outer spaces.",
            reason="BAD_SUBJECT",
            field="subject",
        )
    return subject


def validate_roles(roles: Sequence[str]) -> list[str]:
    chosen = sorted(set(roles))
    unknown = [r for r in chosen if r not in MEMBER_ROLES]
    if not chosen or unknown:
        raise BadInput(
            f"Roles are a non-empty set of {', '.join(MEMBER_ROLES)}"
            + (f"; unknown: {', '.join(unknown)}." if unknown else "."),
            reason="UNKNOWN_ROLE",
            field="roles",
        )
    return chosen


def _display_name(value: str) -> str:
    value = value.strip()
    if not value or len(value) > 200:
        raise BadInput("A name has 1 to 200 characters.", reason="BAD_NAME", field="display_name")
    return value


def unknown_member(tenant: Tenant, subject: str) -> NotFound:
    return NotFound(
        f"No member '{subject}' in tenant '{tenant.slug}'.",
        reason="UNKNOWN_MEMBER",
        field="subject",
    )


async def _row(session: AsyncSession, tenant: Tenant, subject: str) -> Member | None:
    stmt = (
        select(Member)
        .where(Member.tenant == tenant.slug, Member.subject == subject)
        .with_for_update()
    )
    return (await session.scalars(stmt)).one_or_none()


async def get_member(*, session: AsyncSession, tenant: Tenant, subject: str) -> Member:
    """The active member ``subject`` of ``tenant`` (UNKNOWN_MEMBER otherwise)."""
    member = await _row(session, tenant, subject)
    if member is None or member.removed_at is not None:
        raise unknown_member(tenant, subject)
    return member


async def list_active(*, session: AsyncSession, tenant: Tenant) -> Sequence[Member]:
    stmt = (
        select(Member)
        .where(Member.tenant == tenant.slug, Member.removed_at.is_(None))
        .order_by(Member.subject)
    )
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
    """Let ``subject`` of the tenant's IdPs sign in with ``roles`` (DUPLICATE_MEMBER if it can)."""
    subject = validate_subject(subject)
    chosen = validate_roles(roles)
    name = _display_name(display_name)
    existing = await _row(session, tenant, subject)
    if existing is not None and existing.removed_at is None:
        raise Conflict(
            f"'{subject}' is already a member of '{tenant.slug}'.",
            reason="DUPLICATE_MEMBER",
            field="subject",
        )
    if existing is not None:
        existing.removed_at, existing.roles, existing.display_name = None, chosen, name
        existing.email = email
        await session.flush()
        return existing
    member = Member(
        tenant=tenant.slug, subject=subject, display_name=name, roles=chosen, email=email
    )
    session.add(member)
    await session.flush()
    return member


async def _admins_left(session: AsyncSession, tenant: Tenant, without: Member) -> int:
    stmt = select(func.count()).where(
        Member.tenant == tenant.slug,
        Member.removed_at.is_(None),
        Member.id != without.id,
        Member.roles.contains([TENANT_ADMIN]),
    )
    return int(await session.scalar(stmt) or 0)


async def _keep_an_admin(session: AsyncSession, tenant: Tenant, member: Member) -> None:
    if TENANT_ADMIN in member.roles and await _admins_left(session, tenant, member) == 0:
        raise Conflict(
            f"'{member.subject}' is the last tenant admin of '{tenant.slug}'; make another "
            "member tenant admin first.",
            reason="LAST_ADMIN",
            field="subject",
        )


async def change_roles(
    *, session: AsyncSession, tenant: Tenant, subject: str, roles: Sequence[str]
) -> Member:
    chosen = validate_roles(roles)
    member = await get_member(session=session, tenant=tenant, subject=subject)
    if TENANT_ADMIN not in chosen:
        await _keep_an_admin(session, tenant, member)
    member.roles = chosen
    await session.flush()
    return member


async def remove_member(*, session: AsyncSession, tenant: Tenant, subject: str) -> Member:
    """End ``subject``'s membership now: no sign-in, its signing keys revoked."""
    member = await get_member(session=session, tenant=tenant, subject=subject)
    await _keep_an_admin(session, tenant, member)
    at = clock.now()
    member.removed_at = at
    await session.execute(
        update(MemberKey)
        .where(
            MemberKey.member == member.id,
            (MemberKey.revoked_at.is_(None)) | (MemberKey.revoked_at > at),
        )
        .values(revoked_at=at)
    )
    await session.flush()
    return member
