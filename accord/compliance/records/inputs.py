"""How services read their input: a schema instance or a plain mapping (GraphQL input, a
connector's mapped record); invalid input becomes one ``BadInput`` naming the field and a
reason code. Validators raise ``custom_error("REASON_CODE", ...)`` to set the code.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from accord.compliance.vocab import ClauseKey
from accord.platform.errors import BadInput
from accord.platform.naming import validate_slug

E = TypeVar("E", bound=StrEnum)
M = TypeVar("M", bound=BaseModel)

_BUILTIN_REASONS = {
    "missing": "REQUIRED",
    "enum": "INVALID_CHOICE",
    "literal_error": "INVALID_CHOICE",
    "union_tag_invalid": "INVALID_CHOICE",
    "union_tag_not_found": "REQUIRED",
    "string_too_short": "EMPTY",
    "too_short": "TOO_FEW",
    "too_long": "TOO_MANY",
    "extra_forbidden": "UNKNOWN_FIELD",
    "greater_than": "OUT_OF_RANGE",
    "greater_than_equal": "OUT_OF_RANGE",
    "less_than": "OUT_OF_RANGE",
    "less_than_equal": "OUT_OF_RANGE",
}


def reason_code(error: ErrorDetails) -> str:
    """The reason code of one pydantic error: a validator's own, or the builtin's."""
    kind = error["type"]
    return kind if kind.isupper() else _BUILTIN_REASONS.get(kind, "INVALID_VALUE")


def _field(error: ErrorDetails) -> str | None:
    return ".".join(str(part) for part in error["loc"]) or None


def parse_input(schema: type[M], data: M | Mapping[str, Any]) -> M:
    """``data`` as a valid ``schema``, or ``BadInput`` for its first problem (all listed)."""
    if isinstance(data, schema):
        return data
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        message = "; ".join(f"{_field(e) or schema.__name__}: {e['msg']}" for e in errors)
        raise BadInput(message, reason=reason_code(first), field=_field(first)) from None


class InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


#: A required text that is not blank once trimmed (reason ``EMPTY`` otherwise).
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def choice(enum: type[E], value: E | str, *, field: str) -> E:
    """``value`` as a member of ``enum``, or ``BadInput(INVALID_CHOICE)`` naming ``field``."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise BadInput(
            f"{value!r} is not one of: {allowed}.", reason="INVALID_CHOICE", field=field
        ) from None


def custom_error(reason: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(reason, message)


@lru_cache(maxsize=4096)
def _malformed(value: str) -> str | None:
    """Why ``value`` is not a clause key, or None (imports repeat a few keys many times)."""
    try:
        ClauseKey.parse(value)
    except ValueError as exc:
        return str(exc)
    return None


def clause_keys(values: list[str]) -> list[str]:
    """Well-formed, de-duplicated clause keys in their given order (the catalog decides
    whether they exist: ``catalog.service.check_clauses``)."""
    for value in values:
        problem = _malformed(value)
        if problem is not None:
            raise custom_error("BAD_CLAUSE_KEY", problem)
    return list(dict.fromkeys(values))


def tenant_slug(value: str) -> str:
    try:
        return validate_slug(value)
    except BadInput as exc:
        raise custom_error("BAD_TENANT", exc.message) from None


def required_text(value: str | None, reason: str, what: str) -> str:
    if value is None or not value.strip():
        raise custom_error(reason, f"{what} must not be empty")
    return value.strip()
