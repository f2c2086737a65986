"""Non-human and platform identities: connectors' service accounts, platform operators.

Services take keyword-only arguments, session first, and never commit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.platform.errors import BadInput, Conflict, NotFound
from accord.tenants.identity.client_secrets import hash_secret
from accord.tenants.identity.models import Operator, PlatformIssuer, ServiceAccount
from accord.tenants.models import Tenant

# Client ids become token subjects and log fields; a tight alphabet keeps them unambiguous.
_CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$")


def _name(value: str, field: str) -> str:
    value = value.strip()
    if not value or len(value) > 200:
        raise BadInput(f"A {field} has 1 to 200 characters.", reason="BAD_NAME", field=field)
    return value


async def add_service_account(
    *,
    session: AsyncSession,
    tenant: Tenant,
    client_id: str,
    name: str,
    secret: str | None = None,
) -> ServiceAccount:
    """Register a connector's OAuth2 client; its tokens authenticate with the sync scope.

    With ``secret`` (see ``client_secrets.new_secret``) only its hash is kept, for a token
    endpoint to check; without, the client's tokens come from the tenant's own IdP.
    """
    if not _CLIENT_ID_RE.match(client_id):
        raise BadInput(
            "A client id has 1 to 200 characters: letters, digits and . _ : @ -",
            reason="BAD_CLIENT_ID",
            field="client_id",
        )
    if await session.get(ServiceAccount, client_id) is not None:
        # Client ids are unique across tenants, so a token subject names one tenant's client.
        raise Conflict(
            f"Client id '{client_id}' is taken.", reason="DUPLICATE_CLIENT_ID", field="client_id"
        )
    account = ServiceAccount(
        client_id=client_id,
        tenant=tenant.slug,
        name=_name(name, "name"),
        secret_hash=hash_secret(secret) if secret is not None else None,
    )
    session.add(account)
    await session.flush()
    return account


async def find_service_account(
    *, session: AsyncSession, tenant: str, client_id: str
) -> ServiceAccount | None:
    account = await session.get(ServiceAccount, client_id)
    return account if account is not None and account.tenant == tenant else None


async def list_service_accounts(
    *, session: AsyncSession, tenant: Tenant
) -> Sequence[ServiceAccount]:
    stmt = (
        select(ServiceAccount)
        .where(ServiceAccount.tenant == tenant.slug)
        .order_by(ServiceAccount.client_id)
    )
    return (await session.scalars(stmt)).all()


async def remove_service_account(*, session: AsyncSession, tenant: Tenant, client_id: str) -> None:
    account = await find_service_account(session=session, tenant=tenant.slug, client_id=client_id)
    if account is None:
        raise NotFound(
            f"No service account '{client_id}' in tenant '{tenant.slug}'.",
            reason="UNKNOWN_CLIENT_ID",
            field="client_id",
        )
    await session.delete(account)
    await session.flush()


async def add_operator(
    *, session: AsyncSession, issuer: str, subject: str, display_name: str
) -> Operator:
    """Make ``subject`` at platform issuer ``issuer`` a platform operator."""
    if await session.get(PlatformIssuer, issuer) is None:
        raise NotFound(f"No platform issuer {issuer}.", reason="UNKNOWN_ISSUER", field="issuer")
    subject = _name(subject, "subject")
    if await session.get(Operator, (issuer, subject)) is not None:
        raise Conflict(
            f"{subject} is already an operator.", reason="DUPLICATE_OPERATOR", field="subject"
        )
    operator = Operator(issuer=issuer, subject=subject, display_name=_name(display_name, "name"))
    session.add(operator)
    await session.flush()
    return operator


async def find_operator(*, session: AsyncSession, issuer: str, subject: str) -> Operator | None:
    return await session.get(Operator, (issuer, subject))


async def list_operators(*, session: AsyncSession) -> Sequence[Operator]:
    stmt = select(Operator).order_by(Operator.issuer, Operator.subject)
    return (await session.scalars(stmt)).all()
