"""Signing in for tests: a member of a tenant and a dev-issuer token for them."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import timedelta

from accord.platform.runtime import Runtime
from accord.platform.settings import Settings
from accord.tenants import service as tenant_service
from accord.tenants.identity.devissuer import mint_token, register_dev_issuer
from accord.tenants.models import Tenant


async def sign_in(
    runtime: Runtime,
    settings: Settings,
    tenant: Tenant,
    subject: str | None = None,
    roles: Iterable[str] = (),
    *,
    display_name: str | None = None,
    ttl: timedelta = timedelta(minutes=10),
) -> str:
    """Add a member of ``tenant`` with ``roles`` (a fresh subject unless one is named),
    register the dev issuer for the tenant, and return a token for the member."""
    subject = subject or f"u{secrets.token_hex(3)}"
    async with runtime.control_session() as session:
        await tenant_service.add_member(
            session=session,
            tenant=tenant,
            subject=subject,
            display_name=display_name or subject,
            roles=tuple(roles),
        )
        await register_dev_issuer(session=session, tenant=tenant, settings=settings)
    return mint_token(tenant.slug, subject, ttl=ttl, settings=settings)
