"""Expected failures of CAPA mutations, Saleor style: ``errors: [CapaError!]!``."""

from __future__ import annotations

from enum import Enum

import strawberry

from accord.platform.errors import AccordError, ErrorCode


@strawberry.enum(name="CapaErrorCode")
class CapaErrorCode(Enum):
    UNAUTHENTICATED = ErrorCode.UNAUTHENTICATED.value
    FORBIDDEN = ErrorCode.FORBIDDEN.value
    NOT_FOUND = ErrorCode.NOT_FOUND.value
    BAD_USER_INPUT = ErrorCode.BAD_USER_INPUT.value
    CONFLICT = ErrorCode.CONFLICT.value
    TENANT_UNAVAILABLE = ErrorCode.TENANT_UNAVAILABLE.value
    RATE_LIMITED = ErrorCode.RATE_LIMITED.value
    INTERNAL = ErrorCode.INTERNAL.value


@strawberry.type(name="CapaError")
class CapaError:
    field: str | None = strawberry.field(description="The input field to fix, if one is to blame.")
    message: str
    code: CapaErrorCode
    reason: str = strawberry.field(
        description="The precise reason, e.g. OWN_PLAN, NOT_ACTION_OWNER or EFFECTIVENESS_NOT_DUE."
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def capa_error(exc: AccordError) -> CapaError:
    return CapaError(
        field=".".join(_camel(part) for part in exc.field.split(".")) if exc.field else None,
        message=exc.message,
        code=CapaErrorCode(exc.code.value),
        reason=exc.reason,
    )
