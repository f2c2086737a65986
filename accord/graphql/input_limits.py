"""Declared limits of every mutation's inputs: lengths, counts, date ranges, JSON sizes.

A limit belongs to a *name*: an argument or input field called ``reference`` is a
reference wherever it appears, so the same concept has the same bound across mutations,
and a mutation added with a known name is covered at once. ``EXCEPTIONS`` overrides a
name at one schema coordinate (``Type.field`` or ``Mutation.field(argument:)``).

``declare_limits`` checks, when a schema is built, that every String, ID, JSON, Date or
DateTime and every list among the mutations' inputs has a limit of the matching kind, and
appends the limit to its description (so it is in the SDL and in introspection).
``input_limit_errors`` refuses a mutation whose arguments (literals or variables) break
one, before any resolver runs: BAD_USER_INPUT with a precise reason and the path of the
field (``input.actions[2].title``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    OperationType,
    Undefined,
    get_named_type,
    get_operation_ast,
    value_from_ast_untyped,
)

from accord.graphql.documents import root_fields
from accord.platform.errors import ErrorCode


@dataclass(frozen=True)
class Text:
    max_length: int

    def describe(self) -> str:
        return f"At most {self.max_length} characters."


@dataclass(frozen=True)
class Dates:
    earliest: date
    latest: date

    def describe(self) -> str:
        return f"From {self.earliest} to {self.latest}."


@dataclass(frozen=True)
class Json:
    max_bytes: int
    max_depth: int

    def describe(self) -> str:
        return f"At most {self.max_bytes} bytes as JSON, nested at most {self.max_depth} deep."


@dataclass(frozen=True)
class Items:
    max_items: int
    item: Text | None = None
    unique: bool = False

    def describe(self) -> str:
        text = f"At most {self.max_items} items" + (", no duplicates" if self.unique else "")
        if self.item is not None:
            text += f"; each at most {self.item.max_length} characters"
        return text + "."


Limit = Text | Dates | Json | Items

GLOBAL_ID = Text(200)
SLUG = Text(64)
SUBJECT = Text(200)
PROCESS = Text(100)
REFERENCE = Text(100)
TITLE = Text(300)
NAME = Text(200)
LONG_TEXT = Text(20_000)
CLAUSE_KEYS = Items(200, item=Text(100), unique=True)
#: Records of compliance work: nothing before the Unix epoch, nothing two centuries out.
DAYS = Dates(date(1970, 1, 1), date(2199, 12, 31))

BY_NAME: Mapping[str, Limit] = {
    # ids of records, and who and where
    **dict.fromkeys(("id", "findingId", "auditId", "capaId", "reviewId"), GLOBAL_ID),
    **dict.fromkeys(
        ("tenant", "to", "auditedTenant", "leadTenant", "verifierTenant", "ownerTenant"), SLUG
    ),
    **dict.fromkeys(("owner", "subject", "leadAuditor", "verifierSubject"), SUBJECT),
    **dict.fromkeys(("process", "partnersProcess"), PROCESS),
    "role": Text(100),
    # what a record says
    "reference": REFERENCE,
    "title": TITLE,
    "programme": NAME,
    **dict.fromkeys(
        ("response", "reason", "criteria", "condition", "cause", "scope", "containment"),
        LONG_TEXT,
    ),
    "text": LONG_TEXT,
    "externalInternalIssues": LONG_TEXT,
    "minutes": Text(100_000),
    "rootCause": Json(max_bytes=64 * 1024, max_depth=8),
    "url": Text(2048),
    "secret": Text(256),
    "jws": Text(8192),
    # identity: issuers, members, service accounts, signing keys
    "issuer": Text(2048),
    "audience": Text(256),
    "algorithms": Items(5, item=Text(16), unique=True),
    "displayName": NAME,
    "email": Text(320),
    "roles": Items(10, item=Text(64), unique=True),
    "clientId": Text(200),
    "name": NAME,
    "kid": Text(200),
    "alg": Text(16),
    "jwk": Json(max_bytes=4096, max_depth=2),
    # lists
    "clauseKeys": CLAUSE_KEYS,
    "findingIds": Items(100, item=GLOBAL_ID, unique=True),
    "standards": Items(20, item=Text(64), unique=True),
    "requiredEvidenceTypes": Items(20, item=Text(100), unique=True),
    "decisions": Items(100),
    "requiredSignatories": Items(50),
    "actions": Items(100),
    # days
    **dict.fromkeys(
        (
            *("raisedAt", "responseDueAt", "dueAt", "windowStart", "windowEnd"),
            *("validFrom", "validUntil", "periodStart", "periodEnd"),
        ),
        DAYS,
    ),
}
EXCEPTIONS: Mapping[str, Limit] = {}

_TEXT_SCALARS = {"String", "ID"}
_DATE_SCALARS = {"Date", "DateTime"}
LIMITED_SCALARS = frozenset({*_TEXT_SCALARS, *_DATE_SCALARS, "JSON"})


def limit_of(coordinate: str, name: str) -> Limit | None:
    return EXCEPTIONS.get(coordinate) or BY_NAME.get(name)


def needs_limit(type_: GraphQLInputType) -> bool:
    """Whether an input of this type must declare a limit: a list, or unbounded text."""
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    return isinstance(inner, GraphQLList) or get_named_type(inner).name in LIMITED_SCALARS


def _fits(limit: Limit, type_: GraphQLInputType) -> bool:
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    named = get_named_type(inner).name
    if isinstance(limit, Items):
        is_text = named in _TEXT_SCALARS
        return isinstance(inner, GraphQLList) and (limit.item is not None) == is_text
    if isinstance(inner, GraphQLList):
        return False
    if isinstance(limit, Text):
        return named in _TEXT_SCALARS
    if isinstance(limit, Dates):
        return named in _DATE_SCALARS
    return named == "JSON"


def mutation_inputs(schema: GraphQLSchema) -> Iterator[tuple[str, str, Any]]:
    """(coordinate, name, argument or input field) of every mutation's arguments and of
    the fields of every input type they reach."""
    mutation = schema.mutation_type
    if mutation is None:
        return
    pending: list[GraphQLInputObjectType] = []
    for field_name, field in mutation.fields.items():
        for name, argument in field.args.items():
            yield f"Mutation.{field_name}({name}:)", name, argument
            pending.append(get_named_type(argument.type))
    seen: set[str] = set()
    while pending:
        type_ = pending.pop()
        if not isinstance(type_, GraphQLInputObjectType) or type_.name in seen:
            continue
        seen.add(type_.name)
        for name, input_field in type_.fields.items():
            yield f"{type_.name}.{name}", name, input_field
            pending.append(get_named_type(input_field.type))


def declare_limits(schema: GraphQLSchema) -> None:
    """Append each mutation input's limit to its description; fail on a missing one."""
    missing, mismatched = [], []
    for coordinate, name, item in mutation_inputs(schema):
        limit = limit_of(coordinate, name)
        if not needs_limit(item.type):
            continue  # an enum, a number, a UUID: bounded by its type
        if limit is None:
            missing.append(coordinate)
            continue
        if not _fits(limit, item.type):
            mismatched.append(coordinate)
            continue
        note = limit.describe()
        if note not in (item.description or ""):
            item.description = f"{item.description} {note}" if item.description else note
    if missing or mismatched:
        raise TypeError(
            f"mutation inputs without a declared limit: {missing}; "
            f"with a limit of the wrong kind: {mismatched} (see accord.graphql.input_limits)"
        )


# -- enforcement ----------------------------------------------------------------------


class _Refusal(Exception):
    def __init__(self, reason: str, path: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.path = path
        self.message = message


def _check_text(limit: Text, value: Any, path: str) -> None:
    if isinstance(value, str) and len(value) > limit.max_length:
        raise _Refusal(
            "TOO_LONG",
            path,
            f"{path} has {len(value)} characters; at most {limit.max_length} are allowed.",
        )


def _day(value: Any, scalar: str) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return (
            datetime.fromisoformat(value).date()
            if scalar == "DateTime"
            else date.fromisoformat(value)
        )
    except ValueError:
        return None  # not a date at all: the scalar's own parsing refuses it


def _check_value(limit: Limit | None, type_: GraphQLInputType, value: Any, path: str) -> None:
    """``value`` (plain JSON, as sent) against ``limit`` and the limits inside ``type_``."""
    if value is None or value is Undefined:
        return
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(inner, GraphQLList):
        values = value if isinstance(value, list) else [value]
        if isinstance(limit, Items):
            if len(values) > limit.max_items:
                raise _Refusal(
                    "TOO_MANY_ITEMS",
                    path,
                    f"{path} has {len(values)} items; at most {limit.max_items} are allowed.",
                )
            for index, element in enumerate(values):
                if limit.item is not None:
                    _check_text(limit.item, element, f"{path}[{index}]")
            if limit.unique:
                texts = [json.dumps(v, sort_keys=True) for v in values]
                if len(set(texts)) != len(texts):
                    raise _Refusal(
                        "DUPLICATE_ITEMS", path, f"{path} names the same item more than once."
                    )
        for index, element in enumerate(values):
            _check_value(None, inner.of_type, element, f"{path}[{index}]")
        return
    named = get_named_type(inner)
    if isinstance(named, GraphQLInputObjectType):
        if isinstance(value, Mapping):
            for name, input_field in named.fields.items():
                field_limit = limit_of(f"{named.name}.{name}", name)
                _check_value(field_limit, input_field.type, value.get(name), f"{path}.{name}")
        return
    if isinstance(limit, Text):
        _check_text(limit, value, path)
    elif isinstance(limit, Dates) and isinstance(named, GraphQLScalarType):
        day = _day(value, named.name)
        if day is not None and not limit.earliest <= day <= limit.latest:
            raise _Refusal(
                "DATE_OUT_OF_RANGE",
                path,
                f"{path} is {day}; it must fall from {limit.earliest} to {limit.latest}.",
            )
    elif isinstance(limit, Json):
        _check_json(limit, value, path)


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether decoded JSON ``value`` nests arrays and objects more than ``limit`` deep
    (iteratively: the values it is asked about are too deep to recurse into)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def _check_json(limit: Json, value: Any, path: str) -> None:
    # The request's own JSON depth is bounded (MAX_JSON_DEPTH), so dumping it is safe.
    size = len(json.dumps(value, separators=(",", ":")).encode())
    if size > limit.max_bytes:
        raise _Refusal(
            "JSON_TOO_LARGE", path, f"{path} has {size} bytes; at most {limit.max_bytes}."
        )
    if json_depth_exceeds(value, limit.max_depth):
        raise _Refusal("JSON_TOO_DEEP", path, f"{path} is nested more than {limit.max_depth} deep.")


def input_limit_errors(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any],
) -> list[GraphQLError]:
    """One error per root field of the mutation to run whose arguments break a limit
    (a valid ``document``; values of the wrong type are left to GraphQL's coercion)."""
    operation = get_operation_ast(document, operation_name)
    mutation = schema.mutation_type
    if operation is None or operation.operation != OperationType.MUTATION or mutation is None:
        return []
    values = dict(variables)
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values and definition.default_value is not None:
            values[name] = value_from_ast_untyped(definition.default_value)
    errors = []
    for node in root_fields(document, operation):
        if node.name.value not in mutation.fields:
            continue
        field_name = node.name.value
        arguments = mutation.fields[field_name].args
        try:
            for argument in node.arguments or ():
                name = argument.name.value
                value = value_from_ast_untyped(argument.value, values)
                limit = limit_of(f"Mutation.{field_name}({name}:)", name)
                _check_value(limit, arguments[name].type, value, name)
        except _Refusal as refusal:
            extensions = {
                "code": ErrorCode.BAD_USER_INPUT.value,
                "reason": refusal.reason,
                "field": refusal.path,
            }
            errors.append(GraphQLError(refusal.message, node, extensions=extensions))
    return errors
