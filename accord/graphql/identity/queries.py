"""Your tenant's identities: issuers, members, service accounts, and your signing keys."""

from __future__ import annotations

from typing import Annotated

import strawberry

from accord.graphql.context import Context
from accord.graphql.identity.access import require_member, require_reader
from accord.graphql.identity.types import (
    IdentityProviderType,
    MemberType,
    ServiceAccountType,
    SigningKeyType,
)
from accord.tenants import service as tenant_service
from accord.tenants.identity import accounts, flows, members
from accord.tenants.identity import service as identity_service


@strawberry.type
class IdentityQueries:
    @strawberry.field(description="The OIDC issuers your tenant trusts.")
    async def identity_providers(
        self, info: strawberry.Info[Context, None]
    ) -> list[IdentityProviderType]:
        me = require_reader(info.context)
        async with info.context.runtime.control_session() as session:
            tenant = await tenant_service.get_accessible(session=session, slug=me.tenant)
            found = await identity_service.list_providers(session=session, tenant=tenant)
        return [IdentityProviderType.from_model(p) for p in found]

    @strawberry.field(description="The people of your tenant who may sign in.")
    async def members(self, info: strawberry.Info[Context, None]) -> list[MemberType]:
        me = require_reader(info.context)
        async with info.context.runtime.control_session() as session:
            tenant = await tenant_service.get_accessible(session=session, slug=me.tenant)
            found = await members.list_active(session=session, tenant=tenant)
        return [MemberType.from_model(m) for m in found]

    @strawberry.field(description="Your tenant's service accounts.")
    async def service_accounts(
        self, info: strawberry.Info[Context, None]
    ) -> list[ServiceAccountType]:
        me = require_reader(info.context)
        async with info.context.runtime.control_session() as session:
            tenant = await tenant_service.get_accessible(session=session, slug=me.tenant)
            found = await accounts.list_service_accounts(session=session, tenant=tenant)
        return [ServiceAccountType.from_model(a) for a in found]

    @strawberry.field(description="Your signing keys, oldest first; sign with a valid one's kid.")
    async def my_signing_keys(
        self,
        info: strawberry.Info[Context, None],
        include_revoked: Annotated[
            bool,
            strawberry.argument(
                description="Also list revoked keys (false: only valid and retiring ones)."
            ),
        ] = False,
    ) -> list[SigningKeyType]:
        me = require_member(info.context)
        keys = await flows.signing_keys(
            info.context.runtime,
            tenant=me.tenant,
            subject=me.principal.subject,
            include_revoked=include_revoked,
        )
        return [SigningKeyType.from_model(k) for k in keys]
