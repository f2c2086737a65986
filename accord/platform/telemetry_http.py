"""The HTTP edge of telemetry: each request a server span and a duration, and ``/metrics``.

A span per request with OpenTelemetry's HTTP semantic conventions: method, path, scheme,
status; the caller's W3C ``traceparent`` continues its trace. Deliberately less than
OpenTelemetry's ASGI middleware records: no query string (a GraphQL query over GET carries
its text and variables there), no client address (personal data), no headers. That
middleware also cost about 1.7 ms of CPU on a federated listing of ~21 ms, more than all
of Accord's other spans together (docs/benchmarks.md, telemetry).
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accord.platform.telemetry import Telemetry, fail, mark_failed

#: Probes are not traced (they would drown the traces that matter).
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_PROPAGATOR = TraceContextTextMapPropagator()


def route_of(path: str) -> str:
    """A low-cardinality route for metrics: ``/graphql``, else the first path segment."""
    head, _, rest = path.lstrip("/").partition("/")
    return f"/{head}/…" if rest else f"/{head}"


class TracedRequests:
    """Pure ASGI middleware: each HTTP request a server span and a duration measurement."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.tracer = telemetry.tracer
        meter = (
            telemetry.meter_provider.get_meter("accord.http") if telemetry.meter_provider else None
        )
        self.duration = (
            meter.create_histogram(
                "http.server.request.duration",
                unit="s",
                description="HTTP requests by method, route and status (its count: the rate).",
            )
            if meter is not None
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        status = 500
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        parent = None
        for name, value in scope["headers"]:
            if name == b"traceparent":
                parent = _PROPAGATOR.extract({"traceparent": value.decode("latin-1")})
                break
        route = route_of(scope["path"])
        with self.tracer.start_as_current_span(
            f"{method} {route}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "http.route": route,
                "url.path": scope["path"],
                "url.scheme": scope.get("scheme", "http"),
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                await self.app(scope, receive, sending)
            except Exception as exc:
                fail(span, exc)
                raise
            finally:
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    mark_failed(span, f"HTTP_{status}")
                if self.duration is not None:
                    self.duration.record(
                        time.perf_counter() - started,
                        {
                            "http.request.method": method,
                            "http.route": route,
                            "http.response.status_code": status,
                        },
                    )


def metrics_endpoint(telemetry: Telemetry) -> Any:
    """``GET /metrics``: the process's metrics in Prometheus' text format."""
    registry = telemetry.prometheus
    assert registry is not None

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
