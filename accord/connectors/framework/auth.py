"""Authenticators: small classes that put credentials on a request (basic, API key, OAuth2).

OAuth2 client credentials is a small httpx implementation rather than authlib's
``AsyncOAuth2Client``: we need the token fetch to go through our own retry policy (a token
endpoint that fails once must not fail the sync) and to share the source's client and
concurrency limit, which authlib's client, owning its own session, does not allow.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from pydantic import SecretStr

#: Sends one request through the source's retry policy: (method, url, data) -> response.
Send = Callable[[str, str, dict[str, str] | None], Awaitable[httpx.Response]]


class Authenticator:
    """No credentials (public endpoints, local files)."""

    async def headers(self, send: Send) -> dict[str, str]:
        return {}

    def invalidate(self) -> None:
        """The source answered 401: forget any cached credential."""


@dataclass
class BasicAuth(Authenticator):
    username: str
    password: SecretStr

    async def headers(self, send: Send) -> dict[str, str]:
        raw = f"{self.username}:{self.password.get_secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@dataclass
class ApiKeyAuth(Authenticator):
    key: SecretStr
    header: str = "APIKey"

    async def headers(self, send: Send) -> dict[str, str]:
        return {self.header: self.key.get_secret_value()}


@dataclass
class OAuth2ClientCredentials(Authenticator):
    token_url: str
    client_id: str
    client_secret: SecretStr
    scope: str | None = None
    #: Refresh this many seconds before the token expires, so no request carries a stale one.
    leeway: float = 30.0
    _token: str | None = field(default=None, repr=False)
    _expires: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def headers(self, send: Send) -> dict[str, str]:
        if self._token is None or time.monotonic() >= self._expires:
            async with self._lock:  # one refresh for all concurrent requests
                if self._token is None or time.monotonic() >= self._expires:
                    await self._fetch(send)
        return {"Authorization": f"Bearer {self._token}"}

    async def _fetch(self, send: Send) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value(),
        }
        if self.scope:
            form["scope"] = self.scope
        body = (await send("POST", self.token_url, form)).json()
        self._token = str(body["access_token"])
        lifetime = float(body.get("expires_in", 3600))
        self._expires = time.monotonic() + max(lifetime - self.leeway, lifetime / 2)

    def invalidate(self) -> None:
        self._token = None
