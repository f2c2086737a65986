"""Expected failures of finding mutations, Saleor style: ``errors: [FindingError!]!``."""

from __future__ import annotations

from enum import Enum

import strawberry

from accord.platform.errors import AccordError, ErrorCode


@strawberry.enum(name="FindingErrorCode")
class FindingErrorCode(Enum):
    UNAUTHENTICATED = ErrorCode.UNAUTHENTICATED.value
    FORBIDDEN = ErrorCode.FORBIDDEN.value
    NOT_FOUND = ErrorCode.NOT_FOUND.value
    BAD_USER_INPUT = ErrorCode.BAD_USER_INPUT.value
    CONFLICT = ErrorCode.CONFLICT.value
    TENANT_UNAVAILABLE = ErrorCode.TENANT_UNAVAILABLE.value
    RATE_LIMITED = ErrorCode.RATE_LIMITED.value
    INTERNAL = ErrorCode.INTERNAL.value


@strawberry.type
class FindingError:
    field: str | None = strawberry.field(description="The input field to fix, if one is to blame.")
    message: str
    code: FindingErrorCode
    reason: str = strawberry.field(description="The precise reason, e.g. RESPONSE_REQUIRED.")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def finding_error(exc: AccordError) -> FindingError:
    return FindingError(
        field=_camel(exc.field) if exc.field else None,
        message=exc.message,
        code=FindingErrorCode(exc.code.value),
        reason=exc.reason,
    )
