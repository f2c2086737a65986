"""GraphQL operations and resolvers as spans, and their metrics (strawberry's extension).

strawberry's ``OpenTelemetryExtension`` records the query text and every resolver's
arguments; both may hold record text (a mutation's input) or personal data, so here the
operation span carries its name, type, the caller's tenant and the error codes returned,
and a resolver span its field's name only. Only root fields get resolver spans, and only
when they wait for something (a service, a store): they are where a request's time goes,
and a per-field hook would cost a 50-row page more than its spans.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Iterator
from inspect import isawaitable
from typing import Any

from graphql import (
    GraphQLFieldResolver,
    GraphQLResolveInfo,
    GraphQLSchema,
    default_field_resolver,
)
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from strawberry.extensions import LifecycleStep, SchemaExtension
from strawberry.extensions.tracing import OpenTelemetryExtension
from strawberry.types.execution import ExecutionContext

from accord.platform import telemetry


class AccordTracing(OpenTelemetryExtension):
    def __init__(self, *, execution_context: ExecutionContext | None = None) -> None:
        # Not the parent's: it asks a provider for a tracer on every operation (the global
        # one when given none). The active telemetry's tracer is made once.
        active = telemetry.active()
        self._arg_filter = None
        self._tracer = active.tracer if active else trace.NoOpTracer()
        self._span_holder = {}
        if execution_context:
            self.execution_context = execution_context

    def on_operation(self) -> Iterator[None]:  # type: ignore[override]
        context = self.execution_context
        name = context.operation_name or "anonymous"
        started = time.perf_counter()
        span = self._tracer.start_span(
            f"GraphQL {name}",
            kind=SpanKind.INTERNAL,
            attributes={"graphql.operation.name": name},
        )
        self._span_holder[LifecycleStep.OPERATION] = span
        with trace.use_span(
            span, end_on_exit=True, record_exception=False, set_status_on_exception=False
        ):
            yield
            name = context.operation_name or "anonymous"
            kind = _operation_type(context)
            principal = getattr(context.context, "principal", None)
            tenant = getattr(principal, "tenant", None)
            codes = sorted(
                {
                    str((e.extensions or {}).get("code", "INTERNAL"))
                    for e in (context.result.errors if context.result else None) or ()
                }
            )
            span.update_name(f"GraphQL {kind} {name}")
            span.set_attribute("graphql.operation.name", name)
            span.set_attribute("graphql.operation.type", kind)
            if tenant:
                span.set_attribute("accord.tenant", tenant)
            if codes:
                span.set_attribute("accord.error.codes", codes)
            _record_decisions(span, getattr(context.context, "authorizer", None))
            metrics = telemetry.instruments()
            if metrics is not None:
                attributes = {"graphql.operation.name": name, "graphql.operation.type": kind}
                metrics.operation_duration.record(
                    time.perf_counter() - started,
                    {**attributes, "outcome": "error" if codes else "ok"},
                )
                for code in codes:
                    metrics.graphql_errors.add(1, {**attributes, "error.code": code})

    def on_parse(self) -> Iterator[None]:  # type: ignore[override]
        # Parsing and validation run once per query text (``CheckedDocuments``): no spans.
        yield

    def on_validate(self) -> Iterator[None]:  # type: ignore[override]
        yield

    # No per-field hook: strawberry would run every field of every row through it (a
    # listing's 500 fields cost more than the spans). Root fields are traced instead.
    resolve = SchemaExtension.resolve  # type: ignore[assignment]


def _record_decisions(span: Span, authorizer: object) -> None:
    """The operation's authorization decisions as events, one per (outcome, action,
    record type) with the owners decided on: a federated read decides for every owner,
    and a hundred events would cost more than the read. Who asked is the span's tenant;
    the deciding rule is left out (it names a subject)."""
    decided = getattr(authorizer, "decided", None)
    if not decided:
        return
    groups: dict[tuple[bool, str, str], list[str]] = {}
    for allowed, action, record_type, owner in decided:
        groups.setdefault((allowed, action, record_type), []).append(owner)
    for (allowed, action, record_type), owners in groups.items():
        span.add_event(
            "authz.decisions",
            {
                "accord.allowed": allowed,
                "accord.action": action,
                "accord.record_type": record_type,
                "accord.owners": sorted(set(owners)),
                "accord.decisions": len(owners),
            },
        )
    decided.clear()


def trace_root_fields(schema: GraphQLSchema) -> None:
    """Make each root query and mutation field's resolver a span when it waits (a service,
    a store); nested fields are left alone, at no cost."""
    for root in (schema.query_type, schema.mutation_type):
        if root is None:
            continue
        for name, field in root.fields.items():
            field.resolve = _traced(field.resolve or default_field_resolver, name, root.name)


def _traced(resolve: GraphQLFieldResolver, name: str, parent: str) -> GraphQLFieldResolver:
    attributes = {"graphql.field.name": name, "graphql.parent_type": parent}

    def traced(root: Any, info: GraphQLResolveInfo[Any], **kwargs: Any) -> Any:
        result = resolve(root, info, **kwargs)
        if not isawaitable(result):
            return result
        return _in_span(result, name, attributes)

    return traced


async def _in_span(result: Awaitable[Any], name: str, attributes: dict[str, str]) -> Any:
    # The awaitable's body runs at this await, under the resolver span: its SQL and
    # federated reads become the span's children.
    with telemetry.span(f"GraphQL resolve {name}", attributes) as span:
        try:
            return await result
        except Exception as exc:
            telemetry.fail(span, exc)
            raise


def _operation_type(context: ExecutionContext) -> str:
    try:
        return context.operation_type.value
    except Exception:  # not parsed (a syntax error): strawberry cannot tell
        return "unknown"
