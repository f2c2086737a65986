"""Bearer JWTs: read the header and claims before trusting them, then verify with joserfc.

Reading first is unavoidable (the claimed tenant and issuer say which keys to use), so
nothing read here is trusted until ``verify`` has checked the signature with a key from
the JWKS registered for that issuer, using only allow-listed asymmetric algorithms.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from joserfc import jws
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwa import EdDSAAlgorithm, JWSAlgModel
from joserfc.jwk import Key, KeySet, RSAKey
from joserfc.jws import JWSRegistry
from joserfc.jwt import JWTClaimsRegistry

from accord.tenants.identity.principal import Unauthenticated

# Asymmetric only: with HS* a verifier holding the issuer's public key could be fooled into
# using it as an HMAC secret, and "none" needs no key at all. "Ed25519" is RFC 9864's
# fully-specified name for what older issuers still call "EdDSA".
ALLOWED_ALGORITHMS: tuple[str, ...] = ("RS256", "PS256", "ES256", "EdDSA", "Ed25519")
LEEWAY_SECONDS = 60
MAX_TOKEN_LENGTH = 8192
MIN_RSA_BITS = 2048


class _EdDSA(EdDSAAlgorithm):
    # joserfc warns on every use of the deprecated name; issuers still send it, and a
    # warning per request would be noise (and an error under pytest's -W error).
    security_warning = None  # type: ignore[assignment]


class _AccordRegistry(JWSRegistry):
    """A JWS registry that knows only Accord's allow-listed algorithms.

    An own ``algorithms`` dict means a forgotten ``algorithms=`` argument can never fall
    back to joserfc's wider defaults; an empty ``recommended`` list refuses everything then.
    """

    algorithms: ClassVar[dict[str, JWSAlgModel]] = {  # type: ignore[misc]
        **{n: a for n, a in JWSRegistry.algorithms.items() if n in ALLOWED_ALGORITHMS},
        "EdDSA": _EdDSA(),
    }
    recommended: ClassVar[list[str]] = []  # type: ignore[misc]


class UnknownKeyId(Unauthenticated):
    """The token names a key the cached JWKS does not have (maybe rotated in since)."""

    def __init__(self) -> None:
        super().__init__("UNKNOWN_KID")


@dataclass(frozen=True, slots=True)
class UnverifiedToken:
    """Header and claims of a token whose signature has not been checked yet."""

    raw: bytes
    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    _compact: jws.CompactSignature

    @property
    def alg(self) -> str:
        return str(self.header["alg"])

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None

    def text_claim(self, name: str) -> str | None:
        value = self.claims.get(name)
        return value if isinstance(value, str) and value else None


def read_unverified(token: str) -> UnverifiedToken:
    """Parse a compact JWS without verifying it; refuse what can never be valid."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise Unauthenticated("TOKEN_TOO_LARGE")
    raw = token.strip().encode("ascii", errors="replace")
    parts = raw.split(b".")
    if len(parts) != 3 or not parts[0]:
        raise Unauthenticated("MALFORMED_TOKEN")
    try:
        compact = jws.extract_compact(raw)
        claims = json.loads(compact.payload) if parts[1] else None
    except (JoseError, ValueError, TypeError):
        raise Unauthenticated("MALFORMED_TOKEN") from None
    header = compact.headers()
    # The algorithm is judged first, so "none" and HS* are named as such in the log.
    if header.get("alg") not in ALLOWED_ALGORITHMS:
        raise Unauthenticated("ALGORITHM_NOT_ALLOWED")
    if not isinstance(claims, dict) or not parts[2]:
        raise Unauthenticated("MALFORMED_TOKEN")
    if "b64" in header:
        # RFC 7797 unencoded payloads are not JWTs; refuse rather than interpret them.
        raise Unauthenticated("MALFORMED_TOKEN")
    return UnverifiedToken(raw=raw, header=header, claims=claims, _compact=compact)


def select_key(token: UnverifiedToken, keys: KeySet) -> Key:
    """The key the token names by ``kid`` (or the only fitting key when it names none)."""
    alg = _AccordRegistry.algorithms[token.alg]
    if token.kid is not None:
        candidates = [k for k in keys if k.kid == token.kid]
        if not candidates:
            raise UnknownKeyId()
    else:
        candidates = [k for k in keys if k.key_type == alg.key_type]
        if len(candidates) != 1:
            raise Unauthenticated("KID_REQUIRED")
    key = candidates[0]
    if key.key_type != alg.key_type:
        raise Unauthenticated("KEY_TYPE_MISMATCH")
    if key.get("use") not in (None, "sig") or key.get("alg") not in (None, token.alg):
        raise Unauthenticated("KEY_USE_MISMATCH")
    if isinstance(key, RSAKey):
        public = key.get_op_key("verify")
        if isinstance(public, RSAPublicKey) and public.key_size < MIN_RSA_BITS:
            raise Unauthenticated("WEAK_KEY")
    return key


def verify(
    token: UnverifiedToken,
    *,
    keys: KeySet,
    algorithms: Collection[str],
    issuer: str,
    audience: str,
    now: datetime,
) -> dict[str, Any]:
    """Check signature and registered claims; return the claims, now trusted."""
    allowed = [a for a in algorithms if a in ALLOWED_ALGORITHMS]
    if token.alg not in allowed:
        raise Unauthenticated("ALGORITHM_NOT_ALLOWED_FOR_ISSUER")
    key = select_key(token, keys)
    registry = _AccordRegistry(algorithms=allowed, strict_check_header=False)
    try:
        valid = jws.validate_compact(token._compact, key, registry=registry)
    except BadSignatureError:
        valid = False
    except JoseError:
        raise Unauthenticated("BAD_SIGNATURE") from None
    if not valid:
        raise Unauthenticated("BAD_SIGNATURE")
    claims = dict(token.claims)
    check_claims(claims, issuer=issuer, audience=audience, now=now)
    return claims


_CLAIM_REASONS = {
    "iss": "WRONG_ISSUER",
    "aud": "WRONG_AUDIENCE",
    "nbf": "TOKEN_NOT_YET_VALID",
    "iat": "ISSUED_IN_THE_FUTURE",
    "exp": "BAD_EXPIRY",
    "sub": "BAD_SUBJECT",
}


def check_claims(claims: dict[str, Any], *, issuer: str, audience: str, now: datetime) -> None:
    registry = JWTClaimsRegistry(
        now=int(now.timestamp()),
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        sub={"essential": True},
    )
    try:
        registry.validate(claims)
    except MissingClaimError as exc:
        raise Unauthenticated(f"MISSING_CLAIM_{exc.claim.upper().replace(',', '_')}") from None
    except ExpiredTokenError:
        raise Unauthenticated("TOKEN_EXPIRED") from None
    except InvalidClaimError as exc:
        raise Unauthenticated(_CLAIM_REASONS.get(exc.claim, "INVALID_CLAIM")) from None


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """OAuth2 ``scope`` (space-separated) or the ``scp`` list some issuers send instead."""
    scope = claims.get("scope")
    if isinstance(scope, str):
        return frozenset(scope.split())
    scp = claims.get("scp")
    if isinstance(scp, list):
        return frozenset(s for s in scp if isinstance(s, str))
    return frozenset()
