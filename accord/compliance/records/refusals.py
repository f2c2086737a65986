"""Refused attempts in the record owner's event log.

A refusal raises with a reason and changes nothing: the caller's transaction rolls back,
so the caller writes the attempt with ``record_refusal`` in a transaction of its own.
This is the one way a refusal is logged, whatever refused it (a gate, a service, a
signature check, a transfer): the entry always carries the attempt, the generic ``code``,
the precise ``reason`` (the value clients see as ``reasonCode``) and the message.
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
    action: str | None = None,
) -> None:
    """Write a refused attempt to the record owner's event log — in a transaction of its
    own, since the attempt's was rolled back. ``detail`` adds what the kind of attempt
    needs kept (never overriding the refusal's own keys); ``action`` is the entry's
    action, ``<record_type>.refused`` unless the log already names it otherwise."""
    change: dict[str, Any] = jsonable(dict(detail)) if detail else {}
    change.update(
        {
            "attempt": attempt,
            "code": error.code.value,
            "reason": error.reason,
            "message": error.message,
        }
    )
    if error.field is not None:
        change["field"] = error.field
    await append_event(
        session,
        actor=actor,
        action=action or f"{record_type}.refused",
        record_type=record_type,
        record_id=str(record_id),
        change=change,
    )
