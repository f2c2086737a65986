"""Onboarding flows: each change to a tenant's identity, with its entry in the tenant's log.

The change is made in the control plane and the entry appended to the tenant's own event
log (in its store) before the control transaction commits, as break-glass grants are: if
that commit fails, the log shows a change that never took effect, the safe way round.
Network I/O (OIDC discovery) happens before any transaction opens.

The GraphQL mutations and the CLI both call these; gates are theirs (a tenant admin over
the API, an operator holding the database at the command line).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from accord.platform.eventlog import append_event
from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service
from accord.tenants.identity import accounts, discovery, member_keys, members
from accord.tenants.identity import service as identity_service
from accord.tenants.identity.client_secrets import new_secret
from accord.tenants.identity.models import IdentityProvider, MemberKey, ServiceAccount
from accord.tenants.models import Member, Tenant
from accord.tenants.provisioning import create_tenant

DEFAULT_AUDIENCE = "accord"


@dataclass(frozen=True, slots=True)
class Logged:
    """What to append to the tenant's log once the change is made."""

    action: str
    record_type: str
    record_id: str
    change: Mapping[str, Any]


@asynccontextmanager
async def _changing(runtime: Runtime, slug: str) -> AsyncIterator[tuple[AsyncSession, Tenant]]:
    async with runtime.control_session() as session:
        tenant = await tenant_service.get_accessible(session=session, slug=slug)
        yield session, tenant


async def _log(runtime: Runtime, tenant: Tenant, actor: str, entry: Logged) -> None:
    async with runtime.stores.tenant_session(tenant.scope) as session:
        await append_event(
            session,
            actor=actor,
            action=entry.action,
            record_type=entry.record_type,
            record_id=entry.record_id,
            change=dict(entry.change),
        )


async def register_identity_provider(
    runtime: Runtime,
    *,
    tenant: str,
    issuer: str,
    audience: str,
    actor: str,
    algorithms: Sequence[str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    allow_loopback: bool = True,
) -> IdentityProvider:
    """Trust ``issuer`` for ``tenant``, configured by OIDC discovery."""
    metadata = await discovery.discover(issuer, transport=transport, allow_loopback=allow_loopback)
    chosen = discovery.chosen_algorithms(metadata, algorithms)
    async with _changing(runtime, tenant) as (session, found):
        provider = await identity_service.register_provider(
            session=session,
            tenant=found,
            issuer=metadata.issuer,
            audience=audience,
            jwks_url=metadata.jwks_uri,
            algorithms=chosen,
            discovery_url=discovery.discovery_url(metadata.issuer),
        )
        entry = Logged(
            "identity_provider.registered",
            "identity_provider",
            issuer,
            {
                "issuer": issuer,
                "audience": audience,
                "jwks_uri": metadata.jwks_uri,
                "algorithms": chosen,
                "key_ids": list(metadata.key_ids),
            },
        )
        await _log(runtime, found, actor, entry)
    return provider


async def remove_identity_provider(
    runtime: Runtime, *, tenant: str, issuer: str, actor: str
) -> None:
    """Stop trusting ``issuer``: its tokens are refused from the next request."""
    async with _changing(runtime, tenant) as (session, found):
        await identity_service.remove_provider(session=session, tenant=found, issuer=issuer)
        entry = Logged("identity_provider.removed", "identity_provider", issuer, {})
        await _log(runtime, found, actor, entry)


async def add_member(
    runtime: Runtime,
    *,
    tenant: str,
    subject: str,
    display_name: str,
    roles: Sequence[str],
    actor: str,
    email: str | None = None,
) -> Member:
    async with _changing(runtime, tenant) as (session, found):
        member = await members.add_member(
            session=session,
            tenant=found,
            subject=subject,
            display_name=display_name,
            roles=roles,
            email=email,
        )
        entry = Logged(
            "member.added",
            "member",
            subject,
            {"display_name": member.display_name, "roles": member.roles},
        )
        await _log(runtime, found, actor, entry)
    return member


async def change_member_roles(
    runtime: Runtime, *, tenant: str, subject: str, roles: Sequence[str], actor: str
) -> Member:
    async with _changing(runtime, tenant) as (session, found):
        before = list(
            (await members.get_member(session=session, tenant=found, subject=subject)).roles
        )
        member = await members.change_roles(
            session=session, tenant=found, subject=subject, roles=roles
        )
        entry = Logged(
            "member.roles_changed", "member", subject, {"from": before, "to": member.roles}
        )
        await _log(runtime, found, actor, entry)
    return member


async def remove_member(runtime: Runtime, *, tenant: str, subject: str, actor: str) -> Member:
    async with _changing(runtime, tenant) as (session, found):
        member = await members.remove_member(session=session, tenant=found, subject=subject)
        assert member.removed_at is not None
        entry = Logged(
            "member.removed", "member", subject, {"removed_at": member.removed_at.isoformat()}
        )
        await _log(runtime, found, actor, entry)
    return member


@dataclass(frozen=True, slots=True)
class CreatedServiceAccount:
    account: ServiceAccount
    #: shown once; only its hash is kept (None: tokens come from the tenant's IdP)
    secret: str | None


async def create_service_account(
    runtime: Runtime,
    *,
    tenant: str,
    client_id: str,
    name: str,
    actor: str,
    issue_secret: bool = False,
) -> CreatedServiceAccount:
    secret = new_secret() if issue_secret else None
    async with _changing(runtime, tenant) as (session, found):
        account = await accounts.add_service_account(
            session=session, tenant=found, client_id=client_id, name=name, secret=secret
        )
        entry = Logged(
            "service_account.created",
            "service_account",
            client_id,
            {"name": account.name, "secret_issued": secret is not None},
        )
        await _log(runtime, found, actor, entry)
    return CreatedServiceAccount(account, secret)


async def revoke_service_account(
    runtime: Runtime, *, tenant: str, client_id: str, actor: str
) -> None:
    """Remove the client: its tokens are refused from the next request."""
    async with _changing(runtime, tenant) as (session, found):
        await accounts.remove_service_account(session=session, tenant=found, client_id=client_id)
        await _log(
            runtime,
            found,
            actor,
            Logged("service_account.revoked", "service_account", client_id, {}),
        )


def _key_entry(action: str, key: MemberKey, subject: str, **extra: Any) -> Logged:
    change = {
        "subject": subject,
        "alg": key.alg,
        "not_before": key.created_at.isoformat(),
        "not_after": key.revoked_at.isoformat() if key.revoked_at else None,
        **extra,
    }
    return Logged(action, "member_key", key.kid, change)


async def register_signing_key(
    runtime: Runtime,
    *,
    tenant: str,
    subject: str,
    jwk: Mapping[str, Any],
    alg: str,
    actor: str,
) -> MemberKey:
    async with _changing(runtime, tenant) as (session, found):
        member = await members.get_member(session=session, tenant=found, subject=subject)
        key = await member_keys.add_member_key(session=session, member=member, jwk=jwk, alg=alg)
        await _log(runtime, found, actor, _key_entry("member_key.registered", key, subject))
    return key


async def rotate_signing_key(
    runtime: Runtime,
    *,
    tenant: str,
    subject: str,
    kid: str,
    jwk: Mapping[str, Any],
    alg: str,
    actor: str,
    overlap: timedelta = timedelta(0),
) -> tuple[MemberKey, MemberKey]:
    async with _changing(runtime, tenant) as (session, found):
        member = await members.get_member(session=session, tenant=found, subject=subject)
        old, new = await member_keys.rotate_member_key(
            session=session, member=member, kid=kid, jwk=jwk, alg=alg, overlap=overlap
        )
        entry = _key_entry("member_key.rotated", new, subject, replaces=old.kid)
        await _log(runtime, found, actor, entry)
    return old, new


async def revoke_signing_key(
    runtime: Runtime, *, tenant: str, subject: str, kid: str, actor: str
) -> MemberKey:
    async with _changing(runtime, tenant) as (session, found):
        member = await members.get_member(session=session, tenant=found, subject=subject)
        key = await member_keys.revoke_member_key(session=session, member=member, kid=kid)
        await _log(runtime, found, actor, _key_entry("member_key.revoked", key, subject))
    return key


async def signing_keys(
    runtime: Runtime, *, tenant: str, subject: str, include_revoked: bool = True
) -> Sequence[MemberKey]:
    async with runtime.control_session() as session:
        found = await tenant_service.get_accessible(session=session, slug=tenant)
        member = await members.get_member(session=session, tenant=found, subject=subject)
        return await member_keys.list_member_keys(
            session=session, member=member, include_revoked=include_revoked
        )


async def onboard_tenant(
    runtime: Runtime,
    *,
    slug: str,
    legal_name: str,
    jurisdiction: str,
    store: str,
    actor: str,
    admin: str | None = None,
    admin_name: str | None = None,
    issuer: str | None = None,
    audience: str = DEFAULT_AUDIENCE,
    algorithms: Sequence[str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Tenant:
    """Create a tenant that can sign someone in: its issuer (by discovery) and its first
    tenant admin. Everything checkable is checked before the tenant is created."""
    if admin is not None:
        members.validate_subject(admin)
    metadata, chosen = None, None
    if issuer is not None:
        identity_service.validate_audience(audience)
        metadata = await discovery.discover(issuer, transport=transport)
        chosen = discovery.chosen_algorithms(metadata, algorithms)
    tenant = await create_tenant(
        runtime, slug=slug, legal_name=legal_name, jurisdiction=jurisdiction, store=store
    )
    async with runtime.control_session() as session:
        if metadata is not None and chosen is not None:
            await identity_service.register_provider(
                session=session,
                tenant=tenant,
                issuer=metadata.issuer,
                audience=audience,
                jwks_url=metadata.jwks_uri,
                algorithms=chosen,
                discovery_url=discovery.discovery_url(metadata.issuer),
            )
            registered = Logged(
                "identity_provider.registered",
                "identity_provider",
                metadata.issuer,
                {"issuer": metadata.issuer, "audience": audience, "algorithms": chosen},
            )
            await _log(runtime, tenant, actor, registered)
        if admin is not None:
            member = await members.add_member(
                session=session,
                tenant=tenant,
                subject=admin,
                display_name=admin_name or admin,
                roles=[members.TENANT_ADMIN],
            )
            added = Logged("member.added", "member", admin, {"roles": member.roles})
            await _log(runtime, tenant, actor, added)
    return tenant
