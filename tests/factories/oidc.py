"""A local OpenID Connect provider on loopback that speaks the real wire formats.

Realms in the Keycloak manner (``/realms/<name>``), each its own issuer with:
- ``/.well-known/openid-configuration`` (OpenID Connect Discovery 1.0),
- ``/protocol/openid-connect/certs``: the JWKS (RFC 7517) with ``Cache-Control``,
- ``/protocol/openid-connect/token``: RFC 6749 token endpoint; ``client_credentials``
  (§4.4, HTTP Basic client authentication) for service accounts and ``password`` (§4.3)
  for members, answering RFC 6749 §5.1 JSON with a JWT access token (RFC 9068 style)
  carrying ``accord:tenant``, as a tenant's IdP is configured to add it.

Keys are signed with joserfc; ``rotate`` adds a key and signs with it from then on.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from accord.tenants.identity.principal import TENANT_CLAIM
from accord.tenants.identity.tokens import _AccordRegistry
from tests.factories.api import served

AUDIENCE = "accord-api"
_KEY_MAKERS = {
    "RS256": lambda kid: RSAKey.generate_key(2048, parameters={"kid": kid}),
    "ES256": lambda kid: ECKey.generate_key("P-256", parameters={"kid": kid}),
    "EdDSA": lambda kid: OKPKey.generate_key("Ed25519", parameters={"kid": kid}),
}


@dataclass
class Realm:
    """One issuer: its keys (the last signs), clients, users and what they belong to."""

    name: str
    base: str
    alg: str = "RS256"
    keys: list[Key] = field(default_factory=list)
    #: client id -> (secret, tenant slug)
    clients: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: username -> (password, tenant slug)
    users: dict[str, tuple[str, str]] = field(default_factory=dict)
    cache_control: str = "public, max-age=600"
    jwks_hits: int = 0
    advertised: list[str] | None = None
    issuer_override: str | None = None

    @property
    def issuer(self) -> str:
        return f"{self.base}/realms/{self.name}"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/certs"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    def rotate(self, *, drop_old: bool = False) -> Key:
        """A new signing key, published at once; with ``drop_old`` the others go."""
        key: Key = _KEY_MAKERS[self.alg](f"{self.name}-{uuid.uuid4().hex[:8]}")
        self.keys = [key] if drop_old else [*self.keys, key]
        return key

    def token(
        self, subject: str, tenant: str, *, ttl: int = 300, key: Key | None = None, **claims: Any
    ) -> str:
        """An access token as the token endpoint issues it."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            TENANT_CLAIM: tenant,
            **claims,
        }
        signer = key or self.keys[-1]
        header = {"alg": self.alg, "kid": signer.kid, "typ": "at+jwt"}
        return jwt.encode(header, body, signer, registry=_AccordRegistry(algorithms=[self.alg]))

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer_override or self.issuer,
            "jwks_uri": self.jwks_uri,
            "token_endpoint": self.token_endpoint,
            "authorization_endpoint": f"{self.issuer}/protocol/openid-connect/auth",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "grant_types_supported": ["client_credentials", "password", "authorization_code"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "id_token_signing_alg_values_supported": self.advertised or [self.alg],
        }


@dataclass
class OidcProvider:
    """The server: realms by name, served on a loopback port."""

    port: int = 0
    realms: dict[str, Realm] = field(default_factory=dict)

    def realm(self, alg: str = "RS256", name: str | None = None) -> Realm:
        realm = Realm(name or f"r{uuid.uuid4().hex[:8]}", f"http://127.0.0.1:{self.port}", alg)
        realm.rotate()
        self.realms[realm.name] = realm
        return realm

    def _find(self, request: Request) -> Realm | None:
        return self.realms.get(request.path_params["realm"])

    async def _discovery(self, request: Request) -> Response:
        realm = self._find(request)
        if realm is None:
            return JSONResponse({"error": "Realm does not exist"}, status_code=404)
        return JSONResponse(realm.discovery())

    async def _certs(self, request: Request) -> Response:
        realm = self._find(request)
        if realm is None:
            return JSONResponse({"error": "Realm does not exist"}, status_code=404)
        realm.jwks_hits += 1
        keys = [{**k.as_dict(private=False), "use": "sig", "alg": realm.alg} for k in realm.keys]
        return JSONResponse({"keys": keys}, headers={"Cache-Control": realm.cache_control})

    async def _token(self, request: Request) -> Response:
        realm = self._find(request)
        if realm is None:
            return JSONResponse({"error": "invalid_request"}, status_code=404)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        grant = form.get("grant_type")
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if grant == "client_credentials":
            scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
            try:
                client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
            except ValueError:
                client_id, secret = "", ""
            known = realm.clients.get(client_id)
            if scheme != "Basic" or known is None or known[0] != secret:
                return JSONResponse({"error": "invalid_client"}, status_code=401, headers=headers)
            token = realm.token(
                client_id, known[1], client_id=client_id, scope=form.get("scope", "")
            )
        elif grant == "password":
            user = realm.users.get(form.get("username", ""))
            if user is None or user[0] != form.get("password"):
                return JSONResponse({"error": "invalid_grant"}, status_code=400, headers=headers)
            token = realm.token(form["username"], user[1], scope=form.get("scope", "openid"))
        else:
            return JSONResponse(
                {"error": "unsupported_grant_type"}, status_code=400, headers=headers
            )
        body = {"access_token": token, "token_type": "Bearer", "expires_in": 300}
        return JSONResponse(body, headers=headers)

    def app(self) -> Starlette:
        prefix = "/realms/{realm}"
        return Starlette(
            routes=[
                Route(f"{prefix}/.well-known/openid-configuration", self._discovery),
                Route(f"{prefix}/protocol/openid-connect/certs", self._certs),
                Route(f"{prefix}/protocol/openid-connect/token", self._token, methods=["POST"]),
            ]
        )


@asynccontextmanager
async def oidc_provider() -> AsyncIterator[OidcProvider]:
    """An ``OidcProvider`` served on loopback for the duration of the block."""
    provider = OidcProvider()
    async with served(provider.app()) as port:
        provider.port = port
        yield provider


async def password_token(realm: Realm, username: str, password: str) -> str:
    """Sign a member in at the realm's token endpoint (RFC 6749 §4.3) over HTTP."""
    async with httpx.AsyncClient() as client:
        response = await client.post(
            realm.token_endpoint,
            data={"grant_type": "password", "username": username, "password": password},
        )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


async def client_credentials_token(realm: Realm, client_id: str, secret: str) -> str:
    """A service account's token from the realm's token endpoint (RFC 6749 §4.4)."""
    async with httpx.AsyncClient() as client:
        response = await client.post(
            realm.token_endpoint,
            data={"grant_type": "client_credentials", "scope": "sync"},
            auth=(client_id, secret),
        )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token
