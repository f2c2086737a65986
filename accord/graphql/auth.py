"""Who may ask: the signed-in principal, and the gates' refusals as coded errors.

Nothing in the GraphQL schema is public: every root field of Query, Mutation and
Subscription answers UNAUTHENTICATED to a caller without a valid token (the list of the
partners, the catalog's standards included). What an anonymous caller may ask is the
process's health, outside GraphQL (``/healthz``, ``/readyz``).
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    SelectionSetNode,
    get_operation_ast,
)
from strawberry.extensions import SchemaExtension

from accord.graphql.context import Context
from accord.platform.errors import Forbidden
from accord.tenants.identity.principal import Principal, Unauthenticated

#: Root fields answered without a sign-in (none; a test holds every other field to it).
PUBLIC_FIELDS: frozenset[str] = frozenset()


def require_principal(context: Context) -> Principal:
    if context.principal is None:
        raise Unauthenticated("NO_CREDENTIALS")
    return context.principal


def require_tenant(context: Context) -> tuple[Principal, str]:
    """A principal acting for a tenant (platform operators read no tenant data here)."""
    principal = require_principal(context)
    if principal.tenant is None:
        raise Forbidden(
            "Platform operators read tenant data only through break-glass tooling.",
            reason="OPERATOR_NOT_A_TENANT_MEMBER",
        )
    return principal, principal.tenant


def require_own_tenant(context: Context, tenant: str) -> Principal:
    principal, own = require_tenant(context)
    if tenant != own:
        raise Forbidden(
            "This is answered for your own organisation only.", reason="OWN_TENANT_ONLY"
        )
    return principal


def _root_fields(document: DocumentNode, operation_name: str | None) -> set[str]:
    """The names of the root fields ``operation_name`` selects, through fragments too."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return set()
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    names: set[str] = set()
    seen: set[str] = set()
    pending: list[SelectionSetNode] = [operation.selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    pending.append(fragments[name].selection_set)
    return names


class SignedInOnly(SchemaExtension):
    """Refuse, before anything is resolved, an anonymous operation that selects any root
    field outside ``PUBLIC_FIELDS`` (meta fields such as ``__typename`` excepted).

    Every resolver still asks for its principal; this makes the answer the same
    UNAUTHENTICATED for every field, before arguments are looked at.
    """

    def on_validate(self) -> Iterator[None]:
        # Runs after the limit extensions validated the document (their hooks come first
        # and do their work before yielding); an invalid document keeps its own errors.
        context = self.execution_context
        document = context.graphql_document
        anonymous = getattr(context.context, "principal", None) is None
        if anonymous and not context.pre_execution_errors and document is not None:
            private = {
                name
                for name in _root_fields(document, context.operation_name)
                if not name.startswith("__") and name not in PUBLIC_FIELDS
            }
            if private:
                refusal = Unauthenticated("NO_CREDENTIALS")
                extensions = {k: v for k, v in refusal.as_dict().items() if k != "message"}
                # With its code already: a subscription's refusal is sent as it is.
                error = GraphQLError(refusal.message, original_error=refusal, extensions=extensions)
                context.pre_execution_errors = [error]
        yield
