"""JWKS over real HTTP: caching with Cache-Control, rotation, rate-limited refetch.

Also home of the test identity provider the other identity tests import: real RSA, EC and
Ed25519 keys, a JWKS (and a client-credentials token endpoint) served by uvicorn on a free
127.0.0.1 port, and a tenant that trusts it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from joserfc.jwk import Key

from accord.platform.runtime import Runtime
from accord.tenants.identity import service as identity_service
from accord.tenants.identity.authenticate import authenticate
from accord.tenants.identity.jwks import (
    MIN_TTL,
    JwksCache,
    JwksError,
    max_age,
    parse_jwks,
)
from accord.tenants.identity.principal import Principal, Unauthenticated
from tests.factories.identity import (
    AUDIENCE,
    IdentityServer,
    b64,
    ec_key,
    ed_key,
    name_of,
    public_jwks,
    rsa_key,
    sign,
    trusted_issuer,
)


class FakeClock:
    """A monotonic clock the test moves by hand (JWKS expiry and refetch rate limit)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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
