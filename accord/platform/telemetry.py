"""OpenTelemetry traces and metrics, set up once from settings; nothing at all when unset.

``telemetry_from(settings)`` builds the providers: OTLP over HTTP when
``ACCORD_TELEMETRY_ENDPOINT`` or a standard ``OTEL_EXPORTER_OTLP_*ENDPOINT`` variable is
set (the exporter reads the other ``OTEL_EXPORTER_OTLP_*`` variables itself), a Prometheus
reader when ``ACCORD_TELEMETRY_PROMETHEUS`` is on. With neither, the result is disabled:
no provider exists, and every helper here returns after one check of a module variable.

One ``Telemetry`` is *active* per process at a time (``activated``): the app's lifespan or
a command's runtime activates it, and the few spans of Accord's own (a federated read per
store, a connector page, a webhook delivery) go to it. What may be an attribute is
decided here too: tenants, stores, operation names, record types and counts; never
personal data, record text, statement parameters or secrets.
"""

from __future__ import annotations

import os
import re
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue as AttributeValue
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from accord.platform.errors import describe_failure
from accord.platform.settings import Settings

#: The standard variables that, when set, turn OTLP export on (OpenTelemetry's spec names).
OTLP_ENDPOINT_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)
INSTRUMENTATION = "accord"
_NO_SPAN: AbstractContextManager[Span] = nullcontext(INVALID_SPAN)


@dataclass
class Instruments:
    """Accord's own metrics (HTTP request rate and latency come from the ASGI middleware)."""

    meter: Meter
    operation_duration: Any = field(init=False)
    graphql_errors: Any = field(init=False)
    store_duration: Any = field(init=False)
    sync_records: Any = field(init=False)
    quarantine_size: Any = field(init=False)
    policy_reloads: Any = field(init=False)
    access_log_writes: Any = field(init=False)

    def __post_init__(self) -> None:
        m = self.meter
        self.operation_duration = m.create_histogram(
            "accord.graphql.operation.duration",
            unit="s",
            description="GraphQL operations by name and type (its count is the request rate).",
        )
        self.graphql_errors = m.create_counter(
            "accord.graphql.errors", description="Errors returned to GraphQL callers, by code."
        )
        self.store_duration = m.create_histogram(
            "accord.federation.store.duration",
            unit="s",
            description="One store's part of a federated read, by store and record type.",
        )
        self.sync_records = m.create_counter(
            "accord.sync.records",
            description="Records a connector sync handled, by outcome (created, updated, …).",
        )
        self.quarantine_size = m.create_gauge(
            "accord.sync.quarantine.size",
            description="Open quarantine entries of a connector stream, after each run.",
        )
        self.policy_reloads = m.create_counter(
            "accord.policy.reloads", description="Policy engine reloads in this process."
        )
        self.access_log_writes = m.create_counter(
            "accord.access_log.writes",
            description="Access-log rows written for cross-tenant reads, by store.",
        )
        m.create_observable_gauge(
            "accord.db.pool.connections",
            callbacks=[_pool_usage],
            description="Pooled connections per store and pool, by state (used, idle).",
        )


class Telemetry:
    """The providers of one process (or of one test); ``enabled`` if anything is exported."""

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        prometheus: CollectorRegistry | None = None,
    ) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.prometheus = prometheus
        self.tracer: trace.Tracer = (
            tracer_provider.get_tracer(INSTRUMENTATION) if tracer_provider else trace.NoOpTracer()
        )
        self.instruments = (
            Instruments(meter_provider.get_meter(INSTRUMENTATION)) if meter_provider else None
        )

    @property
    def enabled(self) -> bool:
        return self.tracer_provider is not None or self.meter_provider is not None

    def shutdown(self) -> None:
        """Flush what is buffered and stop the exporters."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


def otlp_configured(settings: Settings, environ: Mapping[str, str] = os.environ) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(settings.telemetry_endpoint) or any(environ.get(v) for v in OTLP_ENDPOINT_VARIABLES)


def telemetry_from(
    settings: Settings,
    *,
    span_exporter: SpanExporter | None = None,
    metric_readers: Sequence[MetricReader] = (),
    environ: Mapping[str, str] = os.environ,
) -> Telemetry:
    """The providers ``settings`` (and the ``OTEL_*`` variables) ask for.

    ``span_exporter`` and ``metric_readers`` add exporters of the caller's (tests use the
    SDK's in-memory ones); spans given to ``span_exporter`` are exported as they end.
    """
    otlp = otlp_configured(settings, environ)
    prometheus = CollectorRegistry(auto_describe=True) if settings.telemetry_prometheus else None
    span_exporters: list[tuple[SpanExporter, bool]] = []
    readers = list(metric_readers)
    if otlp:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        base = (settings.telemetry_endpoint or "").rstrip("/")
        span_exporters.append(
            (OTLPSpanExporter(endpoint=f"{base}/v1/traces" if base else None), True)
        )
        readers.append(
            PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=f"{base}/v1/metrics" if base else None)
            )
        )
    if prometheus is not None:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader

        readers.append(PrometheusMetricReader(registry=prometheus))
    if span_exporter is not None:
        span_exporters.append((span_exporter, False))
    span_exporters = [(ScrubbedExport(e), batched) for e, batched in span_exporters]
    if not span_exporters and not readers:
        return Telemetry()
    resource = Resource.create(
        {
            "service.name": environ.get("OTEL_SERVICE_NAME", "accord"),
            "deployment.environment.name": settings.env,
        }
    )
    tracer_provider = None
    if span_exporters:
        tracer_provider = TracerProvider(resource=resource)
        for exporter, batched in span_exporters:
            processor = BatchSpanProcessor(exporter) if batched else SimpleSpanProcessor(exporter)
            tracer_provider.add_span_processor(processor)
    meter_provider = MeterProvider(resource=resource, metric_readers=readers) if readers else None
    return Telemetry(
        tracer_provider=tracer_provider, meter_provider=meter_provider, prometheus=prometheus
    )


class ScrubbedExport(SpanExporter):
    """Exports spans without what a failure's text may quote.

    Instrumentations record an exception's message and stack trace as an event, and
    ``type: message`` as a failed span's status; a database error's message repeats row
    values. A failed span leaves with the exception's type only, and a status description
    cut to its leading code or type name (``describe_failure``'s ``CODE/REASON``).
    """

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([_scrubbed(s) for s in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


_LEADING_NAME = re.compile(r"[A-Za-z_][\w./-]*")


def _scrubbed(span: ReadableSpan) -> ReadableSpan:
    failed = span.status.status_code is StatusCode.ERROR
    if not failed and not any(e.name == "exception" for e in span.events):
        return span
    events = [
        Event(
            e.name,
            {"exception.type": (e.attributes or {}).get("exception.type", "")},
            e.timestamp,
        )
        if e.name == "exception"
        else e
        for e in span.events
    ]
    status = span.status
    if failed and status.description:
        leading = _LEADING_NAME.match(status.description)
        status = Status(StatusCode.ERROR, leading.group(0) if leading else None)
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


# --- the active telemetry -------------------------------------------------------------

_active: Telemetry | None = None
#: Engines of every store registry, instrumented while a telemetry is active.
_engines: weakref.WeakKeyDictionary[Engine, tuple[str, str]] = weakref.WeakKeyDictionary()


def active() -> Telemetry | None:
    return _active


@contextmanager
def activated(telemetry: Telemetry) -> Iterator[Telemetry]:
    """Make ``telemetry`` the process's while the block runs (an active one stays)."""
    global _active
    if not telemetry.enabled or _active is not None:
        yield _active or telemetry
        return
    _active = telemetry
    for engine in list(_engines):
        _instrument(engine, telemetry)
    try:
        yield telemetry
    finally:
        _active = None
        EngineTracer.remove_all_event_listeners()  # type: ignore[no-untyped-call]


def watch_engine(engine: Engine, *, store: str, pool: str) -> None:
    """Trace ``engine``'s statements while telemetry is active, and count its pool."""
    _engines[engine] = (store, pool)
    if _active is not None:
        _instrument(engine, _active)


def _instrument(engine: Engine, telemetry: Telemetry) -> None:
    if telemetry.tracer_provider is None:
        return
    # Statements are traced as SQLAlchemy sends them: bind placeholders, never values.
    tracer = telemetry.tracer_provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    usage = _NoUsage()
    EngineTracer(tracer, engine, usage, enable_commenter=False)  # type: ignore[no-untyped-call]


class _NoUsage:
    """The instrumentation's own pool counter is replaced by ``accord.db.pool.connections``
    (which names the store)."""

    def add(self, amount: int, attributes: Any = None) -> None:
        pass


def _pool_usage(options: CallbackOptions) -> Iterator[Observation]:
    for engine, (store, pool_kind) in list(_engines.items()):
        pool = engine.pool
        used = getattr(pool, "checkedout", None)
        idle = getattr(pool, "checkedin", None)
        if used is None or idle is None:
            continue
        attributes = {"accord.store": store, "accord.pool": pool_kind}
        yield Observation(used(), {**attributes, "state": "used"})
        yield Observation(idle(), {**attributes, "state": "idle"})


# --- spans, events and metrics for Accord's own code -----------------------------------


def span(
    name: str, attributes: Mapping[str, AttributeValue] | None = None
) -> AbstractContextManager[Span]:
    """A span of Accord's own work, current while the block runs (no-op when inactive).

    An exception ending the span marks it failed with ``describe_failure`` (codes and
    names, never the text of the error, which may quote data).
    """
    if _active is None:
        return _NO_SPAN
    return _own_span(_active.tracer, name, attributes or {})


@contextmanager
def _own_span(
    tracer: trace.Tracer, name: str, attributes: Mapping[str, AttributeValue]
) -> Iterator[Span]:
    with tracer.start_as_current_span(
        name,
        kind=SpanKind.INTERNAL,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except BaseException as exc:
            fail(current, exc)
            raise


def store_read(store: str, *, record_type: str, tenants: int) -> AbstractContextManager[Span]:
    """A span for one store's part of a federated read, timed into
    ``accord.federation.store.duration``; set ``accord.records`` on it once known."""
    if _active is None:
        return _NO_SPAN
    return _store_read(_active, store, record_type, tenants)


@contextmanager
def _store_read(telemetry: Telemetry, store: str, record_type: str, tenants: int) -> Iterator[Span]:
    started = time.perf_counter()
    outcome = "error"
    attributes: dict[str, AttributeValue] = {
        "accord.store": store,
        "accord.record_type": record_type,
    }
    try:
        with _own_span(
            telemetry.tracer, "federation.store", {**attributes, "accord.tenants": tenants}
        ) as current:
            yield current
            outcome = "ok"
    finally:
        if telemetry.instruments is not None:
            telemetry.instruments.store_duration.record(
                time.perf_counter() - started, {**attributes, "outcome": outcome}
            )


def access_logged(rows: int, store: str | None = None) -> None:
    """``rows`` access-log rows were written (by the federation role in ``store``, or in
    the grantor's own session)."""
    if _active is not None and _active.instruments is not None and rows:
        where = {"accord.store": store} if store else {"accord.path": "tenant_session"}
        _active.instruments.access_log_writes.add(rows, where)


def fail(target: Span, exc: BaseException) -> None:
    """Mark ``target`` failed by ``exc``: its code or type, never its text."""
    mark_failed(target, describe_failure(exc))
    target.set_attribute("error.type", type(exc).__name__)


def mark_failed(target: Span, description: str) -> None:
    target.set_status(Status(StatusCode.ERROR, description))


def event(name: str, attributes: Mapping[str, AttributeValue] | None = None) -> None:
    """An event on the current span (authorization decisions, retries); no-op when none."""
    if _active is None:
        return
    current = trace.get_current_span()
    if current.is_recording():
        current.add_event(name, attributes)


def instruments() -> Instruments | None:
    """The metrics to record into, or None when telemetry is inactive."""
    return None if _active is None else _active.instruments


def current_trace_id() -> str | None:
    """The current trace's id (32 hex digits), or None outside a recorded trace."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None
