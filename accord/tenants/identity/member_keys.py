"""Members' public signing keys (executives sign management reviews with the private half).

Accord only ever holds the public half: a JWK with any private member is refused, so a
signature made with a registered key can only have come from its holder.

A key is valid from its registration until its revocation: it signs nothing new after
that, and what it signed while valid still verifies. ``published_key_set`` publishes a
tenant's keys with those windows, as a JWKS an offline verifier pins.
Services take keyword-only arguments, session first, and never commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.platform import clock
from accord.platform.errors import BadInput, Conflict, NotFound
from accord.tenants.identity.jwks import has_private_members
from accord.tenants.identity.models import MemberKey
from accord.tenants.models import Member, Tenant, TenantStatus

# JOSE algorithm -> (kty, crv) of the key it needs.
MEMBER_KEY_ALGORITHMS: dict[str, tuple[str, str]] = {
    "Ed25519": ("OKP", "Ed25519"),
    "ES256": ("EC", "P-256"),
}
_ALG_ALIASES = {"EdDSA": "Ed25519"}
#: A published key set: a JWKS (RFC 7517) whose keys also name their holder and window.
KEY_SET_TYPE = "accord.member_signing_keys"
KEY_SET_FORMAT = 1
MAX_ROTATION_OVERLAP = timedelta(days=30)


def public_jwk(jwk: Mapping[str, Any], *, alg: str) -> dict[str, Any]:
    """The validated public JWK to store, with ``kid``, ``alg`` and ``use`` set."""
    if alg not in MEMBER_KEY_ALGORITHMS:
        raise BadInput(
            f"Signing keys use {' or '.join(MEMBER_KEY_ALGORITHMS)}.",
            reason="UNSUPPORTED_KEY_ALGORITHM",
            field="alg",
        )
    if has_private_members(jwk):
        raise BadInput(
            "Register only the public key; this JWK contains private key material.",
            reason="PRIVATE_KEY_MATERIAL",
            field="jwk",
        )
    kty, crv = MEMBER_KEY_ALGORITHMS[alg]
    declared = jwk.get("alg")
    if (
        jwk.get("kty") != kty
        or jwk.get("crv") != crv
        or (declared is not None and _ALG_ALIASES.get(str(declared), declared) != alg)
    ):
        raise BadInput(
            f"An {alg} key is a JWK with kty {kty} and crv {crv}.",
            reason="KEY_ALGORITHM_MISMATCH",
            field="jwk",
        )
    try:
        key = JWKRegistry.import_key(dict(jwk))
    except (JoseError, ValueError, TypeError) as exc:
        raise BadInput(f"Not a valid JWK: {exc}", reason="BAD_JWK", field="jwk") from None
    if key.is_private:
        raise BadInput("Register only the public key.", reason="PRIVATE_KEY_MATERIAL", field="jwk")
    kid = jwk.get("kid")
    if kid is not None and (not isinstance(kid, str) or not 0 < len(kid) <= 200):
        raise BadInput("A kid is a string of 1 to 200 characters.", reason="BAD_KID", field="jwk")
    return {**key.as_dict(private=False), "kid": kid or key.thumbprint(), "alg": alg, "use": "sig"}


async def add_member_key(
    *, session: AsyncSession, member: Member, jwk: Mapping[str, Any], alg: str
) -> MemberKey:
    stored = public_jwk(jwk, alg=alg)
    kid = str(stored["kid"])
    existing = await session.scalars(
        select(MemberKey.id).where(MemberKey.member == member.id, MemberKey.kid == kid)
    )
    if existing.first() is not None:
        raise Conflict(
            f"{member.subject} already has a key '{kid}'.", reason="DUPLICATE_KID", field="kid"
        )
    # The registration instant opens the key's validity window: the clock's, not the row's.
    key = MemberKey(member=member.id, kid=kid, alg=alg, jwk=stored, created_at=clock.now())
    session.add(key)
    await session.flush()
    return key


async def list_member_keys(
    *, session: AsyncSession, member: Member, include_revoked: bool = False
) -> Sequence[MemberKey]:
    stmt = select(MemberKey).where(MemberKey.member == member.id).order_by(MemberKey.created_at)
    if not include_revoked:
        stmt = stmt.where(MemberKey.revoked_at.is_(None) | (MemberKey.revoked_at > clock.now()))
    return (await session.scalars(stmt)).all()


async def get_member_key(*, session: AsyncSession, member: Member, kid: str) -> MemberKey:
    stmt = select(MemberKey).where(MemberKey.member == member.id, MemberKey.kid == kid)
    key = (await session.scalars(stmt)).one_or_none()
    if key is None:
        raise NotFound(f"{member.subject} has no key '{kid}'.", reason="UNKNOWN_KID", field="kid")
    return key


async def revoke_member_key(
    *, session: AsyncSession, member: Member, kid: str, at: datetime | None = None
) -> MemberKey:
    """Stop ``kid`` from making new signatures; old ones still verify against it."""
    key = await get_member_key(session=session, member=member, kid=kid)
    at = at or clock.now()
    # A key retired by a rotation's overlap is cut short; an earlier end is never moved.
    if key.revoked_at is None or key.revoked_at > at:
        key.revoked_at = at
        await session.flush()
    return key


async def rotate_member_key(
    *,
    session: AsyncSession,
    member: Member,
    kid: str,
    jwk: Mapping[str, Any],
    alg: str,
    overlap: timedelta = timedelta(0),
) -> tuple[MemberKey, MemberKey]:
    """Register a new key and retire ``kid`` once ``overlap`` has passed (signatures in
    flight may still use it until then); (retired, new). What the old key signed while
    valid still verifies: its window ends, it is not erased."""
    if not timedelta(0) <= overlap <= MAX_ROTATION_OVERLAP:
        raise BadInput(
            "A rotation's overlap is 0 to 30 days.", reason="BAD_OVERLAP", field="overlap"
        )
    old = await get_member_key(session=session, member=member, kid=kid)
    now = clock.now()
    if old.revoked_at is not None and old.revoked_at <= now:
        raise Conflict(
            f"Key '{kid}' is already revoked; register a new key instead.",
            reason="KEY_REVOKED",
            field="kid",
        )
    new = await add_member_key(session=session, member=member, jwk=jwk, alg=alg)
    old.revoked_at = now + overlap
    await session.flush()
    return old, new


def key_state(key: MemberKey, at: datetime | None = None) -> str:
    """``valid``, ``retiring`` (valid until a rotation's overlap ends) or ``revoked``."""
    at = at or clock.now()
    if key.revoked_at is None:
        return "valid"
    return "retiring" if key.revoked_at > at else "revoked"


def _instant(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat()


async def published_key_set(*, session: AsyncSession, tenants: Sequence[str]) -> dict[str, Any]:
    """Every signing key of ``tenants``' members, revoked ones included (they still verify
    what they signed while valid), as a JWKS: each key with ``kid``, ``alg``, ``use``, its
    holder (``tenant``, ``subject``) and validity window (``not_before`` = registration,
    ``not_after`` = ``revoked_at``, null while valid)."""
    slugs = sorted(set(tenants))
    found = set(
        await session.scalars(
            select(Tenant.slug).where(
                Tenant.slug.in_(slugs), Tenant.status != TenantStatus.PROVISIONING
            )
        )
    )
    unknown = [slug for slug in slugs if slug not in found]
    if unknown:
        raise NotFound(
            f"No tenant {', '.join(repr(s) for s in unknown)}.",
            reason="UNKNOWN_TENANT",
            field="tenant",
        )
    rows = await session.execute(
        select(Member.tenant, Member.subject, MemberKey)
        .join(MemberKey, MemberKey.member == Member.id)
        .where(Member.tenant.in_(slugs))
        .order_by(Member.tenant, Member.subject, MemberKey.created_at, MemberKey.kid)
    )
    keys = [
        {
            **key.jwk,
            "kid": key.kid,
            "alg": key.alg,
            "use": "sig",
            "tenant": tenant,
            "subject": subject,
            "not_before": _instant(key.created_at),
            "not_after": _instant(key.revoked_at),
            "revoked_at": _instant(key.revoked_at),
        }
        for tenant, subject, key in rows
    ]
    return {
        "type": KEY_SET_TYPE,
        "format": KEY_SET_FORMAT,
        "tenants": slugs,
        "published_at": clock.now().isoformat(),
        "keys": keys,
    }
