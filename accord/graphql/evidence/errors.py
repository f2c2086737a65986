"""Expected failures of evidence mutations, Saleor style: ``errors: [EvidenceError!]!``."""

from __future__ import annotations

from enum import Enum

import strawberry

from accord.platform.errors import AccordError, ErrorCode


@strawberry.enum(name="EvidenceErrorCode")
class EvidenceErrorCode(Enum):
    UNAUTHENTICATED = ErrorCode.UNAUTHENTICATED.value
    FORBIDDEN = ErrorCode.FORBIDDEN.value
    NOT_FOUND = ErrorCode.NOT_FOUND.value
    BAD_USER_INPUT = ErrorCode.BAD_USER_INPUT.value
    CONFLICT = ErrorCode.CONFLICT.value
    TENANT_UNAVAILABLE = ErrorCode.TENANT_UNAVAILABLE.value
    RATE_LIMITED = ErrorCode.RATE_LIMITED.value
    INTERNAL = ErrorCode.INTERNAL.value


@strawberry.type(name="EvidenceError")
class EvidenceError:
    field: str | None = strawberry.field(description="The input field to fix, if one is to blame.")
    message: str
    code: EvidenceErrorCode
    reason: str = strawberry.field(
        description="The precise reason, e.g. EVIDENCE_TOO_LARGE or EVIDENCE_TYPE_NOT_ALLOWED."
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def evidence_error(exc: AccordError) -> EvidenceError:
    return EvidenceError(
        field=_camel(exc.field) if exc.field else None,
        message=exc.message,
        code=EvidenceErrorCode(exc.code.value),
        reason=exc.reason,
    )
