"""Expected failures of identity mutations: ``errors: [IdentityError!]!``."""

from __future__ import annotations

from enum import Enum

import strawberry

from accord.platform.errors import AccordError, ErrorCode


@strawberry.enum(name="IdentityErrorCode")
class IdentityErrorCode(Enum):
    UNAUTHENTICATED = ErrorCode.UNAUTHENTICATED.value
    FORBIDDEN = ErrorCode.FORBIDDEN.value
    NOT_FOUND = ErrorCode.NOT_FOUND.value
    BAD_USER_INPUT = ErrorCode.BAD_USER_INPUT.value
    CONFLICT = ErrorCode.CONFLICT.value
    TENANT_UNAVAILABLE = ErrorCode.TENANT_UNAVAILABLE.value
    RATE_LIMITED = ErrorCode.RATE_LIMITED.value
    INTERNAL = ErrorCode.INTERNAL.value


@strawberry.type
class IdentityError:
    field: str | None = strawberry.field(description="The input field to fix, if one is to blame.")
    message: str
    code: IdentityErrorCode
    reason: str = strawberry.field(description="The precise reason, e.g. LAST_ADMIN.")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def identity_error(exc: AccordError) -> IdentityError:
    return IdentityError(
        field=_camel(exc.field) if exc.field else None,
        message=exc.message,
        code=IdentityErrorCode(exc.code.value),
        reason=exc.reason,
    )
