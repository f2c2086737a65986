"""The browser session: a signed, HttpOnly, SameSite cookie holding the user's token.

The cookie carries the access token the user's own issuer signed; every page request
authenticates it again exactly as ``/graphql`` authenticates a bearer token, so expiry,
a removed member or a deregistered issuer end the session on the next request.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from starlette.requests import HTTPConnection

from accord.platform import clock
from accord.platform.secrets import secret_key
from accord.platform.settings import Settings
from accord.tenants.identity.authenticate import authenticate
from accord.tenants.identity.jwks import JwksCache
from accord.tenants.identity.principal import Principal, PrincipalKind, Unauthenticated

COOKIE = "accord_session"
#: A session ends after this long even if the token lives longer.
LIFETIME = timedelta(hours=8)
_TOKEN, _EXPIRES, _PENDING = "token", "expires", "pending"


def session_secret(settings: Settings) -> str:
    """The cookie-signing key, derived from the platform secret key for this one purpose."""
    key = secret_key(settings, purpose="web sessions")
    return hmac.new(key, b"accord.web.session", hashlib.sha256).hexdigest()


def start(conn: HTTPConnection, *, token: str, principal: Principal) -> None:
    """A fresh session for ``principal`` (nothing of the anonymous one survives)."""
    expires = clock.now() + LIFETIME
    if principal.expires_at is not None:
        expires = min(expires, principal.expires_at)
    conn.session.clear()
    conn.session[_TOKEN] = token
    conn.session[_EXPIRES] = int(expires.timestamp())


def end(conn: HTTPConnection) -> None:
    conn.session.clear()


def remember_pending(conn: HTTPConnection, pending: dict[str, str]) -> None:
    conn.session[_PENDING] = pending


def take_pending(conn: HTTPConnection) -> dict[str, str] | None:
    pending = conn.session.pop(_PENDING, None)
    return pending if isinstance(pending, dict) else None


def expires_at(conn: HTTPConnection) -> datetime | None:
    value = conn.session.get(_EXPIRES)
    return datetime.fromtimestamp(value, tz=clock.now().tzinfo) if isinstance(value, int) else None


async def signed_in(conn: HTTPConnection, jwks: JwksCache) -> Principal | None:
    """The signed-in person, or None (no session, expired, or no longer accepted)."""
    token = conn.session.get(_TOKEN)
    expires = conn.session.get(_EXPIRES)
    if not isinstance(token, str) or not isinstance(expires, int):
        return None
    if clock.now().timestamp() >= expires:
        end(conn)
        return None
    try:
        principal = await authenticate(token=token, runtime=conn.app.state.runtime, jwks=jwks)
    except Unauthenticated:
        end(conn)
        return None
    return principal if principal.kind is PrincipalKind.USER else None
