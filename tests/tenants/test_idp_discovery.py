"""A tenant's identity providers registered by OIDC discovery, against a loopback IdP:
discovery, sign-in with its tokens, key rotation picked up on an unknown kid, removal,
and every refused registration leaving nothing behind."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from accord.platform.errors import AccordError
from accord.platform.eventlog import EventLogEntry
from accord.platform.runtime import Runtime
from accord.tenants.identity import flows
from accord.tenants.identity import service as identity_service
from accord.tenants.identity.authenticate import authenticate
from accord.tenants.identity.jwks import JwksCache
from accord.tenants.identity.models import IdentityProvider
from accord.tenants.identity.principal import PrincipalKind, Unauthenticated
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory
from tests.factories.oidc import AUDIENCE, OidcProvider, oidc_provider, password_token

ADMIN = "admin@partner.example"


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[OidcProvider]:
    async with oidc_provider() as served:
        yield served


async def _events(runtime: Runtime, slug: str, record_type: str) -> list[EventLogEntry]:
    async with tenant_session(runtime, slug) as session:
        stmt = (
            select(EventLogEntry)
            .where(EventLogEntry.record_type == record_type)
            .order_by(EventLogEntry.seq)
        )
        return list((await session.scalars(stmt)).all())


async def _providers(runtime: Runtime, slug: str) -> int:
    async with runtime.control_session() as session:
        stmt = select(func.count()).where(IdentityProvider.tenant == slug)
        return int(await session.scalar(stmt) or 0)


async def test_a_discovered_issuer_signs_members_in_and_rotates_and_is_removed(
    runtime: Runtime, make_tenant: TenantFactory, provider: OidcProvider
) -> None:
    tenant = await make_tenant(label="idp")
    realm = provider.realm("ES256")
    realm.users[ADMIN] = ("pw", tenant.slug)
    registered = await flows.register_identity_provider(
        runtime, tenant=tenant.slug, issuer=realm.issuer, audience=AUDIENCE, actor="test"
    )
    assert (registered.jwks_url, registered.algorithms) == (realm.jwks_uri, ["ES256"])
    assert registered.discovery_url == f"{realm.issuer}/.well-known/openid-configuration"
    await flows.add_member(
        runtime,
        tenant=tenant.slug,
        subject=ADMIN,
        display_name="Ada Admin",
        roles=["tenant_admin"],
        actor="test",
    )
    cache = JwksCache(refetch_interval=0)

    token = await password_token(realm, ADMIN, "pw")
    principal = await authenticate(token=token, runtime=runtime, jwks=cache)
    assert (principal.tenant, principal.subject, principal.kind) == (
        tenant.slug,
        ADMIN,
        PrincipalKind.USER,
    )
    assert principal.roles == frozenset({"tenant_admin"})

    # The IdP rotates: the old key is gone, a token names a kid the cache has not seen.
    hits = realm.jwks_hits
    realm.rotate(drop_old=True)
    rotated = await password_token(realm, ADMIN, "pw")
    assert (await authenticate(token=rotated, runtime=runtime, jwks=cache)).subject == ADMIN
    assert realm.jwks_hits == hits + 1
    # ... and the cache serves the next one without asking again (its TTL holds).
    await authenticate(token=await password_token(realm, ADMIN, "pw"), runtime=runtime, jwks=cache)
    assert realm.jwks_hits == hits + 1

    await flows.remove_identity_provider(
        runtime, tenant=tenant.slug, issuer=realm.issuer, actor="test"
    )
    with pytest.raises(Unauthenticated) as refused:
        await authenticate(token=rotated, runtime=runtime, jwks=cache)
    assert refused.value.reason == "ISSUER_NOT_REGISTERED"
    logged = [
        (e.action, e.record_id) for e in await _events(runtime, tenant.slug, "identity_provider")
    ]
    assert logged == [
        ("identity_provider.registered", realm.issuer),
        ("identity_provider.removed", realm.issuer),
    ]


async def test_a_member_of_another_tenant_is_not_signed_in_by_this_issuer(
    runtime: Runtime, make_tenant: TenantFactory, provider: OidcProvider
) -> None:
    ours, theirs = await make_tenant(label="idpa"), await make_tenant(label="idpb")
    realm = provider.realm("RS256")
    await flows.register_identity_provider(
        runtime, tenant=ours.slug, issuer=realm.issuer, audience=AUDIENCE, actor="test"
    )
    await flows.add_member(
        runtime, tenant=theirs.slug, subject=ADMIN, display_name="A", roles=["viewer"], actor="t"
    )
    # The IdP claims the subject for a tenant that never registered it.
    with pytest.raises(Unauthenticated) as refused:
        await authenticate(token=realm.token(ADMIN, theirs.slug), runtime=runtime, jwks=JwksCache())
    assert refused.value.reason == "ISSUER_NOT_REGISTERED"


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("mismatch", "ISSUER_MISMATCH"),
        ("hmac_only", "ALGORITHM_NOT_ALLOWED"),
        ("missing", "DISCOVERY_FAILED"),
        ("plain_http", "BAD_ISSUER"),
        ("unadvertised_alg", "ALGORITHM_NOT_ALLOWED"),
        ("duplicate", "DUPLICATE_ISSUER"),
        ("bad_audience", "BAD_AUDIENCE"),
    ],
)
async def test_refused_registrations_write_nothing(
    runtime: Runtime,
    make_tenant: TenantFactory,
    provider: OidcProvider,
    setup: str,
    reason: str,
) -> None:
    tenant = await make_tenant(label="idpbad")
    realm = provider.realm("RS256")
    issuer, audience, algorithms = realm.issuer, AUDIENCE, None
    expected_rows = 0
    if setup == "mismatch":
        realm.issuer_override = "https://idp.attacker.example/realms/x"
    elif setup == "hmac_only":
        realm.advertised = ["HS256", "none"]
    elif setup == "missing":
        issuer = f"{realm.base}/realms/nobody"
    elif setup == "plain_http":
        issuer = "http://idp.example.org/realms/x"
    elif setup == "unadvertised_alg":
        algorithms = ["ES256"]
    elif setup == "duplicate":
        await flows.register_identity_provider(
            runtime, tenant=tenant.slug, issuer=issuer, audience=AUDIENCE, actor="test"
        )
        expected_rows = 1
    elif setup == "bad_audience":
        audience = ""
    before = len(await _events(runtime, tenant.slug, "identity_provider"))
    with pytest.raises(AccordError) as refused:
        await flows.register_identity_provider(
            runtime,
            tenant=tenant.slug,
            issuer=issuer,
            audience=audience,
            algorithms=algorithms,
            actor="test",
        )
    assert refused.value.reason == reason
    assert await _providers(runtime, tenant.slug) == expected_rows
    assert len(await _events(runtime, tenant.slug, "identity_provider")) == before


async def test_removing_an_unknown_issuer_is_not_found(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="idprm")
    with pytest.raises(AccordError) as refused:
        await flows.remove_identity_provider(
            runtime, tenant=tenant.slug, issuer="https://nobody.example", actor="test"
        )
    assert refused.value.reason == "UNKNOWN_ISSUER"
    async with runtime.control_session() as session:
        assert await identity_service.list_providers(session=session, tenant=tenant) == []


async def test_loopback_issuers_can_be_refused(
    runtime: Runtime, make_tenant: TenantFactory, provider: OidcProvider
) -> None:
    tenant = await make_tenant(label="idplo")
    realm = provider.realm("RS256")
    hits = realm.jwks_hits
    with pytest.raises(AccordError) as refused:
        await flows.register_identity_provider(
            runtime,
            tenant=tenant.slug,
            issuer=realm.issuer,
            audience=AUDIENCE,
            actor="test",
            allow_loopback=False,
        )
    assert refused.value.reason == "BAD_ISSUER"
    assert realm.jwks_hits == hits and await _providers(runtime, tenant.slug) == 0
