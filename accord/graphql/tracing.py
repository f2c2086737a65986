"""GraphQL operations and resolvers as spans, and their metrics (strawberry's extension).

strawberry's ``OpenTelemetryExtension`` records the query text and every resolver's
arguments; both may hold record text (a mutation's input) or personal data, so here the
operation span carries its name, type, the caller's tenant and the error codes returned,
and a resolver span its field path only. Resolvers that answer at once (plain fields of a
record already loaded) get no span: only those that wait for something (a service, a
loader, a store) do, which keeps a 50-row page from costing hundreds of spans.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from inspect import isawaitable
from typing import Any

from graphql import GraphQLResolveInfo
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from strawberry.extensions import LifecycleStep
from strawberry.extensions.tracing import OpenTelemetryExtension
from strawberry.extensions.tracing.utils import should_skip_tracing
from strawberry.types.execution import ExecutionContext

from accord.platform import telemetry


class AccordTracing(OpenTelemetryExtension):
    def __init__(self, *, execution_context: ExecutionContext | None = None) -> None:
        active = telemetry.active()
        super().__init__(
            execution_context=execution_context,
            arg_filter=lambda args, info: {},
            # Never the global provider: only the active telemetry's, or none at all.
            tracer_provider=(active and active.tracer_provider) or trace.NoOpTracerProvider(),
        )

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
            metrics = telemetry.instruments()
            if metrics is not None:
                attributes = {"graphql.operation.name": name, "graphql.operation.type": kind}
                metrics.operation_duration.record(
                    time.perf_counter() - started,
                    {**attributes, "outcome": "error" if codes else "ok"},
                )
                for code in codes:
                    metrics.graphql_errors.add(1, {**attributes, "error.code": code})

    def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: str,
        **kwargs: Any,
    ) -> Any:
        result = _next(root, info, *args, **kwargs)
        if not isawaitable(result) or should_skip_tracing(_next, info):
            return result
        return self._traced(result, info)

    async def _traced(self, result: Awaitable[Any], info: GraphQLResolveInfo[Any]) -> Any:
        # The awaitable's body runs at this await, under the resolver span: its SQL and
        # federated reads become the span's children.
        with self._tracer.start_as_current_span(
            f"GraphQL resolve {info.field_name}",
            context=trace.set_span_in_context(self._span_holder[LifecycleStep.OPERATION]),
            attributes={
                "graphql.field.name": info.field_name,
                "graphql.field.path": ".".join(str(p) for p in info.path.as_list()),
                "graphql.parent_type": info.parent_type.name,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
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
