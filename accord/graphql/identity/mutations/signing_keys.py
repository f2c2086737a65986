"""A member's own signing keys: ``registerSigningKey``, ``rotateSigningKey``,
``revokeSigningKey``. Only the public half is ever sent; a tenant admin may also revoke a
member's key (a lost device), naming the member."""

from __future__ import annotations

from datetime import timedelta

import strawberry
from strawberry.scalars import JSON

from accord.graphql.context import Context
from accord.graphql.errors import IdentityError
from accord.graphql.identity.access import require_admin, require_member
from accord.graphql.identity.types import SigningKeyType
from accord.platform.errors import AccordError, BadInput
from accord.tenants.identity import flows


@strawberry.input
class RegisterSigningKeyInput:
    # Nullable only so that a JSON null is answered as BAD_JWK, like any other non-JWK.
    jwk: JSON | None = strawberry.field(description="The public JWK (OKP Ed25519 or EC P-256).")
    alg: str = strawberry.field(description="Ed25519 or ES256.")


@strawberry.input
class RotateSigningKeyInput:
    kid: str = strawberry.field(description="The key to retire.")
    jwk: JSON | None = strawberry.field(description="The new public JWK.")
    alg: str
    overlap_seconds: int = strawberry.field(
        default=0, description="How long the old key may still sign (0 to 30 days)."
    )


@strawberry.type
class SigningKeyPayload:
    signing_key: SigningKeyType | None
    errors: list[IdentityError]


@strawberry.type
class RotateSigningKeyPayload:
    retired: SigningKeyType | None
    signing_key: SigningKeyType | None = strawberry.field(description="The new key.")
    errors: list[IdentityError]


def _jwk(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise BadInput("A JWK is a JSON object.", reason="BAD_JWK", field="jwk")
    return value


async def register_signing_key(
    info: strawberry.Info[Context, None], input: RegisterSigningKeyInput
) -> SigningKeyPayload:
    try:
        me = require_member(info.context)
        key = await flows.register_signing_key(
            info.context.runtime,
            tenant=me.tenant,
            subject=me.principal.subject,
            jwk=_jwk(input.jwk),
            alg=input.alg,
            actor=me.actor,
        )
    except AccordError as exc:
        return SigningKeyPayload(signing_key=None, errors=[IdentityError.of(exc)])
    return SigningKeyPayload(signing_key=SigningKeyType.from_model(key), errors=[])


async def rotate_signing_key(
    info: strawberry.Info[Context, None], input: RotateSigningKeyInput
) -> RotateSigningKeyPayload:
    try:
        me = require_member(info.context)
        if input.overlap_seconds < 0:
            raise BadInput(
                "A rotation's overlap is 0 to 30 days.", reason="BAD_OVERLAP", field="overlap"
            )
        old, new = await flows.rotate_signing_key(
            info.context.runtime,
            tenant=me.tenant,
            subject=me.principal.subject,
            kid=input.kid,
            jwk=_jwk(input.jwk),
            alg=input.alg,
            overlap=timedelta(seconds=min(input.overlap_seconds, 10**8)),
            actor=me.actor,
        )
    except AccordError as exc:
        return RotateSigningKeyPayload(
            retired=None, signing_key=None, errors=[IdentityError.of(exc)]
        )
    return RotateSigningKeyPayload(
        retired=SigningKeyType.from_model(old),
        signing_key=SigningKeyType.from_model(new),
        errors=[],
    )


async def revoke_signing_key(
    info: strawberry.Info[Context, None], kid: str, subject: str | None = None
) -> SigningKeyPayload:
    try:
        me = require_member(info.context)
        if subject is not None and subject != me.principal.subject:
            me = require_admin(info.context)
        key = await flows.revoke_signing_key(
            info.context.runtime,
            tenant=me.tenant,
            subject=subject or me.principal.subject,
            kid=kid,
            actor=me.actor,
        )
    except AccordError as exc:
        return SigningKeyPayload(signing_key=None, errors=[IdentityError.of(exc)])
    return SigningKeyPayload(signing_key=SigningKeyType.from_model(key), errors=[])
