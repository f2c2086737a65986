"""JWKS over real HTTP: caching with Cache-Control, rotation, rate-limited refetch.

Also home of the test identity provider the other identity tests import: real RSA, EC and
Ed25519 keys, a JWKS (and a client-credentials token endpoint) served by uvicorn on a free
127.0.0.1 port, and a tenant that trusts it.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import time
import uuid
from collections.abc import AsyncIterator, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
import uvicorn
from joserfc import jwt
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service
from accord.tenants.identity import service as identity_service
from accord.tenants.identity.authenticate import authenticate
from accord.tenants.identity.jwks import (
    MIN_TTL,
    JwksCache,
    JwksError,
    max_age,
    parse_jwks,
)
from accord.tenants.identity.principal import TENANT_CLAIM, Principal, Unauthenticated
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


class FakeClock:
    """A monotonic clock the test moves by hand (JWKS expiry and refetch rate limit)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class IdentityServer:
    """A tiny IdP: ``/<name>/jwks.json`` per issuer and a client-credentials ``/<name>/token``."""

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    cache_control: dict[str, str] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    signers: dict[str, tuple[Key, str, str]] = field(default_factory=dict)
    clients: dict[str, tuple[str, str]] = field(default_factory=dict)
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

    async def _token(self, request: Request) -> Response:
        # RFC 6749 §4.4 client credentials, client authenticated with HTTP Basic.
        name = request.path_params["name"]
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
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
            ]
        )


@pytest.fixture(scope="session")
async def idp() -> AsyncIterator[IdentityServer]:
    server_state = IdentityServer()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server_state.port = sock.getsockname()[1]
    config = uvicorn.Config(
        server_state.app(), lifespan="off", ws="none", http="h11", log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "the test IdP did not start"
    yield server_state
    server.should_exit = True
    await task
    sock.close()


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


async def refused(coro: Any) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as caught:
        await coro
    return caught.value


# --- the tests of this module -------------------------------------------------------------


def test_parse_jwks_refuses_private_symmetric_and_empty_sets() -> None:
    private = ed_key("p").as_dict(private=True)
    with pytest.raises(JwksError, match="private"):
        parse_jwks({"keys": [private]})
    with pytest.raises(JwksError, match="Symmetric"):
        parse_jwks({"keys": [{"kty": "oct", "k": b64(b"secret")}]})
    bad: object
    for bad in ({}, {"keys": []}, {"keys": ["x"]}, [], "keys"):
        with pytest.raises(JwksError):
            parse_jwks(bad)
    assert [k.kid for k in parse_jwks(public_jwks(rsa_key("a"), ec_key("b")))] == ["a", "b"]


def test_cache_control_max_age_is_honoured_within_bounds() -> None:
    assert max_age(None) == 600
    assert max_age("public, max-age=120") == 120
    assert max_age("max-age=0") == MIN_TTL
    assert max_age("no-store") == MIN_TTL
    assert max_age("max-age=99999999") == 86400
    assert max_age("private") == 600


async def test_jwks_is_cached_for_max_age_then_fetched_again(
    runtime: Runtime, idp: IdentityServer
) -> None:
    key = rsa_key("k1")
    trusted = await trusted_issuer(runtime, idp, [key], algorithms=["RS256"])
    idp.cache_control[name_of(trusted)] = "public, max-age=120"
    clock = FakeClock()
    cache = JwksCache(clock=clock)

    async def ok() -> Principal:
        return await authenticate(
            token=sign(key, trusted.claims(), alg="RS256"), runtime=runtime, jwks=cache
        )

    await ok()
    await ok()
    clock.advance(119)
    await ok()
    assert idp.hits[name_of(trusted)] == 1
    clock.advance(2)
    await ok()
    assert idp.hits[name_of(trusted)] == 2


async def test_rotation_new_kid_is_accepted_after_one_rate_limited_refetch(
    runtime: Runtime, idp: IdentityServer
) -> None:
    key_a, key_b = rsa_key("key-a"), ec_key("key-b")
    trusted = await trusted_issuer(runtime, idp, [key_a], algorithms=["RS256", "ES256"])
    name = name_of(trusted)
    clock = FakeClock()
    cache = JwksCache(clock=clock)

    async def auth(key: Key, alg: str) -> Principal:
        token = sign(key, trusted.claims(), alg=alg)
        return await authenticate(token=token, runtime=runtime, jwks=cache)

    assert (await auth(key_a, "RS256")).subject == trusted.member
    assert idp.hits[name] == 1

    idp.documents[name] = public_jwks(key_b)  # the issuer rotates A out, B in
    clock.advance(5)
    # Within 30 s of the last fetch the unknown kid may not trigger a fetch.
    assert (await refused(auth(key_b, "ES256"))).reason == "UNKNOWN_KID"
    assert idp.hits[name] == 1
    # A still verifies from the cache until it expires.
    assert (await auth(key_a, "RS256")).subject == trusted.member

    clock.advance(30)
    principal = await auth(key_b, "ES256")
    assert principal.subject == trusted.member
    assert idp.hits[name] == 2  # exactly one refetch
    assert (await refused(auth(key_a, "RS256"))).reason == "UNKNOWN_KID"
    assert idp.hits[name] == 2


async def test_unknown_kid_causes_at_most_one_refetch_per_interval(
    runtime: Runtime, idp: IdentityServer
) -> None:
    key = rsa_key("real")
    trusted = await trusted_issuer(runtime, idp, [key], algorithms=["RS256"])
    name = name_of(trusted)
    clock = FakeClock()
    cache = JwksCache(clock=clock)
    stranger = rsa_key("invented")
    await authenticate(token=sign(key, trusted.claims(), alg="RS256"), runtime=runtime, jwks=cache)
    assert idp.hits[name] == 1
    clock.advance(31)
    for _ in range(5):
        token = sign(stranger, trusted.claims(), alg="RS256")
        assert (await refused(authenticate(token=token, runtime=runtime, jwks=cache))).reason == (
            "UNKNOWN_KID"
        )
    assert idp.hits[name] == 2
    clock.advance(31)
    tokens = [sign(stranger, trusted.claims(), alg="RS256") for _ in range(5)]
    results = await asyncio.gather(
        *(authenticate(token=t, runtime=runtime, jwks=cache) for t in tokens),
        return_exceptions=True,
    )
    assert all(isinstance(r, Unauthenticated) and r.reason == "UNKNOWN_KID" for r in results)
    assert idp.hits[name] == 3


async def test_unreachable_issuer_uses_stale_keys_then_fails(
    runtime: Runtime, idp: IdentityServer
) -> None:
    key = ed_key("ed")
    trusted = await trusted_issuer(runtime, idp, [key], algorithms=["Ed25519"])
    name = name_of(trusted)
    clock = FakeClock()
    cache = JwksCache(clock=clock)

    async def auth() -> Principal:
        token = sign(key, trusted.claims(), alg="Ed25519")
        return await authenticate(token=token, runtime=runtime, jwks=cache)

    await auth()
    idp.status[name] = 503
    clock.advance(601)  # expired: the fetch fails, the stale keys still verify
    assert (await auth()).subject == trusted.member
    clock.advance(3600)
    assert (await refused(auth())).reason == "JWKS_UNAVAILABLE"
    hits = idp.hits[name]
    assert (await refused(auth())).reason == "JWKS_UNAVAILABLE"
    assert idp.hits[name] == hits  # a failing issuer is not asked again at once


async def test_same_issuer_name_with_another_url_does_not_share_keys(
    runtime: Runtime, idp: IdentityServer
) -> None:
    honest, evil = rsa_key("same-kid"), rsa_key("same-kid")
    victim = await trusted_issuer(runtime, idp, [honest], algorithms=["RS256"], label="victim")
    attacker = await trusted_issuer(runtime, idp, [evil], algorithms=["RS256"], label="evil")
    async with runtime.control_session() as session:
        # The attacker's tenant registers the victim's issuer name with its own key URL.
        await identity_service.register_provider(
            session=session,
            tenant=attacker.tenant,
            issuer=victim.issuer,
            audience=AUDIENCE,
            jwks_url=idp.jwks_url(name_of(attacker)),
            algorithms=["RS256"],
        )
    cache = JwksCache()
    # Warm the cache with the attacker's keys under the victim's issuer name.
    attacker_token = sign(evil, attacker.claims(iss=victim.issuer), alg="RS256")
    principal = await authenticate(token=attacker_token, runtime=runtime, jwks=cache)
    assert principal.tenant == attacker.tenant.slug
    forged = sign(evil, victim.claims(), alg="RS256")
    assert (await refused(authenticate(token=forged, runtime=runtime, jwks=cache))).reason == (
        "BAD_SIGNATURE"
    )
    real = sign(honest, victim.claims(), alg="RS256")
    assert (await authenticate(token=real, runtime=runtime, jwks=cache)).tenant == (
        victim.tenant.slug
    )
