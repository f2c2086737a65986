"""Issuers' public keys (JWKS): parsed strictly, fetched over HTTP with httpx, cached.

The cache is keyed by (issuer, JWKS URL), never by issuer alone: two tenants may register
the same issuer name with different URLs, and one tenant's URL must never decide which
keys verify another tenant's tokens.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import KeySet

from accord.tenants.identity.principal import Unauthenticated

log = logging.getLogger("accord.identity")

DEFAULT_TTL = 600.0
MIN_TTL = 30.0
MAX_TTL = 86400.0
REFETCH_INTERVAL = 30.0
# Keys from an expired entry still verify for this long if the issuer is unreachable, so
# an IdP outage does not lock every user out; a rotation is picked up once it answers.
STALE_GRACE = 3600.0
MAX_JWKS_BYTES = 512 * 1024
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


class JwksError(ValueError):
    """A JWKS document that Accord refuses to use; the message says why."""


def has_private_members(jwk: Mapping[str, Any]) -> bool:
    return bool(PRIVATE_MEMBERS & set(jwk))


def parse_jwks(document: object) -> KeySet:
    """A key set of public signature keys, or ``JwksError``.

    Symmetric keys are refused (Accord verifies only asymmetric signatures) and so is any
    private key material: a published private key means anyone can mint tokens.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError('A JWKS is a JSON object with a "keys" list.')
    keys = document["keys"]
    if not keys or not all(isinstance(k, dict) for k in keys):
        raise JwksError("A JWKS needs at least one key, each a JSON object.")
    for key in keys:
        if key.get("kty") == "oct":
            raise JwksError("Symmetric (oct) keys are not accepted.")
        if has_private_members(key):
            raise JwksError("The JWKS contains private key material.")
    try:
        with warnings.catch_warnings():
            # joserfc only warns about RSA keys under 2048 bits; Accord refuses tokens
            # signed with one (``tokens.select_key``: WEAK_KEY), whatever the warning filter.
            warnings.simplefilter("ignore", SecurityWarning)
            return KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError) as exc:
        raise JwksError(f"Not a usable JWKS: {exc}") from None


def max_age(cache_control: str | None, default: float = DEFAULT_TTL) -> float:
    """Seconds to keep a JWKS: the server's ``max-age``, clamped to [30 s, 24 h].

    The floor stops an issuer's ``max-age=0`` (or ``no-store``) from turning every request
    into a fetch; the ceiling bounds how long a removed key keeps verifying.
    """
    if cache_control is None:
        return default
    if "no-store" in cache_control.lower() or "no-cache" in cache_control.lower():
        return MIN_TTL
    found = _MAX_AGE.search(cache_control)
    seconds = float(found.group(1)) if found else default
    return min(max(seconds, MIN_TTL), MAX_TTL)


@dataclass(slots=True)
class _Entry:
    keys: KeySet | None = None
    expires_at: float = 0.0
    last_attempt: float | None = None


class JwksCache:
    """Per-(issuer, URL) JWKS cache; one per process (the middleware owns it).

    ``fetches`` counts HTTP fetches per key, for tests and metrics.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 5.0,
        refetch_interval: float = REFETCH_INTERVAL,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._clock = clock
        self._timeout = timeout
        self._refetch_interval = refetch_interval
        self._transport = transport
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.fetches: dict[tuple[str, str], int] = {}

    async def keys(self, *, issuer: str, url: str) -> KeySet:
        """Cached keys, fetched when missing or expired (stale ones if the issuer is down)."""
        key = (issuer, url)
        entry = self._entries.get(key)
        if entry is not None and entry.keys is not None and self._clock() < entry.expires_at:
            return entry.keys
        async with self._lock(key):
            entry = self._entries.setdefault(key, _Entry())
            now = self._clock()
            if entry.keys is not None and now < entry.expires_at:
                return entry.keys
            if not self._may_fetch(entry, now):
                return self._stale_or_fail(entry, now, issuer)
            if await self._fetch(key, entry):
                assert entry.keys is not None
                return entry.keys
            return self._stale_or_fail(entry, now, issuer)

    async def refetch(self, *, issuer: str, url: str) -> KeySet | None:
        """Fetch again because a token named an unknown ``kid`` (a key rotated in).

        At most once per ``refetch_interval`` per (issuer, URL) — counting every fetch —
        so that tokens with invented kids cannot make Accord hammer the issuer.
        Returns None when rate-limited or the fetch failed.
        """
        key = (issuer, url)
        async with self._lock(key):
            entry = self._entries.setdefault(key, _Entry())
            if not self._may_fetch(entry, self._clock()):
                log.info("JWKS refetch for %r rate-limited", issuer)
                return None
            return entry.keys if await self._fetch(key, entry) else None

    def _lock(self, key: tuple[str, str]) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def _may_fetch(self, entry: _Entry, now: float) -> bool:
        return entry.last_attempt is None or now - entry.last_attempt >= self._refetch_interval

    def _stale_or_fail(self, entry: _Entry, now: float, issuer: str) -> KeySet:
        if entry.keys is not None and now < entry.expires_at + STALE_GRACE:
            log.warning("using stale JWKS of %r: the issuer did not answer", issuer)
            return entry.keys
        raise Unauthenticated("JWKS_UNAVAILABLE")

    async def _fetch(self, key: tuple[str, str], entry: _Entry) -> bool:
        issuer, url = key
        entry.last_attempt = self._clock()
        self.fetches[key] = self.fetches.get(key, 0) + 1
        try:
            async with (
                httpx.AsyncClient(
                    timeout=self._timeout, follow_redirects=False, transport=self._transport
                ) as client,
                client.stream("GET", url, headers={"Accept": "application/json"}) as response,
            ):
                response.raise_for_status()
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_JWKS_BYTES:
                        raise JwksError("JWKS document too large")
                keys = parse_jwks(_json(bytes(body)))
                ttl = max_age(response.headers.get("cache-control"))
        except (httpx.HTTPError, JwksError) as exc:
            log.warning("JWKS fetch for %r from %s failed: %s", issuer, url, exc)
            return False
        entry.keys = keys
        entry.expires_at = self._clock() + ttl
        return True


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise JwksError("JWKS is not JSON") from None
