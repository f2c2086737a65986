"""The columns every record carries, and enumerations stored as checked text.

Every record lives in its owner's tenant schema (models derive from ``TenantBase`` and
``RecordMixin``), has provenance — source system, external id (unique together), fetched
at, content hash — and created/updated by/at.

Enumerations are text columns guarded by a CHECK constraint (``enum_check``) whose values
mirror a Python ``StrEnum``, and they load back as that enum (``TextEnum``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import CheckConstraint, DateTime, Dialect, Text, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

ACCORD_SOURCE = "accord"

E = TypeVar("E", bound=StrEnum)


class RecordMixin:
    """Identity, provenance and authorship columns shared by every record table."""

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    source_system: Mapped[str] = mapped_column(Text, default=ACCORD_SOURCE)
    external_id: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    content_hash: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    updated_by: Mapped[str] = mapped_column(Text)

    #: The name events use for this kind of record, e.g. "finding"; set by each model.
    record_type: ClassVar[str]


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
