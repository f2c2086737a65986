"""One test per attack on bearer tokens; each must end in UNAUTHENTICATED, saying nothing.

The precise reason is asserted through ``exc.reason`` (and the INFO log); the message and
the serialised error are the same generic text for every attack.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from joserfc.errors import SecurityWarning
from joserfc.jwk import RSAKey

from accord.platform.errors import ErrorCode
from accord.platform.runtime import Runtime
from accord.tenants.identity import service as identity_service
from accord.tenants.identity.authenticate import authenticate
from accord.tenants.identity.jwks import JwksCache
from accord.tenants.identity.principal import GENERIC_MESSAGE, TENANT_CLAIM, Unauthenticated
from accord.tenants.provisioning import suspend_tenant
from tests.factories.identity import (
    IdentityServer,
    TrustedIssuer,
    b64,
    ec_key,
    name_of,
    public_jwks,
    rsa_key,
    sign,
    trusted_issuer,
)

RSA = rsa_key("rsa-1")
CACHE = JwksCache()


@pytest.fixture(scope="module")
async def trusted(runtime: Runtime, idp: IdentityServer) -> TrustedIssuer:
    return await trusted_issuer(runtime, idp, [RSA], algorithms=["RS256"], label="atk")


async def reason_for(token: str, runtime: Runtime) -> str:
    with pytest.raises(Unauthenticated) as caught:
        await authenticate(token=token, runtime=runtime, jwks=CACHE)
    exc = caught.value
    assert exc.code == ErrorCode.UNAUTHENTICATED
    assert exc.message == GENERIC_MESSAGE
    assert exc.as_dict() == {
        "code": "UNAUTHENTICATED",
        "reason": "UNAUTHENTICATED",
        "message": GENERIC_MESSAGE,
    }
    return exc.reason


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(claims).encode())
    return f"{head}.{body}.{b64(signature)}"


async def test_the_honest_token_is_accepted(trusted: TrustedIssuer, runtime: Runtime) -> None:
    principal = await authenticate(
        token=sign(RSA, trusted.claims(), alg="RS256"), runtime=runtime, jwks=CACHE
    )
    assert principal.subject == trusted.member


async def test_alg_none(trusted: TrustedIssuer, runtime: Runtime) -> None:
    token = unsigned({"alg": "none", "typ": "JWT"}, trusted.claims())
    assert await reason_for(token, runtime) == "ALGORITHM_NOT_ALLOWED"
    token = unsigned({"alg": "none", "typ": "JWT"}, trusted.claims())[:-1]  # no third part
    assert await reason_for(token, runtime) == "MALFORMED_TOKEN"


async def test_hs256_signed_with_the_issuers_public_key(
    trusted: TrustedIssuer, runtime: Runtime
) -> None:
    public_pem = RSA.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": RSA.kid}
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(trusted.claims()).encode())
    mac = hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert await reason_for(f"{head}.{body}.{b64(mac)}", runtime) == "ALGORITHM_NOT_ALLOWED"
    # The public JWK's modulus as the secret fares no better.
    jwk_secret = json.dumps(RSA.as_dict(private=False)).encode()
    mac = hmac.new(jwk_secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert await reason_for(f"{head}.{body}.{b64(mac)}", runtime) == "ALGORITHM_NOT_ALLOWED"


async def test_algorithm_the_issuer_did_not_register(
    trusted: TrustedIssuer, runtime: Runtime
) -> None:
    token = sign(RSA, trusted.claims(), alg="PS256")
    assert await reason_for(token, runtime) == "ALGORITHM_NOT_ALLOWED_FOR_ISSUER"


async def test_wrong_issuer(trusted: TrustedIssuer, runtime: Runtime) -> None:
    token = sign(RSA, trusted.claims(iss="https://evil.example"), alg="RS256")
    assert await reason_for(token, runtime) == "ISSUER_NOT_REGISTERED"


async def test_registered_issuer_but_attackers_key(
    trusted: TrustedIssuer, runtime: Runtime
) -> None:
    impostor = rsa_key(str(RSA.kid))  # same kid, different key
    assert await reason_for(sign(impostor, trusted.claims(), alg="RS256"), runtime) == (
        "BAD_SIGNATURE"
    )


async def test_issuer_registered_for_another_tenant(
    trusted: TrustedIssuer, runtime: Runtime, idp: IdentityServer
) -> None:
    # The attacker's tenant trusts the attacker's IdP; the token claims the victim tenant.
    evil_key = ec_key("evil")
    attacker = await trusted_issuer(runtime, idp, [evil_key], algorithms=["ES256"], label="ev")
    claims = trusted.claims(iss=attacker.issuer)
    assert await reason_for(sign(evil_key, claims, alg="ES256"), runtime) == (
        "ISSUER_NOT_REGISTERED"
    )


async def test_wrong_audience(trusted: TrustedIssuer, runtime: Runtime) -> None:
    token = sign(RSA, trusted.claims(aud="some-other-api"), alg="RS256")
    assert await reason_for(token, runtime) == "WRONG_AUDIENCE"


async def test_expired(trusted: TrustedIssuer, runtime: Runtime) -> None:
    now = int(time.time())
    token = sign(RSA, trusted.claims(iat=now - 7200, exp=now - 3600), alg="RS256")
    assert await reason_for(token, runtime) == "TOKEN_EXPIRED"
    within_leeway = sign(RSA, trusted.claims(exp=now - 30), alg="RS256")
    await authenticate(token=within_leeway, runtime=runtime, jwks=CACHE)


async def test_not_yet_valid(trusted: TrustedIssuer, runtime: Runtime) -> None:
    now = int(time.time())
    token = sign(RSA, trusted.claims(nbf=now + 3600), alg="RS256")
    assert await reason_for(token, runtime) == "TOKEN_NOT_YET_VALID"
    token = sign(RSA, trusted.claims(iat=now + 3600), alg="RS256")
    assert await reason_for(token, runtime) == "ISSUED_IN_THE_FUTURE"
    within_leeway = sign(RSA, trusted.claims(nbf=now + 30, iat=now + 30), alg="RS256")
    await authenticate(token=within_leeway, runtime=runtime, jwks=CACHE)


async def test_unknown_kid(trusted: TrustedIssuer, runtime: Runtime) -> None:
    token = sign(rsa_key("nobody-knows-me"), trusted.claims(), alg="RS256")
    assert await reason_for(token, runtime) == "UNKNOWN_KID"


async def test_tampered_payload(trusted: TrustedIssuer, runtime: Runtime) -> None:
    head, _, signature = sign(RSA, trusted.claims(), alg="RS256").split(".")
    forged = b64(json.dumps(trusted.claims(sub="admin@example.com")).encode())
    assert await reason_for(f"{head}.{forged}.{signature}", runtime) == "BAD_SIGNATURE"
    head, body, signature = sign(RSA, trusted.claims(), alg="RS256").split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert await reason_for(f"{head}.{body}.{flipped}", runtime) == "BAD_SIGNATURE"


async def test_header_swapped_to_another_algorithm(
    trusted: TrustedIssuer, runtime: Runtime
) -> None:
    _, body, signature = sign(RSA, trusted.claims(), alg="RS256").split(".")
    head = b64(json.dumps({"alg": "ES256", "kid": RSA.kid}).encode())
    assert await reason_for(f"{head}.{body}.{signature}", runtime) in (
        "ALGORITHM_NOT_ALLOWED_FOR_ISSUER",
        "KEY_TYPE_MISMATCH",
    )


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "garbage",
        "a.b.c",
        "%%%.%%%.%%%",
        "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln",
        "\u00e9.\u00e9.\u00e9",
    ],
)
async def test_garbage(garbage: str, runtime: Runtime) -> None:
    assert await reason_for(garbage, runtime) == "MALFORMED_TOKEN"


async def test_missing_header_or_segments(trusted: TrustedIssuer, runtime: Runtime) -> None:
    head, body, signature = sign(RSA, trusted.claims(), alg="RS256").split(".")
    for broken in (
        f"{body}.{signature}",
        f".{body}.{signature}",
        f"{head}.{body}",
        f"{head}..{signature}",
        f"{head}.{body}.{signature}.{signature}",
    ):
        assert await reason_for(broken, runtime) == "MALFORMED_TOKEN"
    no_alg = b64(json.dumps({"typ": "JWT", "kid": RSA.kid}).encode())
    assert await reason_for(f"{no_alg}.{body}.{signature}", runtime) == "MALFORMED_TOKEN"


@pytest.mark.parametrize("claim", ["exp", "aud", "iss", "sub"])
async def test_missing_registered_claim(
    claim: str, trusted: TrustedIssuer, runtime: Runtime
) -> None:
    claims = trusted.claims()
    del claims[claim]
    assert await reason_for(sign(RSA, claims, alg="RS256"), runtime) == (
        f"MISSING_CLAIM_{claim.upper()}"
    )


async def test_missing_tenant_claim_is_not_a_tenant_token(
    trusted: TrustedIssuer, runtime: Runtime
) -> None:
    claims = trusted.claims()
    del claims[TENANT_CLAIM]
    # Without the tenant claim only a platform issuer could vouch for it: there is none here.
    assert await reason_for(sign(RSA, claims, alg="RS256"), runtime) == "ISSUER_NOT_REGISTERED"


async def test_unknown_tenant_and_unknown_subject(trusted: TrustedIssuer, runtime: Runtime) -> None:
    token = sign(RSA, trusted.claims(**{TENANT_CLAIM: "tst_nobody"}), alg="RS256")
    assert await reason_for(token, runtime) == "TENANT_NOT_ACTIVE"
    token = sign(RSA, trusted.claims(sub="mallory@example.com"), alg="RS256")
    assert await reason_for(token, runtime) == "UNKNOWN_SUBJECT"


async def test_suspended_tenant(runtime: Runtime, idp: IdentityServer) -> None:
    key = rsa_key("s")
    suspended = await trusted_issuer(runtime, idp, [key], algorithms=["RS256"], label="susp")
    await suspend_tenant(runtime, slug=suspended.tenant.slug)
    token = sign(key, suspended.claims(), alg="RS256")
    assert await reason_for(token, runtime) == "TENANT_NOT_ACTIVE"


async def test_removed_issuer_is_no_longer_trusted(runtime: Runtime, idp: IdentityServer) -> None:
    key = rsa_key("r")
    removed = await trusted_issuer(runtime, idp, [key], algorithms=["RS256"], label="rm")
    token = sign(key, removed.claims(), alg="RS256")
    await authenticate(token=token, runtime=runtime, jwks=CACHE)
    async with runtime.control_session() as session:
        await identity_service.remove_provider(
            session=session, tenant=removed.tenant, issuer=removed.issuer
        )
    assert await reason_for(token, runtime) == "ISSUER_NOT_REGISTERED"


async def test_oversized_token(trusted: TrustedIssuer, runtime: Runtime) -> None:
    token = sign(RSA, trusted.claims(padding="x" * 9000), alg="RS256")
    assert await reason_for(token, runtime) == "TOKEN_TOO_LARGE"


async def test_refusal_reason_is_logged_at_info(
    trusted: TrustedIssuer, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="accord.identity"):
        await reason_for(sign(RSA, trusted.claims(aud="elsewhere"), alg="RS256"), runtime)
    assert any(
        r.levelno == logging.INFO and "WRONG_AUDIENCE" in r.getMessage() for r in caplog.records
    )


def weak_rsa_key(kid: str) -> RSAKey:
    with pytest.warns(SecurityWarning):  # joserfc itself only warns
        return RSAKey.generate_key(1024, parameters={"kid": kid})


async def test_rsa_key_under_2048_bits(runtime: Runtime, idp: IdentityServer) -> None:
    weak = weak_rsa_key("weak-1024")
    issuer = await trusted_issuer(runtime, idp, [weak], algorithms=["RS256"], label="weak")
    token = sign(weak, issuer.claims(), alg="RS256")
    assert await reason_for(token, runtime) == "WEAK_KEY"
    # The same issuer's token signed with a 2048-bit key it publishes alongside is fine.
    strong = rsa_key("strong-2048")
    idp.documents[name_of(issuer)] = public_jwks(weak, strong)
    fresh = JwksCache()
    principal = await authenticate(
        token=sign(strong, issuer.claims(), alg="RS256"), runtime=runtime, jwks=fresh
    )
    assert principal.subject == issuer.member
    with pytest.raises(Unauthenticated) as caught:
        await authenticate(token=token, runtime=runtime, jwks=fresh)
    assert caught.value.reason == "WEAK_KEY"


async def test_key_published_for_encryption(runtime: Runtime, idp: IdentityServer) -> None:
    signer = rsa_key("enc-1")
    published = {**signer.as_dict(private=False), "use": "enc"}
    issuer = await trusted_issuer(
        runtime, idp, [RSAKey.import_key(published)], algorithms=["RS256"], label="enc"
    )
    assert idp.documents[name_of(issuer)] == {"keys": [published]}
    token = sign(signer, issuer.claims(), alg="RS256")
    assert await reason_for(token, runtime) == "KEY_USE_MISMATCH"
    # Published for signing, the same key verifies the same token.
    idp.documents[name_of(issuer)] = {"keys": [{**published, "use": "sig"}]}
    principal = await authenticate(token=token, runtime=runtime, jwks=JwksCache())
    assert principal.subject == issuer.member
