"""Record plumbing shared by audits, findings, evidence and CAPA.

It lives in the audits package because audits are the root of those packages' dependency
chain (findings reference audits, CAPA reference findings, evidence references both); it is
a candidate for ``accord.compliance.records``.

* ``TextEnum`` + ``enum_check``: enumerations are text columns guarded by a CHECK constraint
  whose values mirror a Python ``StrEnum``, and they load back as that enum.
* ``parse_input``: services accept a schema instance or a plain mapping (GraphQL input, a
  connector's mapped record); invalid input becomes one ``BadInput`` naming the field and a
  reason code. Validators raise ``PydanticCustomError("REASON_CODE", ...)`` to set the code.
* ``ProvenanceIn`` + ``reject_duplicate``: every record's provenance, unique per
  (source_system, external_id), checked before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError
from sqlalchemy import CheckConstraint, Dialect, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeDecorator

from accord.compliance.records import ACCORD_SOURCE, RecordMixin
from accord.compliance.vocab import ClauseKey
from accord.platform.errors import BadInput, Conflict
from accord.platform.naming import validate_slug

E = TypeVar("E", bound=StrEnum)
M = TypeVar("M", bound=BaseModel)

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class TextEnum(TypeDecorator[E], Generic[E]):
    """A ``StrEnum`` stored as text; ``enum_check`` adds the CHECK constraint."""

    impl = Text
    cache_ok = True

    def __init__(self, enum: type[E]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


def enum_check(column: str, enum: type[StrEnum]) -> CheckConstraint:
    """``CHECK (column IN (...))`` named ``ck_<table>_<column>`` by the naming convention."""
    values = ", ".join(f"'{member.value}'" for member in enum)
    return CheckConstraint(f"{column} IN ({values})", name=column, info={"enum": enum})


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


def _reason(error: ErrorDetails) -> str:
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
        raise BadInput(message, reason=_reason(first), field=_field(first)) from None


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
    whether they exist)."""
    for value in values:
        problem = _malformed(value)
        if problem is not None:
            raise custom_error("BAD_CLAUSE_KEY", problem)
    return list(dict.fromkeys(values))


async def check_clauses(
    session: AsyncSession, keys: Sequence[str], *, field: str = "clause_keys"
) -> None:
    """``BadInput`` (UNKNOWN_CLAUSE / UNKNOWN_STANDARD) unless the catalog has every key."""
    # Imported here, not at the top: catalog models may come to use this module's types.
    from accord.compliance.catalog.service import UnknownClauses, require_clauses

    if not keys:
        return
    try:
        await require_clauses(session=session, keys=keys)
    except UnknownClauses as exc:
        raise BadInput(exc.message, reason=exc.reason, field=field) from exc


def tenant_slug(value: str) -> str:
    try:
        return validate_slug(value)
    except BadInput as exc:
        raise custom_error("BAD_TENANT", exc.message) from None


def required_text(value: str | None, reason: str, what: str) -> str:
    if value is None or not value.strip():
        raise custom_error(reason, f"{what} must not be empty")
    return value.strip()


class InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class ProvenanceIn(InputModel):
    """Where a record came from; records created in Accord itself keep the defaults."""

    source_system: str = ACCORD_SOURCE
    external_id: str | None = Field(default=None, validate_default=True)
    fetched_at: AwareDatetime | None = None
    content_hash: str | None = None

    @field_validator("external_id")
    @classmethod
    def _external_id_for_imports(cls, value: str | None, info: ValidationInfo) -> str | None:
        source = info.data.get("source_system", ACCORD_SOURCE)
        if source != ACCORD_SOURCE and not value:
            raise custom_error(
                "EXTERNAL_ID_REQUIRED", f"a record from '{source}' needs its external id"
            )
        return value

    @field_validator("content_hash")
    @classmethod
    def _content_hash(cls, value: str | None) -> str | None:
        if value is not None and not SHA256_RE.match(value.lower()):
            raise custom_error("BAD_HASH", "content_hash must be 64 hexadecimal digits (SHA-256)")
        return None if value is None else value.lower()


def provenance_of(data: ProvenanceIn) -> dict[str, Any]:
    return {
        "source_system": data.source_system,
        "external_id": data.external_id,
        "fetched_at": data.fetched_at,
        "content_hash": data.content_hash,
    }


async def reject_duplicate(
    session: AsyncSession, model: type[RecordMixin], data: ProvenanceIn
) -> None:
    """``Conflict(DUPLICATE_RECORD)`` if ``model`` already holds this source record."""
    if data.external_id is None:
        return
    existing = await session.scalar(
        select(model.id).where(
            model.source_system == data.source_system, model.external_id == data.external_id
        )
    )
    if existing is not None:
        raise Conflict(
            f"{model.record_type} {data.source_system}/{data.external_id} exists already "
            f"(id {existing}).",
            reason="DUPLICATE_RECORD",
            field="external_id",
        )
