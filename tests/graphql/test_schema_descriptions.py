"""A client reads what the schema means from the schema: at least 95% of its types, fields,
arguments, input fields and enum values are described, every argument and enum value is,
and every sort order says its direction."""

from __future__ import annotations

from collections import Counter

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
)

from accord.graphql.schema import schema

BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}


def coverage(built: GraphQLSchema) -> tuple[Counter[str], Counter[str]]:
    """(described, total) by kind: type, field, argument, input field, enum value."""
    described: Counter[str] = Counter()
    total: Counter[str] = Counter()

    def count(kind: str, description: str | None) -> None:
        total[kind] += 1
        described[kind] += bool(description and description.strip())

    for name, named in built.type_map.items():
        if name.startswith("__") or name in BUILT_IN:
            continue
        count("type", named.description)
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field in named.fields.values():
                count("field", field.description)
                for arg in field.args.values():
                    count("argument", arg.description)
        elif isinstance(named, GraphQLInputObjectType):
            for input_field in named.fields.values():
                count("input field", input_field.description)
        elif isinstance(named, GraphQLEnumType):
            for value in named.values.values():
                count("enum value", value.description)
    return described, total


def test_at_least_95_percent_of_the_schema_is_described() -> None:
    described, total = coverage(schema._schema)
    share = sum(described.values()) / sum(total.values())
    assert share >= 0.95, {kind: f"{described[kind]}/{total[kind]}" for kind in total}


def test_every_argument_and_enum_value_is_described() -> None:
    described, total = coverage(schema._schema)
    for kind in ("argument", "enum value"):
        assert described[kind] == total[kind], kind


def test_every_sort_order_says_its_direction() -> None:
    orders = [
        named
        for name, named in schema._schema.type_map.items()
        if name.endswith("Order") and isinstance(named, GraphQLEnumType)
    ]
    assert orders
    for order in orders:
        for name, value in order.values.items():
            text = value.description or ""
            assert " first" in text or "A to Z" in text, f"{order.name}.{name}: {text!r}"
