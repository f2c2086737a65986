"""Identity: trusted issuers, principals from real RSA/EC/Ed25519 tokens, member keys,
service accounts, operators and break-glass, the dev issuer and its command, middleware."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import Key
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from accord.platform.errors import AccordError, BadInput, Conflict
from accord.platform.eventlog import EventLogEntry
from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service
from accord.tenants.identity import accounts, breakglass, member_keys
from accord.tenants.identity import service as identity_service
from accord.tenants.identity.authenticate import authenticate
from accord.tenants.identity.devissuer import (
    DEV_ISSUER,
    KEY_FILE,
    DevIssuer,
    mint_token,
    register_dev_issuer,
)
from accord.tenants.identity.jwks import JwksCache
from accord.tenants.identity.middleware import AuthenticationMiddleware
from accord.tenants.identity.models import BreakGlassGrant, MemberKey, Operator, PlatformIssuer
from accord.tenants.identity.principal import Principal, PrincipalKind, Unauthenticated
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory, make_test_settings, subprocess_env, unique_slug
from tests.factories.identity import (
    AUDIENCE,
    IdentityServer,
    ec_key,
    ed_key,
    public_jwks,
    rsa_key,
    sign,
    trusted_issuer,
)

CACHE = JwksCache()
OTHER_ISSUER = "urn:example:idp"


async def test_provider_registration_is_validated(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="prov")
    jwks = public_jwks(rsa_key("a"))
    async with runtime.control_session() as session:

        async def register(**kwargs: object) -> object:
            values: dict[str, object] = {
                "issuer": "https://login.example.com/realms/acme",
                "audience": "accord",
                "jwks": jwks,
                "algorithms": ["RS256"],
            }
            values.update(kwargs)
            return await identity_service.register_provider(
                session=session,
                tenant=tenant,
                **values,  # type: ignore[arg-type]
            )

        cases: list[tuple[dict[str, object], str]] = [
            ({"algorithms": ["HS256"]}, "ALGORITHM_NOT_ALLOWED"),
            ({"algorithms": ["none"]}, "ALGORITHM_NOT_ALLOWED"),
            ({"algorithms": []}, "ALGORITHM_NOT_ALLOWED"),
            ({"jwks_url": "https://login.example.com/certs"}, "JWKS_SOURCE"),
            ({"jwks": None}, "JWKS_SOURCE"),
            ({"jwks": None, "jwks_url": "http://login.example.com/certs"}, "BAD_JWKS_URL"),
            ({"issuer": "http://login.example.com"}, "BAD_ISSUER"),
            ({"jwks": {"keys": [ed_key("p").as_dict(private=True)]}}, "BAD_JWKS"),
            ({"audience": ""}, "BAD_AUDIENCE"),
        ]
        for kwargs, reason in cases:
            with pytest.raises(BadInput) as caught:
                await register(**kwargs)
            assert caught.value.reason == reason, kwargs
        await register()
        await register(issuer=OTHER_ISSUER, algorithms=["ES256", "EdDSA", "Ed25519"])
        with pytest.raises(Conflict):
            await register()
        listed = await identity_service.list_providers(session=session, tenant=tenant)
        assert [p.issuer for p in listed] == ["https://login.example.com/realms/acme", OTHER_ISSUER]
        await identity_service.remove_provider(session=session, tenant=tenant, issuer=OTHER_ISSUER)
        assert len(await identity_service.list_providers(session=session, tenant=tenant)) == 1


@pytest.mark.parametrize(
    ("make_key", "alg"),
    [
        (lambda: rsa_key("rsa"), "RS256"),
        (lambda: rsa_key("rsa-pss"), "PS256"),
        (lambda: ec_key("ec"), "ES256"),
        (lambda: ed_key("ed"), "Ed25519"),
        (lambda: ed_key("ed-old-name"), "EdDSA"),
    ],
    ids=["RS256", "PS256", "ES256", "Ed25519", "EdDSA"],
)
async def test_valid_tokens_give_the_right_principal(
    make_key: object, alg: str, runtime: Runtime, idp: IdentityServer
) -> None:
    key: Key = make_key()  # type: ignore[operator]
    trusted = await trusted_issuer(runtime, idp, [key], algorithms=[alg])
    claims = trusted.claims(scope="openid findings:read", aud=[AUDIENCE, "other"])
    principal = await authenticate(token=sign(key, claims, alg=alg), runtime=runtime, jwks=CACHE)
    assert principal.tenant == trusted.tenant.slug
    assert principal.subject == trusted.member
    assert principal.kind == PrincipalKind.USER
    assert principal.roles == frozenset(trusted.roles)
    assert principal.scopes == frozenset({"openid", "findings:read"})
    assert principal.issuer == trusted.issuer
    assert principal.token_id == claims["jti"]
    assert principal.expires_at == datetime.fromtimestamp(claims["exp"], UTC)
    with pytest.raises(dataclasses.FrozenInstanceError):
        principal.roles = frozenset({"admin"})  # type: ignore[misc]


async def test_member_keys_are_public_only(runtime: Runtime, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant(label="keys")
    ed, ec = ed_key("exec-ed"), ec_key("exec-ec")
    async with runtime.control_session() as session:
        member = await tenant_service.add_member(
            session=session, tenant=tenant, subject="ceo", display_name="CEO", roles=["executive"]
        )
        for private, alg in ((ed, "Ed25519"), (ec, "ES256")):
            with pytest.raises(BadInput) as caught:
                await member_keys.add_member_key(
                    session=session, member=member, jwk=private.as_dict(private=True), alg=alg
                )
            assert caught.value.reason == "PRIVATE_KEY_MATERIAL"
        sneaky = {**ed.as_dict(private=False), "p": "AQAB"}
        with pytest.raises(BadInput, match="private"):
            await member_keys.add_member_key(
                session=session, member=member, jwk=sneaky, alg="Ed25519"
            )
        with pytest.raises(BadInput) as caught:
            await member_keys.add_member_key(
                session=session, member=member, jwk=rsa_key("r").as_dict(), alg="RS256"
            )
        assert caught.value.reason == "UNSUPPORTED_KEY_ALGORITHM"
        with pytest.raises(BadInput) as caught:
            await member_keys.add_member_key(
                session=session, member=member, jwk=ec.as_dict(private=False), alg="Ed25519"
            )
        assert caught.value.reason == "KEY_ALGORITHM_MISMATCH"

        stored = await member_keys.add_member_key(
            session=session, member=member, jwk=ed.as_dict(private=False), alg="Ed25519"
        )
        no_kid = {k: v for k, v in ec.as_dict(private=False).items() if k != "kid"}
        by_thumbprint = await member_keys.add_member_key(
            session=session, member=member, jwk=no_kid, alg="ES256"
        )
        assert stored.kid == "exec-ed" and stored.jwk["use"] == "sig" and "d" not in stored.jwk
        assert by_thumbprint.kid == ec.thumbprint()
        with pytest.raises(Conflict):
            await member_keys.add_member_key(
                session=session, member=member, jwk=ed.as_dict(private=False), alg="Ed25519"
            )
        await member_keys.revoke_member_key(session=session, member=member, kid="exec-ed")
        active = await member_keys.list_member_keys(session=session, member=member)
        assert [k.kid for k in active] == [ec.thumbprint()]
        everything = await member_keys.list_member_keys(
            session=session, member=member, include_revoked=True
        )
        assert len(everything) == 2
        member_id = member.id
    # The table refuses private material too, whoever writes to it.
    with pytest.raises(IntegrityError, match="public_only"):
        async with runtime.control_session() as session:
            session.add(
                MemberKey(member=member_id, kid="raw", alg="Ed25519", jwk=ed.as_dict(private=True))
            )


async def test_service_account_gets_only_the_sync_scope(
    runtime: Runtime, idp: IdentityServer
) -> None:
    key = rsa_key("cc")
    trusted = await trusted_issuer(runtime, idp, [key], algorithms=["RS256"], label="svc")
    name = trusted.issuer.rsplit("/", 1)[1]
    idp.signers[name] = (key, "RS256", trusted.issuer)
    client_id = f"sap-connector-{uuid.uuid4().hex[:6]}"
    idp.clients[client_id] = ("s3cret", trusted.tenant.slug)
    async with runtime.control_session() as session:
        await accounts.add_service_account(
            session=session, tenant=trusted.tenant, client_id=client_id, name="SAP S/4HANA"
        )
        # Even a member row under the same subject must not lend the connector its roles.
        await tenant_service.add_member(
            session=session,
            tenant=trusted.tenant,
            subject=client_id,
            display_name="x",
            roles=["admin"],
        )

    async def client_credentials(scope: str) -> str:
        basic = base64.b64encode(f"{client_id}:s3cret".encode()).decode()
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{trusted.issuer}/token",
                data={"grant_type": "client_credentials", "scope": scope},
                headers={"Authorization": f"Basic {basic}"},
            )
        response.raise_for_status()
        return str(response.json()["access_token"])

    token = await client_credentials("sync admin findings:write")
    principal = await authenticate(token=token, runtime=runtime, jwks=CACHE)
    assert principal.kind == PrincipalKind.SERVICE
    assert principal.subject == client_id
    assert principal.tenant == trusted.tenant.slug
    assert principal.scopes == frozenset({"sync"})
    assert principal.roles == frozenset()

    no_sync = await client_credentials("findings:read")
    with pytest.raises(Unauthenticated) as caught:
        await authenticate(token=no_sync, runtime=runtime, jwks=CACHE)
    assert caught.value.reason == "SERVICE_SCOPE_MISSING"
    mismatched = sign(
        key, trusted.claims(sub=client_id, client_id="other", scope="sync"), alg="RS256"
    )
    with pytest.raises(Unauthenticated) as caught:
        await authenticate(token=mismatched, runtime=runtime, jwks=CACHE)
    assert caught.value.reason == "CLIENT_ID_MISMATCH"
    async with runtime.control_session() as session:
        with pytest.raises(Conflict):
            await accounts.add_service_account(
                session=session, tenant=trusted.tenant, client_id=client_id, name="again"
            )


@dataclasses.dataclass
class Platform:
    issuer: str
    key: Key
    operator: Operator


@pytest.fixture
async def platform(runtime: Runtime) -> AsyncIterator[Platform]:
    key = ec_key("ops")
    issuer = f"https://ops-{uuid.uuid4().hex[:8]}.accord.example"
    async with runtime.control_session() as session:
        await identity_service.register_platform_issuer(
            session=session,
            issuer=issuer,
            audience="accord-ops",
            jwks=public_jwks(key),
            algorithms=["ES256"],
        )
        operator = await accounts.add_operator(
            session=session, issuer=issuer, subject="oncall@accord.example", display_name="On call"
        )
    yield Platform(issuer=issuer, key=key, operator=operator)
    async with runtime.control_session() as session:
        await session.execute(
            delete(BreakGlassGrant).where(BreakGlassGrant.operator_issuer == issuer)
        )
        await session.execute(delete(Operator).where(Operator.issuer == issuer))
        await session.execute(delete(PlatformIssuer).where(PlatformIssuer.issuer == issuer))


def operator_claims(platform: Platform, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": platform.issuer,
        "sub": platform.operator.subject,
        "aud": "accord-ops",
        "iat": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    return claims


async def test_operators_authenticate_with_the_platform_issuer(
    runtime: Runtime, platform: Platform
) -> None:
    token = sign(platform.key, operator_claims(platform), alg="ES256")
    principal = await authenticate(token=token, runtime=runtime, jwks=CACHE)
    assert principal.kind == PrincipalKind.OPERATOR
    assert principal.tenant is None and principal.roles == frozenset()
    stranger = sign(platform.key, operator_claims(platform, sub="intern"), alg="ES256")
    with pytest.raises(Unauthenticated) as caught:
        await authenticate(token=stranger, runtime=runtime, jwks=CACHE)
    assert caught.value.reason == "UNKNOWN_OPERATOR"


async def test_break_glass_is_time_boxed_and_logged_in_the_tenant(
    runtime: Runtime, platform: Platform, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="bg")
    t0 = datetime.now(UTC)
    async with runtime.control_session() as session:
        for reason, duration, code in (
            ("too short", timedelta(hours=1), "REASON_REQUIRED"),
            ("P1 incident 4711: restore data", timedelta(hours=25), "BAD_DURATION"),
            ("P1 incident 4711: restore data", timedelta(0), "BAD_DURATION"),
        ):
            with pytest.raises(BadInput) as caught:
                await breakglass.grant_break_glass(
                    session=session,
                    runtime=runtime,
                    operator=platform.operator,
                    tenant=tenant,
                    reason=reason,
                    duration=duration,
                    now=t0,
                )
            assert caught.value.reason == code
        grant = await breakglass.grant_break_glass(
            session=session,
            runtime=runtime,
            operator=platform.operator,
            tenant=tenant,
            reason="P1 incident 4711: restore data",
            duration=timedelta(hours=2),
            now=t0,
        )

    async def has(at: datetime, who: Operator | Principal = platform.operator) -> bool:
        async with runtime.control_session() as session:
            return await breakglass.has_break_glass(
                session=session,
                operator=who,
                tenant=tenant.slug,
                now=at,
            )

    assert await has(t0 + timedelta(minutes=1))
    assert not await has(t0 - timedelta(minutes=1))
    assert not await has(t0 + timedelta(hours=2))
    token = sign(platform.key, operator_claims(platform), alg="ES256")
    principal = await authenticate(token=token, runtime=runtime, jwks=CACHE)
    assert await has(t0 + timedelta(minutes=1), principal)

    async with tenant_session(runtime, tenant.slug) as session:
        entries = (
            await session.scalars(
                select(EventLogEntry).where(EventLogEntry.action == "break_glass.granted")
            )
        ).all()
    assert len(entries) == 1
    assert entries[0].actor == breakglass.operator_actor(platform.issuer, platform.operator.subject)
    assert entries[0].record_id == str(grant.id)
    assert entries[0].change["reason"] == "P1 incident 4711: restore data"

    async with runtime.control_session() as session:
        await breakglass.revoke_break_glass(
            session=session, runtime=runtime, grant_id=grant.id, actor="operator:lead"
        )
    assert not await has(t0 + timedelta(minutes=1))
    # The database holds the 24-hour box too.
    with pytest.raises(IntegrityError, match="time_box"):
        async with runtime.control_session() as session:
            session.add(
                BreakGlassGrant(
                    operator_issuer=platform.issuer,
                    operator_subject=platform.operator.subject,
                    tenant=tenant.slug,
                    reason="long enough reason",
                    granted_at=t0,
                    expires_at=t0 + timedelta(hours=25),
                )
            )


async def test_dev_issuer_keeps_a_private_key_and_mints_accepted_tokens(
    runtime: Runtime, make_tenant: TenantFactory, tmp_path: Path
) -> None:
    settings = make_test_settings(data_dir=tmp_path)
    tenant = await make_tenant(label="dev")
    async with runtime.control_session() as session:
        await tenant_service.add_member(
            session=session, tenant=tenant, subject="demo", display_name="Demo", roles=["auditor"]
        )
        await register_dev_issuer(session=session, tenant=tenant, settings=settings)
        await register_dev_issuer(session=session, tenant=tenant, settings=settings)
    key_file = tmp_path / "dev-issuer" / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert DevIssuer.load(settings).kid == DevIssuer.load(settings).kid
    token = mint_token(tenant.slug, "demo", ttl=timedelta(minutes=5), settings=settings)
    principal = await authenticate(token=token, runtime=runtime, jwks=CACHE)
    assert (principal.issuer, principal.roles) == (DEV_ISSUER, frozenset({"auditor"}))
    # A production process refuses the dev issuer's tokens even if a tenant trusts it.
    prod_runtime = dataclasses.replace(runtime, settings=make_test_settings(env="prod"))
    with pytest.raises(Unauthenticated) as caught:
        await authenticate(token=token, runtime=prod_runtime, jwks=CACHE)
    assert caught.value.reason == "DEV_ISSUER_DISABLED"


def test_dev_issuer_is_refused_in_prod(tmp_path: Path) -> None:
    prod = make_test_settings(env="prod", data_dir=tmp_path)
    for attempt in (
        lambda: DevIssuer.load(prod),
        lambda: mint_token("acme", "demo", ttl=timedelta(minutes=5), settings=prod),
    ):
        with pytest.raises(AccordError) as caught:
            attempt()
        assert caught.value.reason == "DEV_ISSUER_DISABLED"
    assert not (tmp_path / "dev-issuer").exists()


def run_token_command(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    code = "from accord.commands.identity import token_app; token_app()"
    return subprocess.run(
        [sys.executable, "-c", code, "mint", *args],
        capture_output=True,
        text=True,
        env=subprocess_env(COLUMNS="200", **env),
        timeout=120,
        check=False,
    )


async def test_token_command(runtime: Runtime, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant(label="cli")
    async with runtime.control_session() as session:
        await tenant_service.add_member(
            session=session,
            tenant=tenant,
            subject="qm",
            display_name="QM",
            roles=["quality_manager"],
        )
    ok = await asyncio.to_thread(run_token_command, "--tenant", tenant.slug, "--user", "qm")
    assert ok.returncode == 0, ok.stderr
    principal = await authenticate(token=ok.stdout.strip(), runtime=runtime, jwks=CACHE)
    assert (principal.tenant, principal.subject) == (tenant.slug, "qm")
    for args, env, reason in (
        (("--tenant", tenant.slug, "--user", "qm"), {"ACCORD_ENV": "prod"}, "DEV_ISSUER_DISABLED"),
        (("--tenant", unique_slug("none"), "--user", "qm"), {}, "UNKNOWN_TENANT"),
        (("--tenant", tenant.slug, "--user", "nobody"), {}, "UNKNOWN_MEMBER"),
        (("--tenant", tenant.slug, "--user", "qm", "--service"), {}, "UNKNOWN_CLIENT_ID"),
    ):
        failed = await asyncio.to_thread(run_token_command, *args, **env)
        assert failed.returncode == 2, (args, failed.stderr)
        assert reason in failed.stderr
        assert failed.stdout == ""


async def test_middleware_puts_the_principal_in_the_scope(
    runtime: Runtime, idp: IdentityServer
) -> None:
    key = ed_key("mw")
    trusted = await trusted_issuer(runtime, idp, [key], algorithms=["Ed25519"], label="mw")

    async def whoami(request: Request) -> JSONResponse:
        principal = request.state.principal
        return JSONResponse({"subject": principal.subject if principal else None})

    app = Starlette(
        routes=[Route("/whoami", whoami)],
        middleware=[Middleware(AuthenticationMiddleware, runtime=lambda scope: runtime)],
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://accord.test"
    ) as client:
        anonymous = await client.get("/whoami")
        assert anonymous.json() == {"subject": None}
        token = sign(key, trusted.claims(), alg="Ed25519")
        signed_in = await client.get("/whoami", headers={"Authorization": f"Bearer {token}"})
        assert signed_in.json() == {"subject": trusted.member}
        expired = sign(key, trusted.claims(exp=int(time.time()) - 3600), alg="Ed25519")
        for header in (f"Bearer {expired}", "Bearer garbage", f"Basic {token}", "Bearer"):
            refused = await client.get("/whoami", headers={"Authorization": header})
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer"
            assert refused.json() == {
                "errors": [
                    {"message": "Unauthenticated", "extensions": {"code": "UNAUTHENTICATED"}}
                ]
            }


async def test_middleware_closes_a_websocket_with_a_bad_token(runtime: Runtime) -> None:
    reached: list[bool] = []

    async def downstream(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(True)

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = AuthenticationMiddleware(downstream, runtime=lambda scope: runtime)
    scope: Scope = {
        "type": "websocket",
        "path": "/graphql",
        "headers": [(b"authorization", b"Bearer not.a.token")],
    }
    await middleware(scope, receive, send)
    assert reached == []
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": ""}]
