"""Relay global ids: opaque, and naming the tenant that owns the record.

``base64url("Finding:northwind:<uuid>")``. Decoding checks the shape, the type, the slug and
the UUID and refuses anything else with BAD_USER_INPUT (field ``id``); whether the record
exists and may be seen is decided by the read path, which answers NOT_FOUND.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass

import strawberry

from accord.platform.errors import AccordError, BadInput
from accord.platform.naming import validate_slug


@strawberry.interface(description="An object with a global id (Relay).")
class Node:
    id: strawberry.ID = strawberry.field(
        description="Opaque global id; it names the owning tenant, so it is stable across stores."
    )


def _refuse(message: str, reason: str = "BAD_ID") -> BadInput:
    return BadInput(message, reason=reason, field="id")


def _text_of(value: str) -> str:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, ValueError):
        raise _refuse("Not a global id.") from None


def type_name_of(value: str) -> str:
    """The type a global id names (not yet checked further)."""
    return _text_of(value).split(":", 1)[0]


@dataclass(frozen=True, slots=True)
class GlobalId:
    type_name: str
    tenant: str
    record_id: uuid.UUID

    def encode(self) -> strawberry.ID:
        raw = f"{self.type_name}:{self.tenant}:{self.record_id}".encode()
        return strawberry.ID(base64.urlsafe_b64encode(raw).decode().rstrip("="))

    @classmethod
    def decode(cls, value: str, *, expected: str) -> GlobalId:
        parts = _text_of(value).split(":")
        if len(parts) != 3:
            raise _refuse("Not a global id.")
        type_name, tenant, record = parts
        if type_name != expected:
            raise _refuse(f"The id is not a {expected} id.", "WRONG_ID_TYPE")
        try:
            validate_slug(tenant)
            record_id = uuid.UUID(record)
        except (AccordError, ValueError):
            raise _refuse("Not a global id.") from None
        return cls(type_name, tenant, record_id)
