"""Identity objects as the API shows them to their own tenant."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.scalars import JSON

from accord.tenants.identity.member_keys import key_state
from accord.tenants.identity.models import IdentityProvider, MemberKey, ServiceAccount
from accord.tenants.models import Member


@strawberry.type(name="IdentityProvider", description="An OIDC issuer your tenant trusts.")
class IdentityProviderType:
    issuer: str
    audience: str = strawberry.field(description="The `aud` its tokens must carry.")
    jwks_uri: str | None
    algorithms: list[str]
    discovery_url: str | None = strawberry.field(
        description="The discovery document it was registered from."
    )
    created_at: datetime

    @classmethod
    def from_model(cls, provider: IdentityProvider) -> IdentityProviderType:
        return cls(
            issuer=provider.issuer,
            audience=provider.audience,
            jwks_uri=provider.jwks_url,
            algorithms=list(provider.algorithms),
            discovery_url=provider.discovery_url,
            created_at=provider.created_at,
        )


@strawberry.type(name="Member", description="A person of your tenant who may sign in.")
class MemberType:
    subject: str = strawberry.field(description="The `sub` of the member's tokens.")
    display_name: str
    email: str | None
    roles: list[str]
    created_at: datetime

    @classmethod
    def from_model(cls, member: Member) -> MemberType:
        return cls(
            subject=member.subject,
            display_name=member.display_name,
            email=member.email,
            roles=sorted(member.roles),
            created_at=member.created_at,
        )


@strawberry.type(
    name="ServiceAccount", description="A connector's or script's OAuth2 client of your tenant."
)
class ServiceAccountType:
    client_id: str = strawberry.field(description="The `sub` (and `client_id`) of its tokens.")
    name: str
    has_secret: bool = strawberry.field(description="Whether Accord issued it a secret.")
    created_at: datetime

    @classmethod
    def from_model(cls, account: ServiceAccount) -> ServiceAccountType:
        return cls(
            client_id=account.client_id,
            name=account.name,
            has_secret=account.secret_hash is not None,
            created_at=account.created_at,
        )


@strawberry.enum(name="SigningKeyState")
class SigningKeyStateEnum(Enum):
    VALID = strawberry.enum_value("valid", description="Signatures made now verify with it.")
    RETIRING = strawberry.enum_value(
        "retiring",
        description="Rotated: still valid until the end of its overlap window, then not.",
    )
    REVOKED = strawberry.enum_value(
        "revoked",
        description="No longer valid; signatures made while it was valid still verify.",
    )


@strawberry.type(
    name="SigningKey",
    description="A member's public signing key; sign with its `kid` in the JWS header.",
)
class SigningKeyType:
    kid: str = strawberry.field(description="The key id a signature must name.")
    alg: str
    jwk: JSON = strawberry.field(description="The public JWK.")
    not_before: datetime = strawberry.field(description="Valid from (its registration).")
    not_after: datetime | None = strawberry.field(
        description="Valid until (revocation or the end of a rotation's overlap)."
    )
    state: SigningKeyStateEnum

    @classmethod
    def from_model(cls, key: MemberKey) -> SigningKeyType:
        return cls(
            kid=key.kid,
            alg=key.alg,
            jwk=JSON(dict(key.jwk)),
            not_before=key.created_at,
            not_after=key.revoked_at,
            state=SigningKeyStateEnum(key_state(key)),
        )
