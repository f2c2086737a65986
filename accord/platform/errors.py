"""Errors that are part of Accord's contract: every expected failure carries a code.

The top-level codes are the gateway's (UNAUTHENTICATED … INTERNAL); each domain adds a
precise ``reason`` of its own so that scripts can branch on it and people can act on it.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    CONFLICT = "CONFLICT"
    TENANT_UNAVAILABLE = "TENANT_UNAVAILABLE"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL = "INTERNAL"


class AccordError(Exception):
    """An expected failure with a stable code, a precise reason and an optional field."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        field: str | None = None,
        code: ErrorCode | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.field = field
        if code is not None:
            self.code = code

    def as_dict(self) -> dict[str, str]:
        out = {"code": self.code.value, "reason": self.reason, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out

    def __str__(self) -> str:
        where = f" [{self.field}]" if self.field else ""
        return f"{self.code.value}/{self.reason}{where}: {self.message}"


class BadInput(AccordError):
    code = ErrorCode.BAD_USER_INPUT


class NotFound(AccordError):
    code = ErrorCode.NOT_FOUND


class Conflict(AccordError):
    code = ErrorCode.CONFLICT


class Forbidden(AccordError):
    code = ErrorCode.FORBIDDEN


class StoreUnavailable(AccordError):
    code = ErrorCode.TENANT_UNAVAILABLE


def describe_failure(exc: BaseException) -> str:
    """What may be stored about an unexpected failure (control plane, run records, logs):
    codes and names, never data.

    An :class:`AccordError` is described by its code, reason and authored message. A
    database error keeps its SQLSTATE and the constraint or table it names, but neither
    its text (PostgreSQL's detail repeats row values) nor its statement's parameters. Any
    other exception keeps only its type: its text may quote whatever it was handed.
    """
    if isinstance(exc, AccordError):
        return str(exc)
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        parts = [f"{type(exc).__name__}: SQLSTATE {sqlstate}"]
        diag = getattr(orig, "diag", None)
        for label in ("constraint_name", "table_name"):
            value = getattr(diag, label, None)
            if value:
                parts.append(f"{label.removesuffix('_name')} {value}")
        return ", ".join(parts)
    return type(exc).__name__
