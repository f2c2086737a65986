"""Refused attempts in the record owner's event log.

A refusal raises with a reason and changes nothing: the caller's transaction rolls back,
so the caller writes the attempt with ``record_refusal`` in a transaction of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.records.history import jsonable
from accord.platform.errors import AccordError
from accord.platform.eventlog import append_event


async def record_refusal(
    *,
    session: AsyncSession,
    actor: str,
    record_type: str,
    record_id: uuid.UUID,
    attempt: str,
    error: AccordError,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Write a refused attempt to the record owner's event log — in a transaction of its
    own, since the attempt's was rolled back."""
    change: dict[str, Any] = {
        "attempt": attempt,
        "code": error.code.value,
        "reason": error.reason,
        "message": error.message,
    }
    if error.field is not None:
        change["field"] = error.field
    if detail:
        change["detail"] = jsonable(dict(detail))
    await append_event(
        session,
        actor=actor,
        action=f"{record_type}.refused",
        record_type=record_type,
        record_id=str(record_id),
        change=change,
    )
