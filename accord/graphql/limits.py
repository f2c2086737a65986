"""What a single request may ask of the gateway.

Strawberry's own extensions bound depth, aliases and tokens, and turn introspection off in
production; ``CostLimiter`` estimates the rows an operation may touch (each ``first``
multiplies the fields below it) and refuses it above ``MAX_COST``. Every refusal is a
validation (or syntax) error, so ``AccordErrors`` gives it the code BAD_USER_INPUT.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    get_named_type,
)
from graphql.validation import ValidationContext, ValidationRule
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from accord.platform.errors import ErrorCode

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2_000
MAX_COST = 5_000
#: bytes of a request body; larger ones are answered 413 by ``accord.app``
MAX_BODY_BYTES = 1024 * 1024

_SUGGESTION = re.compile(r"\s*Did you mean .*$", re.DOTALL)


def without_suggestions(message: str) -> str:
    """``message`` without graphql-core's "Did you mean …?" hint (it leaks the schema)."""
    return _SUGGESTION.sub("", message)


def _fields(parent: GraphQLNamedType | None) -> Mapping[str, GraphQLField]:
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        fields: Mapping[str, GraphQLField] = parent.fields
        return fields
    return {}


class _Cost:
    """Unit cost of selection sets: a field costs its page size times (1 + its children)."""

    def __init__(self, context: ValidationContext, variables: Mapping[str, Any]) -> None:
        self.context = context
        self.variables = variables
        self.fragments: dict[str, int] = {}
        self.visiting: set[str] = set()

    def page(self, node: FieldNode, field: GraphQLField | None) -> int:
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(int(value.value), 1)
            if isinstance(value, VariableNode):
                given = self.variables.get(value.name.value)
                if isinstance(given, int) and not isinstance(given, bool):
                    return max(given, 1)
        if field is not None and "first" in field.args:
            default = field.args["first"].default_value
            if isinstance(default, int):
                return max(default, 1)
        return 1

    def selection_set(self, node: SelectionSetNode | None, parent: GraphQLNamedType | None) -> int:
        if node is None:
            return 0
        schema = self.context.schema
        total = 0
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                field = _fields(parent).get(selection.name.value)
                child = get_named_type(field.type) if field is not None else None
                total += self.page(selection, field) * (
                    1 + self.selection_set(selection.selection_set, child)
                )
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                scope = schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set(selection.selection_set, scope)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value)
        return total

    def fragment(self, name: str) -> int:
        if name in self.fragments:
            return self.fragments[name]
        fragment = self.context.get_fragment(name)
        if fragment is None or name in self.visiting:  # unknown or cyclic: other rules refuse
            return 0
        self.visiting.add(name)
        scope = self.context.schema.get_type(fragment.type_condition.name.value)
        cost = self.selection_set(fragment.selection_set, scope)
        self.visiting.discard(name)
        self.fragments[name] = cost
        return cost


def cost_rule(variables: Mapping[str, Any], limit: int) -> type[ValidationRule]:
    class CostRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            schema = self.context.schema
            root = {
                OperationType.QUERY: schema.query_type,
                OperationType.MUTATION: schema.mutation_type,
                OperationType.SUBSCRIPTION: schema.subscription_type,
            }[node.operation]
            cost = _Cost(self.context, variables).selection_set(node.selection_set, root)
            if cost > limit:
                self.report_error(
                    GraphQLError(
                        f"The operation is too expensive: its estimated cost {cost} is above "
                        f"{limit}. Ask for smaller pages or fewer nested connections.",
                        node,
                        extensions={
                            "code": ErrorCode.BAD_USER_INPUT.value,
                            "reason": "COST_LIMIT",
                        },
                    )
                )

    return CostRule


class CostLimiter(SchemaExtension):
    """Refuses an operation whose estimated cost is above ``limit`` (page sizes multiplied
    down the selection, with the request's variables)."""

    def __init__(self, limit: int = MAX_COST) -> None:
        self.limit = limit

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        rule = cost_rule(context.variables or {}, self.limit)
        context.validation_rules = (*context.validation_rules, rule)
        yield


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def _nul_error(node: Any = None) -> GraphQLError:
    return GraphQLError(
        "Text may not contain the NUL character (U+0000).",
        node,
        extensions={"code": ErrorCode.BAD_USER_INPUT.value, "reason": "NUL_CHARACTER"},
    )


def nul_rule(variables: Mapping[str, Any]) -> type[ValidationRule]:
    """PostgreSQL stores no U+0000 in text or jsonb: refuse it in any argument or variable,
    before a resolver runs, rather than let the database fail halfway."""

    class NulRule(ValidationRule):
        def enter_document(self, *_: Any) -> None:
            if _has_nul(variables):
                self.report_error(_nul_error())

        def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
            if "\x00" in node.value:
                self.report_error(_nul_error(node))

    return NulRule


class NulCharacterGuard(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        rule = nul_rule(context.variables or {})
        context.validation_rules = (*context.validation_rules, rule)
        yield


def limit_extensions(*, production: bool) -> list[Callable[[], SchemaExtension]]:
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        CostLimiter,
        NulCharacterGuard,
    ]
    if production:
        extensions.append(DisableIntrospection)
    return extensions
