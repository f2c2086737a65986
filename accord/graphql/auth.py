"""Who may ask: the signed-in principal, and the gates' refusals as coded errors.

Nothing in the GraphQL schema is public: every root field of Query, Mutation and
Subscription answers UNAUTHENTICATED to a caller without a valid token (the list of the
partners, the catalog's standards included). What an anonymous caller may ask is the
process's health, outside GraphQL (``/healthz``, ``/readyz``).
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError, get_operation_ast
from strawberry.extensions import SchemaExtension

from accord.graphql.context import Context
from accord.graphql.documents import root_fields
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
            operation = get_operation_ast(document, context.operation_name)
            names = {f.name.value for f in root_fields(document, operation)} if operation else ()
            private = {n for n in names if not n.startswith("__") and n not in PUBLIC_FIELDS}
            if private:
                refusal = Unauthenticated("NO_CREDENTIALS")
                extensions = {k: v for k, v in refusal.as_dict().items() if k != "message"}
                # With its code already: a subscription's refusal is sent as it is.
                error = GraphQLError(refusal.message, original_error=refusal, extensions=extensions)
                context.pre_execution_errors = [error]
        yield
