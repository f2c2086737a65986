"""Telemetry set-up from settings: nothing when unconfigured; OTLP over HTTP to a collector
(a real HTTP server on loopback that decodes the protobuf with ``opentelemetry-proto``);
Prometheus text on /metrics as an option; JSON log lines carrying the trace."""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from accord.app import create_app
from accord.platform import telemetry
from accord.platform.logs import JsonFormatter, configure_logging
from accord.platform.runtime import Runtime
from accord.platform.settings import Settings
from accord.platform.telemetry import activated, otlp_configured, telemetry_from
from accord.platform.telemetry_http import TracedRequests
from tests.conftest import make_test_settings
from tests.factories.telemetry import recording


@dataclass
class Collector:
    """What an OpenTelemetry collector's OTLP/HTTP receiver was sent."""

    url: str
    posts: list[tuple[str, str, bytes]] = field(default_factory=list)

    def traces(self) -> list[ExportTraceServiceRequest]:
        return [
            ExportTraceServiceRequest.FromString(body)
            for path, _, body in self.posts
            if path == "/v1/traces"
        ]

    def metrics(self) -> list[ExportMetricsServiceRequest]:
        return [
            ExportMetricsServiceRequest.FromString(body)
            for path, _, body in self.posts
            if path == "/v1/metrics"
        ]


@pytest.fixture
def collector() -> Iterator[Collector]:
    received: list[tuple[str, str, bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((self.path, self.headers.get("Content-Type", ""), body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Collector(f"http://127.0.0.1:{server.server_address[1]}", received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_nothing_is_set_up_without_an_endpoint() -> None:
    settings = make_test_settings()
    assert not otlp_configured(settings, environ={})
    off = telemetry_from(settings, environ={})
    assert not off.enabled and off.tracer_provider is None and off.meter_provider is None
    with activated(off):
        assert telemetry.active() is None
        with telemetry.span("federation.store", {"accord.store": "home"}) as span:
            assert not span.is_recording()
        assert telemetry.instruments() is None
    app = create_app(settings, telemetry=off)
    assert not [m for m in app.user_middleware if m.cls is TracedRequests]
    assert "/metrics" not in {getattr(r, "path", "") for r in app.routes}


def test_the_standard_variables_turn_export_on_and_off() -> None:
    settings = make_test_settings()
    assert otlp_configured(settings, environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert otlp_configured(settings, environ={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c"})
    assert not otlp_configured(
        settings,
        environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"},
    )
    on = make_test_settings(telemetry_endpoint="http://collector:4318")
    assert otlp_configured(on, environ={})
    built = telemetry_from(on, environ={"OTEL_SERVICE_NAME": "accord-eu"})
    try:
        assert built.enabled and built.tracer_provider is not None
        assert built.tracer_provider.resource.attributes["service.name"] == "accord-eu"
    finally:
        built.shutdown()


async def test_traces_and_metrics_reach_a_collector_over_otlp_http(
    runtime: Runtime, collector: Collector
) -> None:
    settings = make_test_settings(telemetry_endpoint=collector.url)
    secret = f"never-exported-{secrets.token_hex(6)}"
    token = f"eyJ{secrets.token_hex(24)}"
    app = create_app(settings, runtime=runtime)  # the app owns (and flushes) its telemetry
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://accord.test") as c:
            posted = await c.post("/graphql", json={"query": "query Ping { __typename }"})
            assert posted.status_code == 200, posted.text
            # A query over GET carries its text in the URL; a bearer token in a header.
            got = await c.get(
                "/graphql",
                params={"query": f'query Echo {{ __typename }} # "{secret}"'},
                headers={"authorization": f"Bearer {token}"},
            )
            assert got.status_code in (200, 401)
    # The lifespan's end shut the providers down: everything buffered was sent.
    assert {(p, t) for p, t, _ in collector.posts} == {
        ("/v1/traces", "application/x-protobuf"),
        ("/v1/metrics", "application/x-protobuf"),
    }
    spans = [
        span
        for request in collector.traces()
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    names = {s.name for s in spans}
    assert {"POST /graphql", "GraphQL query Ping"} <= names
    [ping] = [s for s in spans if s.name == "GraphQL query Ping"]
    [post] = [s for s in spans if s.name == "POST /graphql"]
    assert ping.trace_id == post.trace_id and ping.parent_span_id == post.span_id
    resources = {
        a.key: a.value.string_value
        for request in collector.traces()
        for resource in request.resource_spans
        for a in resource.resource.attributes
    }
    assert resources["service.name"] == "accord"
    metric_names = {
        m.name
        for request in collector.metrics()
        for resource in request.resource_metrics
        for scope in resource.scope_metrics
        for m in scope.metrics
    }
    assert "accord.graphql.operation.duration" in metric_names
    assert {"http.server.duration", "http.server.request.duration"} & metric_names
    wire = b"".join(body for _, _, body in collector.posts)
    for forbidden in (secret, token, "203.0.113.9"):
        assert forbidden.encode() not in wire


async def test_prometheus_metrics_are_served_when_asked(runtime: Runtime) -> None:
    settings = make_test_settings(telemetry_prometheus=True)
    app = create_app(settings, runtime=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://accord.test") as c:
            await c.post("/graphql", json={"query": "query Ping { __typename }"})
            scraped = await c.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    lines = scraped.text.splitlines()
    assert any(
        line.startswith("accord_graphql_operation_duration")
        and 'graphql_operation_name="Ping"' in line
        for line in lines
    )
    assert any(line.startswith("accord_db_pool_connections") for line in lines)


def test_json_log_lines_carry_the_trace_and_span(settings: Settings) -> None:
    formatter = JsonFormatter()
    record = logging.makeLogRecord(
        {"name": "accord.sync", "levelname": "WARNING", "msg": "page %d retried", "args": (3,)}
    )
    outside = json.loads(formatter.format(record))
    assert outside["message"] == "page 3 retried" and "trace_id" not in outside
    with recording(settings) as recorded, telemetry.span("sync.page") as span:
        inside = json.loads(formatter.format(record))
    [exported] = recorded.spans("sync.page")
    context = exported.get_span_context()
    assert context is not None and span.get_span_context() == context
    assert inside["trace_id"] == f"{context.trace_id:032x}"
    assert inside["span_id"] == f"{context.span_id:016x}"
    assert inside["level"] == "WARNING" and inside["logger"] == "accord.sync"


def test_production_logs_are_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(make_test_settings(env="dev"))
        assert root.handlers == saved[0]
        configure_logging(make_test_settings(env="prod", log_level="INFO"))
        logging.getLogger("accord.test").info("started on %s", "eu-central")
        [line] = capsys.readouterr().err.strip().splitlines()
        assert json.loads(line)["message"] == "started on eu-central"
    finally:
        root.handlers, root.level = saved[0], saved[1]


def test_a_failure_leaves_with_its_type_not_its_text(settings: Settings) -> None:
    secret = f"Key (title)=(Forged certificate {secrets.token_hex(4)}) already exists"
    with recording(settings) as recorded:
        tracer = recorded.telemetry.tracer
        # As an instrumentation would record it: message, stack trace, "type: message".
        with pytest.raises(ValueError), tracer.start_as_current_span("instrumented"):
            raise ValueError(secret)
        with pytest.raises(KeyError), telemetry.span("ours"):
            raise KeyError(secret)
        [instrumented] = recorded.spans("instrumented")
        [ours] = recorded.spans("ours")
        assert instrumented.status.description == "ValueError"
        [event] = instrumented.events
        assert dict(event.attributes or {}) == {"exception.type": "ValueError"}
        assert ours.status.description == "KeyError" and not ours.events
        assert secret not in recorded.exported_text()
