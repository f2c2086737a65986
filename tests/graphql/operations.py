"""Operations built from the schema itself, so that a new root field is covered at once.

``root_fields`` lists every field of Query, Mutation and Subscription; ``operation``
writes a document that calls one of them with every argument as a variable, selects the
payload's scalars, ``errors`` and the ``__typename`` of its objects, and fills the
variables with values of the right types (required inputs only, plus the ones a caller
names in ``given``). ``id_slots`` names every ``ID`` and ``UUID`` an operation takes,
arguments and input fields alike.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    build_schema,
    get_named_type,
    is_leaf_type,
)

#: Values that pass validation, by field or argument name (otherwise by type).
HINTS: dict[str, Any] = {
    "clauseKeys": ["iso9001:2015/8.4"],
    "standards": ["iso9001:2015"],
    "standard": "iso9001:2015",
    "reference": "PROBE-1",
    "first": 5,
    "jurisdiction": "DE",
}
SCALARS: dict[str, Any] = {
    "String": "Probe text",
    "Int": 1,
    "Float": 1.0,
    "Boolean": False,
    "Date": "2026-06-01",
    "DateTime": "2026-06-01T00:00:00+00:00",
    "JSON": {},
    "Upload": "not-a-file.pdf",  # a JSON body carries no file; the gates answer first
}
ID_TYPES = frozenset({"ID", "UUID"})


def global_id(text: str) -> str:
    """A relay global id: ``Type:tenant:uuid``, base64url without padding."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


#: Chooses a value for an id slot (its path and type name) or a named string.
Chooser = Callable[[tuple[str, ...], str], Any]


def graphql_schema() -> GraphQLSchema:
    """The committed SDL (``tests/graphql/test_schema_file.py`` keeps it current)."""
    return build_schema((Path(__file__).parents[2] / "schema.graphql").read_text())


@dataclass(frozen=True)
class RootField:
    operation: str  # query, mutation, subscription
    name: str
    field: GraphQLField


def root_fields() -> list[RootField]:
    s = graphql_schema()
    roots = (
        ("query", s.query_type),
        ("mutation", s.mutation_type),
        ("subscription", s.subscription_type),
    )
    return [
        RootField(kind, name, field)
        for kind, root in roots
        if root is not None
        for name, field in root.fields.items()
    ]


def _walk(
    t: GraphQLInputType, path: tuple[str, ...], seen: frozenset[str]
) -> Iterator[tuple[tuple[str, ...], str]]:
    named = get_named_type(t)
    if isinstance(named, GraphQLInputObjectType):
        if named.name in seen:
            return
        for name, f in named.fields.items():
            yield from _walk(f.type, (*path, name), seen | {named.name})
    elif named.name in ID_TYPES:
        yield path, named.name


def id_slots(root: RootField) -> list[tuple[tuple[str, ...], str]]:
    """(path, type name) of every ``ID``/``UUID`` argument or input field."""
    return [
        slot
        for name, arg in root.field.args.items()
        for slot in _walk(arg.type, (name,), frozenset())
    ]


def _value(t: GraphQLInputType, path: tuple[str, ...], choose: Chooser, optional: bool) -> Any:
    required = isinstance(t, GraphQLNonNull)
    inner = t.of_type if isinstance(t, GraphQLNonNull) else t
    named = get_named_type(inner)
    chosen = choose(path, named.name)
    if chosen is not ...:
        return (
            [chosen] if isinstance(inner, GraphQLList) and not isinstance(chosen, list) else chosen
        )
    if not required and optional:
        return ...
    if path[-1] in HINTS:
        return HINTS[path[-1]]
    if isinstance(inner, GraphQLList):
        return [_value(inner.of_type, path, choose, optional=False)]
    if isinstance(inner, GraphQLEnumType):
        return next(iter(inner.values))
    if isinstance(inner, GraphQLInputObjectType):
        out = {}
        for name, f in inner.fields.items():
            v = _value(f.type, (*path, name), choose, optional=True)
            if v is not ...:
                out[name] = v
        return out
    assert isinstance(inner, GraphQLScalarType), inner
    if inner.name == "ID":
        return global_id(f"Finding:someone:{uuid.uuid4()}")
    if inner.name == "UUID":
        return str(uuid.uuid4())
    return SCALARS[inner.name]


def _leaves(t: GraphQLObjectType) -> list[str]:
    return [n for n, f in t.fields.items() if is_leaf_type(get_named_type(f.type)) and not f.args]


def _selection(t: Any) -> str:
    """Scalars, ``errors`` in full and the ``__typename`` of every other object."""
    named = get_named_type(t)
    if is_leaf_type(named):
        return ""
    if not isinstance(named, GraphQLObjectType):
        return "{ __typename }"
    parts = ["__typename", *_leaves(named)]
    for name, f in named.fields.items():
        inner = get_named_type(f.type)
        if is_leaf_type(inner) or any(isinstance(a.type, GraphQLNonNull) for a in f.args.values()):
            continue
        if name == "errors" and isinstance(inner, GraphQLObjectType):
            parts.append(f"errors {{ {' '.join(_leaves(inner))} }}")
        else:
            parts.append(f"{name} {{ __typename }}")
    return "{ " + " ".join(parts) + " }"


def operation(
    root: RootField, choose: Chooser = lambda path, name: ...
) -> tuple[str, dict[str, Any]]:
    """A document calling ``root`` and its variables.

    ``choose(path, type name)`` returns the value for an input (``...`` for the default).
    """
    variables: dict[str, Any] = {}
    declared, passed = [], []
    for name, arg in root.field.args.items():
        value = _value(arg.type, (name,), choose, optional=True)
        if value is ...:
            continue
        variables[name] = value
        declared.append(f"${name}: {arg.type}")
        passed.append(f"{name}: ${name}")
    head = f"{root.operation} Probe" + (f"({', '.join(declared)})" if declared else "")
    call = root.name + (f"({', '.join(passed)})" if passed else "")
    return f"{head} {{ {call} {_selection(root.field.type)} }}", variables
