"""What every record listing shares: the keyset page, the by-id read, filters, the own gate.

Every read goes through ``list_records`` (both gates, the granted level, the grantors'
access logs); a listing pushes its conditions, order and cursor into every owner's branch.
A summary-level owner is left out of a listing filtered or sorted on a column it
withholds (see ``accord.compliance.sharing.federation``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from enum import Enum
from typing import Any, NewType, TypeVar

import strawberry
from strawberry.types.scalar import ScalarDefinition

from accord.compliance.sharing.federation import (
    Condition,
)
from accord.compliance.sharing.fields import SUMMARY_FIELDS
from accord.compliance.sharing.reads import SharedRecord
from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.graphql.findings.types import SharingLevelEnum
from accord.graphql.listing import BY_ID, Process, connection_page, find_record
from accord.graphql.relay import GlobalId
from accord.platform import clock
from accord.platform.errors import Forbidden
from accord.policies.schemas import Resource
from accord.tenants.agreements.models import SharingLevel
from accord.tenants.identity.principal import Principal

__all__ = ["BY_ID", "Process", "SharingLevelEnum", "connection_page", "find_record"]

E = TypeVar("E")

#: Integers beyond GraphQL's 32-bit ``Int`` (e.g. file sizes); mapped in the schema config.
BigInt = NewType("BigInt", int)
SCALARS: Mapping[object, ScalarDefinition] = {
    BigInt: strawberry.scalar(
        name="BigInt",
        description="An integer that may exceed 32 bits, sent as a JSON string of its decimal "
        "digits (JavaScript numbers are exact only up to 2^53); taken as a string or a number.",
        serialize=str,
        parse_value=int,
    )
}
Info = strawberry.Info[Context, None]

WITHHELD = "Null when the owner shares only a summary with you."


def today() -> date:
    return clock.today()


def opt(enum: Any, value: object) -> Any:
    return None if value is None else enum(value)


def visible(record_type: str, level: SharingLevel, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields the level shows (the read already withholds the rest; this holds anyway)."""
    if level is SharingLevel.FULL:
        return fields
    shown = SUMMARY_FIELDS[record_type]
    return {k: v for k, v in fields.items() if k in shown}


def level_of(record: SharedRecord) -> SharingLevel:
    return SharingLevel(record["level"])


def global_id(type_name: str, record: SharedRecord) -> strawberry.ID:
    return GlobalId(type_name, record["owner"], record["fields"]["id"]).encode()


def _plain(value: object) -> object:
    return value.value if isinstance(value, Enum) else value


class Conditions:
    """A filter's parts as conditions; every given part must match."""

    def __init__(self) -> None:
        self.found: list[Condition] = []

    def among(self, column: str, values: Sequence[object] | None) -> Conditions:
        if values:
            self.found.append(Condition(column, "in", [_plain(v) for v in values]))
        return self

    def equal(self, column: str, value: object) -> Conditions:
        if value is not None:
            self.found.append(Condition(column, "eq", _plain(value)))
        return self

    def between(self, column: str, low: object, high: object) -> Conditions:
        if low is not None:
            self.found.append(Condition(column, "ge", low))
        if high is not None:
            self.found.append(Condition(column, "le", high))
        return self

    def clauses(self, column: str, clause: str | None, standard: str | None) -> Conditions:
        """A clause key the record names, and/or any clause of a standard."""
        if clause:
            self.found.append(Condition(column, "contains", clause))
        if standard:
            self.found.append(Condition(column, "prefix", standard.rstrip("/") + "/"))
        return self

    def overdue(
        self,
        due: str,
        state: str,
        overdue: bool | None,
        *,
        today: date,
        states: Iterable[str],
        done: Iterable[str],
    ) -> Conditions:
        """Past ``due`` and not ``done`` (True), or the opposite (False); ``states`` are
        every state of the record type."""
        finished = sorted(done)
        if overdue is True:
            self.found.append(Condition(due, "lt", today))
            self.found.append(Condition(state, "in", [s for s in states if s not in finished]))
        elif overdue is False:
            not_overdue = (
                Condition(due, "is_null", None),
                Condition(due, "ge", today),
                Condition(state, "in", finished),
            )
            self.found.append(Condition(due, "any", not_overdue))
        return self

    def add(self, condition: Condition) -> Conditions:
        self.found.append(condition)
        return self


def normalised(wanted: object) -> dict[str, object]:
    """A filter input as plain, order-free values (part of a cursor's query fingerprint)."""
    out: dict[str, object] = {}
    for f in dataclasses.fields(wanted):  # type: ignore[arg-type]
        value = getattr(wanted, f.name)
        if isinstance(value, list):
            out[f.name] = sorted(str(_plain(v)) for v in value)
        else:
            out[f.name] = None if value is None else str(_plain(value))
    return out


def require_own_gate(
    context: Context, action: str, record_types: Iterable[str], *, what: str
) -> tuple[Principal, str, frozenset[str]]:
    """The caller's own tenant, and the record types the action gate lets it ``action``
    there; FORBIDDEN when it allows none."""
    principal, own = require_tenant(context)
    allowed = frozenset(
        t
        for t in record_types
        if context.authorizer.authorize(principal, action, Resource(own, t)).allowed
    )
    if not allowed:
        raise Forbidden(f"You may not {what}.", reason="ACTION_DENIED")
    return principal, own, allowed
