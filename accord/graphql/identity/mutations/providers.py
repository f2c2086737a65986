"""``registerIdentityProvider`` (by OIDC discovery) and ``removeIdentityProvider``."""

from __future__ import annotations

import strawberry

from accord.graphql.context import Context
from accord.graphql.errors import IdentityError
from accord.graphql.identity.access import require_admin
from accord.graphql.identity.types import IdentityProviderType
from accord.platform.errors import AccordError
from accord.tenants.identity import flows


@strawberry.input
class RegisterIdentityProviderInput:
    issuer: str = strawberry.field(
        description="The issuer URL; its /.well-known/openid-configuration is read."
    )
    audience: str = strawberry.field(description="The `aud` its tokens carry for Accord.")
    algorithms: list[str] | None = strawberry.field(
        default=None, description="Algorithms to accept; default: every one it advertises."
    )


@strawberry.type
class RegisterIdentityProviderPayload:
    identity_provider: IdentityProviderType | None
    errors: list[IdentityError]


@strawberry.type
class RemoveIdentityProviderPayload:
    removed_issuer: str | None
    errors: list[IdentityError]


async def register_identity_provider(
    info: strawberry.Info[Context, None], input: RegisterIdentityProviderInput
) -> RegisterIdentityProviderPayload:
    try:
        admin = require_admin(info.context)
        provider = await flows.register_identity_provider(
            info.context.runtime,
            tenant=admin.tenant,
            issuer=input.issuer,
            audience=input.audience,
            algorithms=input.algorithms,
            actor=admin.actor,
            # In production the API fetches only https URLs: no probing of local ports.
            allow_loopback=info.context.runtime.settings.env != "prod",
        )
    except AccordError as exc:
        return RegisterIdentityProviderPayload(
            identity_provider=None, errors=[IdentityError.of(exc)]
        )
    node = IdentityProviderType.from_model(provider)
    return RegisterIdentityProviderPayload(identity_provider=node, errors=[])


async def remove_identity_provider(
    info: strawberry.Info[Context, None], issuer: str
) -> RemoveIdentityProviderPayload:
    try:
        admin = require_admin(info.context)
        await flows.remove_identity_provider(
            info.context.runtime, tenant=admin.tenant, issuer=issuer, actor=admin.actor
        )
    except AccordError as exc:
        return RemoveIdentityProviderPayload(removed_issuer=None, errors=[IdentityError.of(exc)])
    return RemoveIdentityProviderPayload(removed_issuer=issuer, errors=[])
