"""What a single request may ask of the gateway.

Strawberry's own extensions bound depth, aliases and tokens, and turn introspection off in
production; ``cost_errors`` estimates the rows an operation may touch (each ``first``
multiplies the fields below it) and refuses it above ``MAX_COST``. ``CheckedDocuments``
parses and validates each query text once per process and runs the checks that depend on
the variables (cost, NUL characters) on every request. Every refusal is a validation (or
syntax) error, so ``AccordErrors`` gives it the code BAD_USER_INPUT.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    get_named_type,
)
from graphql.validation import ValidationRule
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.schema import validate_document

from accord.graphql.input_limits import input_limit_errors
from accord.platform.errors import ErrorCode

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2_000
MAX_COST = 5_000
#: bytes of a request body; larger ones are answered 413 by ``accord.app``
MAX_BODY_BYTES = 1024 * 1024
#: levels of nesting of a request's JSON (the deepest input is a handful of levels)
MAX_JSON_DEPTH = 32

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

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.definitions = fragments
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
                scope = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set(selection.selection_set, scope)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value)
        return total

    def fragment(self, name: str) -> int:
        if name in self.fragments:
            return self.fragments[name]
        fragment = self.definitions.get(name)
        if fragment is None or name in self.visiting:  # unknown or cyclic: validation refuses
            return 0
        self.visiting.add(name)
        scope = self.schema.get_type(fragment.type_condition.name.value)
        cost = self.selection_set(fragment.selection_set, scope)
        self.visiting.discard(name)
        self.fragments[name] = cost
        return cost


def cost_errors(
    schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any], limit: int
) -> list[GraphQLError]:
    """A COST_LIMIT error for each operation of ``document`` whose estimated cost with
    these ``variables`` is above ``limit``."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    errors = []
    for node in document.definitions:
        if not isinstance(node, OperationDefinitionNode):
            continue
        root = {
            OperationType.QUERY: schema.query_type,
            OperationType.MUTATION: schema.mutation_type,
            OperationType.SUBSCRIPTION: schema.subscription_type,
        }[node.operation]
        cost = _Cost(schema, fragments, variables).selection_set(node.selection_set, root)
        if cost > limit:
            errors.append(
                GraphQLError(
                    f"The operation is too expensive: its estimated cost {cost} is above "
                    f"{limit}. Ask for smaller pages or fewer nested connections.",
                    node,
                    extensions={"code": ErrorCode.BAD_USER_INPUT.value, "reason": "COST_LIMIT"},
                )
            )
    return errors


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


class NulLiteralRule(ValidationRule):
    """PostgreSQL stores no U+0000 in text or jsonb: refuse it in any string argument
    before a resolver runs, rather than let the database fail halfway (variables are
    checked by ``CheckedDocuments``)."""

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if "\x00" in node.value:
            self.report_error(_nul_error(node))


class _Known:
    """Query texts that parsed and passed every variable-independent rule (bounded LRU)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.documents: OrderedDict[tuple[int, str, int | None], DocumentNode] = OrderedDict()

    def get(self, key: tuple[int, str, int | None]) -> DocumentNode | None:
        document = self.documents.get(key)
        if document is not None:
            self.documents.move_to_end(key)
        return document

    def put(self, key: tuple[int, str, int | None], document: DocumentNode) -> None:
        self.documents[key] = document
        self.documents.move_to_end(key)
        while len(self.documents) > self.maxsize:
            self.documents.popitem(last=False)


#: Distinct valid query texts remembered per process: clients send a handful of
#: operations over and over; a flood of unique texts only costs the uncached path.
KNOWN_DOCUMENTS = 512
_known = _Known(KNOWN_DOCUMENTS)


class CheckedDocuments(SchemaExtension):
    """Parse and validate each query text once per process; check what depends on the
    request's variables (the cost estimate, NUL characters, the declared limits of the
    mutations' inputs) on every request.

    graphql-core's validation walks the whole document with every rule, which costs
    more than resolving a small query; the rules other than cost depend only on the
    text (the limits' rules included), so a text that passed them once passes again.
    Only successes are remembered: a refused text is validated afresh each time, so its
    errors are never shared between requests.
    """

    def __init__(self, limit: int = MAX_COST) -> None:
        self.limit = limit

    def _key(self) -> tuple[int, str, int | None] | None:
        context = self.execution_context
        if context.query is None:
            return None
        return (id(context.schema), context.query, context.parse_options.get("max_tokens"))

    def on_parse(self) -> Iterator[None]:
        key = self._key()
        if key is not None:
            known = _known.get(key)
            if known is not None:
                self.execution_context.graphql_document = known
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None
        variables = context.variables or {}
        # The cheap checks first: they tolerate invalid documents, and an oversized one is
        # refused before the full validation walks it.
        if _has_nul(variables):
            errors = [_nul_error()]
        else:
            errors = cost_errors(context.schema._schema, document, variables, self.limit)
        key = self._key()
        if not errors and (key is None or _known.get(key) is not document):
            errors = validate_document(
                context.schema._schema, document, tuple(context.validation_rules)
            )
            if not errors and key is not None:
                _known.put(key, document)
        if not errors:
            errors = input_limit_errors(
                context.schema._schema, document, context.operation_name, variables
            )
        context.pre_execution_errors = errors
        yield


def limit_extensions(*, production: bool) -> list[Callable[[], SchemaExtension]]:
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: AddValidationRules([NulLiteralRule]),
        CheckedDocuments,
    ]
    if production:
        extensions.append(DisableIntrospection)
    return extensions
