"""``createServiceAccount`` and ``revokeServiceAccount``: connectors' and scripts' clients."""

from __future__ import annotations

import strawberry

from accord.graphql.context import Context
from accord.graphql.errors import IdentityError
from accord.graphql.identity.access import require_admin
from accord.graphql.identity.types import ServiceAccountType
from accord.platform.errors import AccordError
from accord.tenants.identity import flows


@strawberry.input
class CreateServiceAccountInput:
    client_id: str = strawberry.field(
        description="The client id its tokens carry as `sub` (unique across Accord)."
    )
    name: str
    issue_secret: bool = strawberry.field(
        default=False,
        description="Issue a client secret (shown once, kept hashed); without, the "
        "client's tokens come from your IdP.",
    )


@strawberry.type
class CreateServiceAccountPayload:
    service_account: ServiceAccountType | None
    client_secret: str | None = strawberry.field(
        description="The secret, shown only in this answer."
    )
    errors: list[IdentityError]


@strawberry.type
class RevokeServiceAccountPayload:
    revoked_client_id: str | None
    errors: list[IdentityError]


async def create_service_account(
    info: strawberry.Info[Context, None], input: CreateServiceAccountInput
) -> CreateServiceAccountPayload:
    try:
        admin = require_admin(info.context)
        created = await flows.create_service_account(
            info.context.runtime,
            tenant=admin.tenant,
            client_id=input.client_id,
            name=input.name,
            issue_secret=input.issue_secret,
            actor=admin.actor,
        )
    except AccordError as exc:
        return CreateServiceAccountPayload(
            service_account=None, client_secret=None, errors=[IdentityError.of(exc)]
        )
    return CreateServiceAccountPayload(
        service_account=ServiceAccountType.from_model(created.account),
        client_secret=created.secret,
        errors=[],
    )


async def revoke_service_account(
    info: strawberry.Info[Context, None], client_id: str
) -> RevokeServiceAccountPayload:
    try:
        admin = require_admin(info.context)
        await flows.revoke_service_account(
            info.context.runtime, tenant=admin.tenant, client_id=client_id, actor=admin.actor
        )
    except AccordError as exc:
        return RevokeServiceAccountPayload(revoked_client_id=None, errors=[IdentityError.of(exc)])
    return RevokeServiceAccountPayload(revoked_client_id=client_id, errors=[])
