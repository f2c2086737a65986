"""How failures reach the client.

* An ``AccordError`` raised by a resolver keeps its message; ``extensions`` carry its
  ``code``, ``reason`` and ``field``.
* Partial failures collected on the context (an owner that could not be read) are
  appended to ``errors`` while the data is still returned.
* Anything else is a bug: the client sees ``INTERNAL`` and a trace id, the log gets the
  real exception under the same id. The trace id is the OpenTelemetry trace's when the
  request is traced (the request id then rides along as ``requestId``), else the request
  id.
* Errors graphql-core raises itself (syntax, validation, variables) are the caller's:
  ``BAD_USER_INPUT``. In production their "Did you mean …?" hints are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from accord.compliance.sharing.reads import TenantError
from accord.graphql.limits import without_suggestions
from accord.platform import telemetry
from accord.platform.errors import AccordError, ErrorCode

log = logging.getLogger("accord.graphql")


def _trace_id(context: object) -> str:
    request_id = getattr(context, "request_id", None)
    return request_id if isinstance(request_id, str) else "unknown"


def public_error(
    error: GraphQLError, context: object, *, hide_suggestions: bool = False
) -> GraphQLError:
    original = error.original_error
    if isinstance(original, GraphQLError):  # raised as a GraphQL error on purpose
        return error
    extensions: dict[str, Any]
    if isinstance(original, AccordError):
        details = original.as_dict()
        message = details.pop("message")
        extensions = dict(details)
    elif original is None:
        message = without_suggestions(error.message) if hide_suggestions else error.message
        extensions = dict(error.extensions or {})
        extensions.setdefault("code", ErrorCode.BAD_USER_INPUT.value)
    else:
        request_id = _trace_id(context)
        trace = telemetry.current_trace_id() or request_id
        log.error(
            "Unexpected error in GraphQL (trace %s, request %s)",
            trace,
            request_id,
            exc_info=original,
        )
        message = f"Internal error. Quote trace id {trace} when reporting it."
        extensions = {"code": ErrorCode.INTERNAL.value, "traceId": trace}
        if trace != request_id:
            extensions["requestId"] = request_id
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


class AccordErrors(SchemaExtension):
    hide_suggestions = False

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None:
            return
        context = self.execution_context.context
        hide = self.hide_suggestions
        errors = [public_error(e, context, hide_suggestions=hide) for e in result.errors or ()]
        errors.extend(getattr(context, "errors", ()))
        result.errors = errors or None


class AccordProductionErrors(AccordErrors):
    hide_suggestions = True


class AccordSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Nothing here: ``AccordErrors`` logs the unexpected ones, with their trace id."""


def tenant_errors(
    info: strawberry.Info[Any, None], failures: Sequence[TenantError]
) -> list[GraphQLError]:
    """One error per owner that could not be read, at the field that asked."""
    return [
        GraphQLError(
            f.message,
            path=info.path.as_list(),
            extensions={"code": f.code, "tenant": f.tenant},
        )
        for f in failures
    ]
