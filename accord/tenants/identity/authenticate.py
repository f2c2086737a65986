"""``authenticate``: a bearer JWT in, a ``Principal`` out, or one generic refusal.

Whose keys verify a token is decided by the control plane, never by the token: the
claimed tenant must be active and have registered the token's ``iss``; only that
registration's JWKS, audience and algorithms are used. Tokens without the tenant claim
are operator tokens, verified against a platform issuer. The precise reason for every
refusal is logged at INFO and kept on the exception (``exc.reason``) for tests.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from joserfc.jwk import KeySet
from sqlalchemy import Select, Text, and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.platform import clock
from accord.platform.runtime import Runtime
from accord.tenants.identity import accounts
from accord.tenants.identity import service as identity_service
from accord.tenants.identity.devissuer import DEV_ISSUER
from accord.tenants.identity.jwks import JwksCache, JwksError, parse_jwks
from accord.tenants.identity.models import IdentityProvider, PlatformIssuer, ServiceAccount
from accord.tenants.identity.principal import (
    SYNC_SCOPE,
    TENANT_CLAIM,
    Principal,
    PrincipalKind,
    Unauthenticated,
)
from accord.tenants.identity.service_tokens import (
    SERVICE_ALGORITHM,
    SERVICE_AUDIENCE,
    SERVICE_ISSUER,
    public_key_set,
)
from accord.tenants.identity.tokens import (
    UnknownKeyId,
    UnverifiedToken,
    read_unverified,
    scopes_of,
    verify,
)
from accord.tenants.models import Member, Tenant, TenantStatus

log = logging.getLogger("accord.identity")


@dataclass(frozen=True, slots=True)
class _Trust:
    """What the control plane says about the token's issuer and subject.

    ``kind`` is None when the subject is unknown. That is only acted on after the
    signature is verified, so an unsigned token cannot probe which subjects exist.
    """

    issuer: str
    audience: str
    jwks_url: str | None
    jwks: dict[str, Any] | None
    algorithms: Sequence[str]
    tenant: str | None
    kind: PrincipalKind | None
    roles: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        source: IdentityProvider | PlatformIssuer,
        *,
        tenant: str | None,
        kind: PrincipalKind | None,
        roles: frozenset[str] = frozenset(),
    ) -> _Trust:
        return cls(
            issuer=source.issuer,
            audience=source.audience,
            jwks_url=source.jwks_url,
            jwks=source.jwks,
            algorithms=tuple(source.algorithms),
            tenant=tenant,
            kind=kind,
            roles=roles,
        )


async def authenticate(
    *, token: str, runtime: Runtime, jwks: JwksCache, now: datetime | None = None
) -> Principal:
    """The principal a bearer JWT proves, or ``Unauthenticated`` (code UNAUTHENTICATED)."""
    try:
        return await _authenticate(token, runtime, jwks, now or clock.now())
    except Unauthenticated as exc:
        log.info("bearer token refused: %s", exc.reason)
        raise


async def _authenticate(token: str, runtime: Runtime, jwks: JwksCache, now: datetime) -> Principal:
    unverified = read_unverified(token)
    issuer = unverified.text_claim("iss")
    subject = unverified.text_claim("sub")
    if issuer is None:
        raise Unauthenticated("MISSING_CLAIM_ISS")
    if subject is None:
        raise Unauthenticated("MISSING_CLAIM_SUB")
    if issuer == DEV_ISSUER and runtime.settings.env == "prod":
        raise Unauthenticated("DEV_ISSUER_DISABLED")
    # Everything the control plane knows is read in one short transaction, before any
    # network I/O (a JWKS fetch), so no pooled connection waits on an issuer.
    async with runtime.control_session() as session:
        if issuer == SERVICE_ISSUER:
            trust = await _service_token_trust(session, unverified, subject, runtime)
        elif TENANT_CLAIM in unverified.claims:
            trust = await _tenant_trust(session, unverified, issuer, subject)
        else:
            trust = await _operator_trust(session, issuer, subject)
    claims = await _verify(unverified, trust, jwks, now)
    if trust.kind is None:
        raise Unauthenticated("UNKNOWN_SUBJECT" if trust.tenant else "UNKNOWN_OPERATOR")
    scopes = scopes_of(claims)
    if trust.kind == PrincipalKind.SERVICE:
        client_id = claims.get("client_id")
        if client_id is not None and client_id != subject:
            raise Unauthenticated("CLIENT_ID_MISMATCH")
        if SYNC_SCOPE not in scopes:
            raise Unauthenticated("SERVICE_SCOPE_MISSING")
        # A connector gets exactly what it is for, whatever else its token asks for.
        scopes = frozenset({SYNC_SCOPE})
    jti = claims.get("jti")
    try:
        expires_at = datetime.fromtimestamp(float(claims["exp"]), UTC)
    except (OverflowError, OSError, ValueError):
        raise Unauthenticated("BAD_EXPIRY") from None
    return Principal(
        tenant=trust.tenant,
        subject=subject,
        kind=trust.kind,
        issuer=issuer,
        roles=trust.roles,
        scopes=scopes,
        token_id=jti if isinstance(jti, str) else None,
        expires_at=expires_at,
    )


def _tenant_trust_statement() -> Select[Any]:
    """The token's tenant with its registration of the issuer and what the subject is
    there (service account or member), in one query: authentication runs on every
    request. Unique keys make it one row at most."""
    t, p = Tenant.__table__, IdentityProvider.__table__
    a, m = ServiceAccount.__table__, Member.__table__
    subject = bindparam("subject", type_=Text())
    return (
        select(
            t.c.slug,
            t.c.status,
            p.c.issuer,
            p.c.audience,
            p.c.jwks_url,
            p.c.jwks,
            p.c.algorithms,
            a.c.client_id.label("account"),
            m.c.id.label("member"),
            m.c.roles,
        )
        .select_from(
            t.outerjoin(p, and_(p.c.tenant == t.c.slug, p.c.issuer == bindparam("issuer")))
            .outerjoin(a, and_(a.c.client_id == subject, a.c.tenant == t.c.slug))
            .outerjoin(
                m,
                and_(m.c.tenant == t.c.slug, m.c.subject == subject, m.c.removed_at.is_(None)),
            )
        )
        .where(t.c.slug == bindparam("slug"))
    )


_TENANT_TRUST = _tenant_trust_statement()


async def _tenant_trust(
    session: AsyncSession, token: UnverifiedToken, issuer: str, subject: str
) -> _Trust:
    slug = token.text_claim(TENANT_CLAIM)
    row = (
        (
            await session.execute(
                _TENANT_TRUST, {"slug": slug, "issuer": issuer, "subject": subject}
            )
        ).first()
        if slug is not None and len(slug) <= 64
        else None
    )
    if row is None or row.status != TenantStatus.ACTIVE:
        raise Unauthenticated("TENANT_NOT_ACTIVE")
    if row.issuer is None:
        raise Unauthenticated("ISSUER_NOT_REGISTERED")
    trust = _Trust(
        issuer=row.issuer,
        audience=row.audience,
        jwks_url=row.jwks_url,
        jwks=row.jwks,
        algorithms=tuple(row.algorithms),
        tenant=row.slug,
        kind=None,
    )
    if row.account is not None:
        # Checked before members: a service principal must never pick up a user's roles.
        return replace(trust, kind=PrincipalKind.SERVICE)
    if row.member is None:
        return trust
    return replace(trust, kind=PrincipalKind.USER, roles=frozenset(row.roles))


async def _service_token_trust(
    session: AsyncSession, token: UnverifiedToken, subject: str, runtime: Runtime
) -> _Trust:
    """Accord's own token endpoint vouches only for service accounts holding a secret it
    issued, in their own tenant; its key is derived from the platform's secret key."""
    slug = token.text_claim(TENANT_CLAIM)
    tenant = await session.get(Tenant, slug) if slug is not None and len(slug) <= 64 else None
    if tenant is None or tenant.status != TenantStatus.ACTIVE:
        raise Unauthenticated("TENANT_NOT_ACTIVE")
    account = await accounts.find_service_account(
        session=session, tenant=tenant.slug, client_id=subject
    )
    known = account is not None and account.secret_hash is not None
    return _Trust(
        issuer=SERVICE_ISSUER,
        audience=SERVICE_AUDIENCE,
        jwks_url=None,
        jwks=public_key_set(runtime.settings),
        algorithms=(SERVICE_ALGORITHM,),
        tenant=tenant.slug,
        kind=PrincipalKind.SERVICE if known else None,
    )


async def _operator_trust(session: AsyncSession, issuer: str, subject: str) -> _Trust:
    platform = await identity_service.get_platform_issuer(session=session, issuer=issuer)
    if platform is None:
        raise Unauthenticated("ISSUER_NOT_REGISTERED")
    operator = await accounts.find_operator(session=session, issuer=issuer, subject=subject)
    kind = PrincipalKind.OPERATOR if operator is not None else None
    return _Trust.of(platform, tenant=None, kind=kind)


async def _verify(
    token: UnverifiedToken, trust: _Trust, jwks: JwksCache, now: datetime
) -> dict[str, Any]:
    def check(keys: KeySet) -> dict[str, Any]:
        return verify(
            token,
            keys=keys,
            algorithms=trust.algorithms,
            issuer=trust.issuer,
            audience=trust.audience,
            now=now,
        )

    if trust.jwks_url is None:
        try:
            keys = parse_jwks(trust.jwks)
        except JwksError:
            raise Unauthenticated("JWKS_INVALID") from None
        return check(keys)
    keys = await jwks.keys(issuer=trust.issuer, url=trust.jwks_url)
    try:
        return check(keys)
    except UnknownKeyId:
        # A kid we have not seen may be a key the issuer rotated in since our fetch.
        fresh = await jwks.refetch(issuer=trust.issuer, url=trust.jwks_url)
        if fresh is None:
            raise
        return check(fresh)
