"""The HTTP edge of telemetry: requests as spans and metrics, and ``/metrics``.

OpenTelemetry's ASGI middleware records the URL with its query string and the client's
address. A GraphQL query over GET carries its text and variables in that query string
(record text, perhaps), and an address is personal data, so the middleware is shown a
copy of the request without either; the application gets the request as it came.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.trace import NoOpTracerProvider
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from accord.platform.telemetry import Telemetry

_ORIGINAL = "accord.original_scope"
#: Probes are not traced (they would drown the traces that matter).
UNTRACED_PATHS = "healthz,readyz,metrics"


class TracedRequests:
    """Pure ASGI middleware: each HTTP request a server span with its metrics."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.traced = OpenTelemetryMiddleware(
            _Original(app),
            excluded_urls=UNTRACED_PATHS,
            tracer_provider=telemetry.tracer_provider or NoOpTracerProvider(),
            meter_provider=telemetry.meter_provider or NoOpMeterProvider(),
            exclude_spans=["receive", "send"],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        shown = {**scope, "query_string": b"", "client": None, _ORIGINAL: scope}
        await self.traced(shown, receive, send)


class _Original:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        original: Any = scope[_ORIGINAL]
        await self.app(original, receive, send)


def metrics_endpoint(telemetry: Telemetry) -> Any:
    """``GET /metrics``: the process's metrics in Prometheus' text format."""
    registry = telemetry.prometheus
    assert registry is not None

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
