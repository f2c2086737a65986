"""Expected failures of joint audit mutations, Saleor style: ``errors: [JointAuditError!]!``."""

from __future__ import annotations

from enum import Enum

import strawberry

from accord.platform.errors import AccordError, ErrorCode


@strawberry.enum(name="JointAuditErrorCode")
class JointAuditErrorCode(Enum):
    UNAUTHENTICATED = ErrorCode.UNAUTHENTICATED.value
    FORBIDDEN = ErrorCode.FORBIDDEN.value
    NOT_FOUND = ErrorCode.NOT_FOUND.value
    BAD_USER_INPUT = ErrorCode.BAD_USER_INPUT.value
    CONFLICT = ErrorCode.CONFLICT.value
    TENANT_UNAVAILABLE = ErrorCode.TENANT_UNAVAILABLE.value
    RATE_LIMITED = ErrorCode.RATE_LIMITED.value
    INTERNAL = ErrorCode.INTERNAL.value


@strawberry.type(name="JointAuditError")
class JointAuditError:
    field: str | None = strawberry.field(description="The input field to fix, if one is to blame.")
    message: str
    code: JointAuditErrorCode
    reason: str = strawberry.field(
        description="The precise reason, e.g. AUDITEE_CANNOT_VERIFY or MEMBERSHIP_EXPIRED."
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def audit_error(exc: AccordError) -> JointAuditError:
    return JointAuditError(
        field=_camel(exc.field) if exc.field else None,
        message=exc.message,
        code=JointAuditErrorCode(exc.code.value),
        reason=exc.reason,
    )
