"""Trusted issuers: each tenant's OIDC issuers, and the platform issuers of operators.

Services take keyword-only arguments, session first, and never commit.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.platform.errors import BadInput, Conflict, NotFound
from accord.tenants.identity.jwks import JwksError, parse_jwks
from accord.tenants.identity.models import IdentityProvider, PlatformIssuer
from accord.tenants.identity.tokens import ALLOWED_ALGORITHMS
from accord.tenants.models import Tenant

MAX_URL_LENGTH = 2048


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_issuer(issuer: str) -> str:
    """An https URL, a URN (the dev issuer), or http on loopback (local IdPs, tests)."""
    parts = urlsplit(issuer)
    ok = len(issuer) <= MAX_URL_LENGTH and (
        (parts.scheme == "https" and bool(parts.hostname))
        or (parts.scheme == "urn" and len(issuer) > len("urn:x:"))
        or (parts.scheme == "http" and _is_loopback(parts.hostname))
    )
    if not ok:
        raise BadInput(
            "An issuer is an https:// URL (http:// only on loopback) or a urn:.",
            reason="BAD_ISSUER",
            field="issuer",
        )
    return issuer


def validate_jwks_url(url: str) -> str:
    # Keys fetched over plain HTTP could be swapped in transit; loopback is the exception
    # for IdPs on the same machine.
    parts = urlsplit(url)
    ok = len(url) <= MAX_URL_LENGTH and (
        (parts.scheme == "https" and bool(parts.hostname))
        or (parts.scheme == "http" and _is_loopback(parts.hostname))
    )
    if not ok:
        raise BadInput(
            "A JWKS URL is an https:// URL (http:// only on loopback).",
            reason="BAD_JWKS_URL",
            field="jwks_url",
        )
    return url


def validate_algorithms(algorithms: Collection[str]) -> list[str]:
    chosen = sorted(set(algorithms))
    if not chosen or any(a not in ALLOWED_ALGORITHMS for a in chosen):
        raise BadInput(
            f"Algorithms are a non-empty subset of {', '.join(ALLOWED_ALGORITHMS)}.",
            reason="ALGORITHM_NOT_ALLOWED",
            field="algorithms",
        )
    return chosen


def _key_source(
    jwks_url: str | None, jwks: Mapping[str, Any] | None
) -> tuple[str | None, dict[str, Any] | None]:
    if (jwks_url is None) == (jwks is None):
        raise BadInput(
            "Give either a JWKS URL or an inline JWKS, not both.",
            reason="JWKS_SOURCE",
            field="jwks",
        )
    if jwks_url is not None:
        return validate_jwks_url(jwks_url), None
    try:
        parse_jwks(dict(jwks or {}))
    except JwksError as exc:
        raise BadInput(str(exc), reason="BAD_JWKS", field="jwks") from None
    return None, dict(jwks or {})


def validate_audience(audience: str) -> str:
    if not audience or len(audience) > 256:
        raise BadInput(
            "An audience has 1 to 256 characters.", reason="BAD_AUDIENCE", field="audience"
        )
    return audience


async def register_provider(
    *,
    session: AsyncSession,
    tenant: Tenant,
    issuer: str,
    audience: str,
    jwks_url: str | None = None,
    jwks: Mapping[str, Any] | None = None,
    algorithms: Collection[str] = ("RS256",),
    discovery_url: str | None = None,
) -> IdentityProvider:
    """Trust ``issuer`` for ``tenant``'s users and service accounts."""
    url, inline = _key_source(jwks_url, jwks)
    provider = IdentityProvider(
        tenant=tenant.slug,
        issuer=validate_issuer(issuer),
        audience=validate_audience(audience),
        jwks_url=url,
        jwks=inline,
        algorithms=validate_algorithms(algorithms),
        discovery_url=discovery_url,
    )
    if await get_provider(session=session, tenant=tenant.slug, issuer=issuer) is not None:
        raise Conflict(
            f"Tenant '{tenant.slug}' already trusts issuer {issuer}.",
            reason="DUPLICATE_ISSUER",
            field="issuer",
        )
    session.add(provider)
    await session.flush()
    return provider


async def get_provider(
    *, session: AsyncSession, tenant: str, issuer: str
) -> IdentityProvider | None:
    stmt = select(IdentityProvider).where(
        IdentityProvider.tenant == tenant, IdentityProvider.issuer == issuer
    )
    return (await session.scalars(stmt)).one_or_none()


async def list_providers(*, session: AsyncSession, tenant: Tenant) -> Sequence[IdentityProvider]:
    stmt = (
        select(IdentityProvider)
        .where(IdentityProvider.tenant == tenant.slug)
        .order_by(IdentityProvider.issuer)
    )
    return (await session.scalars(stmt)).all()


async def remove_provider(*, session: AsyncSession, tenant: Tenant, issuer: str) -> None:
    provider = await get_provider(session=session, tenant=tenant.slug, issuer=issuer)
    if provider is None:
        raise NotFound(
            f"Tenant '{tenant.slug}' does not trust issuer {issuer}.",
            reason="UNKNOWN_ISSUER",
            field="issuer",
        )
    await session.delete(provider)
    await session.flush()


async def register_platform_issuer(
    *,
    session: AsyncSession,
    issuer: str,
    audience: str,
    jwks_url: str | None = None,
    jwks: Mapping[str, Any] | None = None,
    algorithms: Collection[str] = ("RS256",),
) -> PlatformIssuer:
    """Trust ``issuer`` to identify platform operators (tokens without a tenant claim)."""
    url, inline = _key_source(jwks_url, jwks)
    if await session.get(PlatformIssuer, issuer) is not None:
        raise Conflict(
            f"Issuer {issuer} is already a platform issuer.",
            reason="DUPLICATE_ISSUER",
            field="issuer",
        )
    platform_issuer = PlatformIssuer(
        issuer=validate_issuer(issuer),
        audience=validate_audience(audience),
        jwks_url=url,
        jwks=inline,
        algorithms=validate_algorithms(algorithms),
    )
    session.add(platform_issuer)
    await session.flush()
    return platform_issuer


async def get_platform_issuer(*, session: AsyncSession, issuer: str) -> PlatformIssuer | None:
    return await session.get(PlatformIssuer, issuer)


async def list_platform_issuers(*, session: AsyncSession) -> Sequence[PlatformIssuer]:
    return (await session.scalars(select(PlatformIssuer).order_by(PlatformIssuer.issuer))).all()


async def remove_platform_issuer(*, session: AsyncSession, issuer: str) -> None:
    found = await session.get(PlatformIssuer, issuer)
    if found is None:
        raise NotFound(f"No platform issuer {issuer}.", reason="UNKNOWN_ISSUER", field="issuer")
    await session.delete(found)
    await session.flush()
