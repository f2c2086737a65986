"""Expected failures of management review mutations, Saleor style:
``errors: [ManagementReviewError!]!``. A refused signature keeps the signing service's
reason (FOREIGN_KEY, DIGEST_MISMATCH, STALE_DIGEST, …) next to its code."""

from __future__ import annotations

from enum import Enum

import strawberry

from accord.platform.errors import AccordError, ErrorCode


@strawberry.enum(name="ManagementReviewErrorCode")
class ManagementReviewErrorCode(Enum):
    UNAUTHENTICATED = ErrorCode.UNAUTHENTICATED.value
    FORBIDDEN = ErrorCode.FORBIDDEN.value
    NOT_FOUND = ErrorCode.NOT_FOUND.value
    BAD_USER_INPUT = ErrorCode.BAD_USER_INPUT.value
    CONFLICT = ErrorCode.CONFLICT.value
    TENANT_UNAVAILABLE = ErrorCode.TENANT_UNAVAILABLE.value
    RATE_LIMITED = ErrorCode.RATE_LIMITED.value
    INTERNAL = ErrorCode.INTERNAL.value


@strawberry.type(name="ManagementReviewError")
class ManagementReviewError:
    field: str | None = strawberry.field(description="The input field to fix, if one is to blame.")
    message: str
    code: ManagementReviewErrorCode
    reason: str = strawberry.field(
        description="The precise reason, e.g. INPUTS_NOT_COMPILED, FOREIGN_KEY or STALE_DIGEST."
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def review_error(exc: AccordError) -> ManagementReviewError:
    return ManagementReviewError(
        field=_camel(exc.field) if exc.field else None,
        message=exc.message,
        code=ManagementReviewErrorCode(exc.code.value),
        reason=exc.reason,
    )
