"""Identity mutations, one concept per file; each returns a payload with ``errors``."""

from __future__ import annotations

import strawberry

from accord.graphql.identity.mutations.members import (
    MemberPayload,
    RemoveMemberPayload,
    add_member,
    change_member_roles,
    remove_member,
)
from accord.graphql.identity.mutations.providers import (
    RegisterIdentityProviderPayload,
    RemoveIdentityProviderPayload,
    register_identity_provider,
    remove_identity_provider,
)
from accord.graphql.identity.mutations.service_accounts import (
    CreateServiceAccountPayload,
    RevokeServiceAccountPayload,
    create_service_account,
    revoke_service_account,
)
from accord.graphql.identity.mutations.signing_keys import (
    RotateSigningKeyPayload,
    SigningKeyPayload,
    register_signing_key,
    revoke_signing_key,
    rotate_signing_key,
)


@strawberry.type
class IdentityMutations:
    register_identity_provider: RegisterIdentityProviderPayload = strawberry.mutation(
        resolver=register_identity_provider,
        description="Trust an OIDC issuer for your tenant, configured by discovery (tenant admin).",
    )
    remove_identity_provider: RemoveIdentityProviderPayload = strawberry.mutation(
        resolver=remove_identity_provider,
        description="Stop trusting an issuer; its tokens are refused at once (tenant admin).",
    )
    add_member: MemberPayload = strawberry.mutation(
        resolver=add_member, description="Let a subject of your IdPs sign in (tenant admin)."
    )
    change_member_roles: MemberPayload = strawberry.mutation(
        resolver=change_member_roles,
        description="Replace a member's roles; one tenant admin always stays (tenant admin).",
    )
    remove_member: RemoveMemberPayload = strawberry.mutation(
        resolver=remove_member,
        description="End a membership: no sign-in, its signing keys revoked (tenant admin).",
    )
    create_service_account: CreateServiceAccountPayload = strawberry.mutation(
        resolver=create_service_account,
        description="Register a connector's OAuth2 client (tenant admin).",
    )
    revoke_service_account: RevokeServiceAccountPayload = strawberry.mutation(
        resolver=revoke_service_account,
        description="Remove a service account; its tokens are refused at once (tenant admin).",
    )
    register_signing_key: SigningKeyPayload = strawberry.mutation(
        resolver=register_signing_key,
        description="Register the public half of your signing key; sign with its kid.",
    )
    rotate_signing_key: RotateSigningKeyPayload = strawberry.mutation(
        resolver=rotate_signing_key,
        description="Replace one of your signing keys; the old one verifies what it signed.",
    )
    revoke_signing_key: SigningKeyPayload = strawberry.mutation(
        resolver=revoke_signing_key,
        description="Revoke your signing key (or, as tenant admin, a member's).",
    )
