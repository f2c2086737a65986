"""Identity providers for tests: signing keys, a JWKS server, a tenant's trusted issuer."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from joserfc import jwt
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service
from accord.tenants.identity import service as identity_service
from accord.tenants.identity.principal import TENANT_CLAIM
from accord.tenants.identity.tokens import _AccordRegistry
from accord.tenants.models import Tenant
from accord.tenants.provisioning import create_tenant
from tests.conftest import unique_slug

AUDIENCE = "accord-api"


def rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid})


def ec_key(kid: str) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid})


def ed_key(kid: str) -> OKPKey:
    return OKPKey.generate_key("Ed25519", parameters={"kid": kid})


def public_jwks(*keys: Key) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in keys]}


def sign(
    key: Key, claims: dict[str, Any], *, alg: str, header: dict[str, Any] | None = None
) -> str:
    hdr = {"alg": alg, "kid": key.kid, **(header or {})}
    return jwt.encode(hdr, claims, key, registry=_AccordRegistry(algorithms=[alg]))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class IdentityServer:
    """A tiny IdP per issuer ``/<name>``: its JWKS, OpenID discovery, an authorization
    endpoint (code + PKCE) and a token endpoint (client credentials or that code)."""

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    cache_control: dict[str, str] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    signers: dict[str, tuple[Key, str, str]] = field(default_factory=dict)
    clients: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: who signs in at an issuer's authorization endpoint: name -> (subject, tenant)
    people: dict[str, tuple[str, str]] = field(default_factory=dict)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    port: int = 0

    def base(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def jwks_url(self, name: str) -> str:
        return f"{self.base(name)}/jwks.json"

    async def _jwks(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.hits[name] = self.hits.get(name, 0) + 1
        status = self.status.get(name, 200)
        if status != 200 or name not in self.documents:
            return Response("unavailable", status_code=status if status != 200 else 404)
        headers = {"Cache-Control": self.cache_control.get(name, "public, max-age=600")}
        return JSONResponse(self.documents[name], headers=headers)

    async def _discovery(self, request: Request) -> Response:
        base = self.base(request.path_params["name"])
        return JSONResponse(
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "jwks_uri": f"{base}/jwks.json",
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def _authorize(self, request: Request) -> Response:
        """OIDC authorization endpoint: the person of ``people[name]`` has signed in here and
        consents at once; a code bound to the PKCE challenge goes back to the client."""
        name, query = request.path_params["name"], request.query_params
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = uuid.uuid4().hex
        self.codes[code] = {
            "name": name,
            "challenge": query["code_challenge"],
            "redirect_uri": query["redirect_uri"],
            "client_id": query["client_id"],
        }
        target = f"{query['redirect_uri']}?code={code}&state={query['state']}"
        return Response(status_code=302, headers={"location": target})

    def _code_grant(self, form: dict[str, str]) -> Response:
        grant = self.codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        challenge = b64(hashlib.sha256(verifier.encode()).digest())
        if (
            grant is None
            or grant["redirect_uri"] != form.get("redirect_uri")
            or grant["client_id"] != form.get("client_id")
            or grant["challenge"] != challenge
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        key, alg, issuer = self.signers[grant["name"]]
        subject, tenant = self.people[grant["name"]]
        now = int(time.time())
        claims = {
            "iss": issuer,
            "sub": subject,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 300,
            TENANT_CLAIM: tenant,
        }
        token = sign(key, claims, alg=alg)
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": 300})

    async def _token(self, request: Request) -> Response:
        # RFC 6749 §4.4 client credentials, client authenticated with HTTP Basic; or §4.1
        # authorization code with PKCE (RFC 7636) for a public client.
        name = request.path_params["name"]
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") == "authorization_code":
            return self._code_grant(form)
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        client_id, _, secret = base64.b64decode(encoded or "Og==").decode().partition(":")
        if form.get("grant_type") != "client_credentials" or scheme != "Basic":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if self.clients.get(client_id, ("", ""))[0] != secret:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        key, alg, issuer = self.signers[name]
        now = int(time.time())
        claims = {
            "iss": issuer,
            "sub": client_id,
            "client_id": client_id,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 300,
            "scope": str(form.get("scope", "")),
            TENANT_CLAIM: self.clients[client_id][1],
        }
        token = sign(key, claims, alg=alg)
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": 300})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/{name}/jwks.json", self._jwks),
                Route("/{name}/token", self._token, methods=["POST"]),
                Route("/{name}/.well-known/openid-configuration", self._discovery),
                Route("/{name}/authorize", self._authorize),
            ]
        )


@dataclass
class TrustedIssuer:
    """A tenant with one member, trusting one issuer served by ``IdentityServer``."""

    tenant: Tenant
    issuer: str
    keys: list[Key]
    member: str = "alice@example.com"
    roles: tuple[str, ...] = ("quality_manager", "viewer")

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self.member,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            TENANT_CLAIM: self.tenant.slug,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}


async def trusted_issuer(
    runtime: Runtime,
    idp: IdentityServer,
    keys: Iterable[Key],
    *,
    algorithms: Collection[str],
    label: str = "id",
) -> TrustedIssuer:
    keys = list(keys)
    name = f"idp-{uuid.uuid4().hex[:8]}"
    idp.documents[name] = public_jwks(*keys)
    tenant = await create_tenant(
        runtime, slug=unique_slug(label), legal_name="Identity Ltd", jurisdiction="DE", store="home"
    )
    trusted = TrustedIssuer(tenant=tenant, issuer=idp.base(name), keys=keys)
    async with runtime.control_session() as session:
        await tenant_service.add_member(
            session=session,
            tenant=tenant,
            subject=trusted.member,
            display_name="Alice",
            roles=trusted.roles,
        )
        await identity_service.register_provider(
            session=session,
            tenant=tenant,
            issuer=trusted.issuer,
            audience=AUDIENCE,
            jwks_url=idp.jwks_url(name),
            algorithms=algorithms,
        )
    return trusted


def name_of(trusted: TrustedIssuer) -> str:
    return trusted.issuer.rsplit("/", 1)[1]
