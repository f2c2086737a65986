"""Telemetry recorded in memory by the SDK's own exporters, and what was exported as text."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from accord.platform.settings import Settings
from accord.platform.telemetry import Telemetry, activated, telemetry_from


@dataclass
class Recorded:
    telemetry: Telemetry
    spans_exporter: InMemorySpanExporter
    metrics_reader: InMemoryMetricReader

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        finished = list(self.spans_exporter.get_finished_spans())
        return [s for s in finished if name is None or s.name == name]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        context = parent.get_span_context()
        assert context is not None
        return [
            s for s in self.spans() if s.parent is not None and s.parent.span_id == context.span_id
        ]

    def ancestors(self, span: ReadableSpan) -> list[str]:
        """The names of ``span``'s parents, nearest first."""
        by_id = {s.get_span_context().span_id: s for s in self.spans()}  # type: ignore[union-attr]
        names = []
        parent = span.parent
        while parent is not None and parent.span_id in by_id:
            found = by_id[parent.span_id]
            names.append(found.name)
            parent = found.parent
        return names

    def points(self, metric: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, data point) of ``metric`` as collected now."""
        data = self.metrics_reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        found.extend((dict(p.attributes or {}), p) for p in m.data.data_points)
        return found

    def exported_text(self) -> str:
        """Every span name, status, attribute and event exported, and every metric
        attribute, as one text to search for what must never be there."""
        parts: list[str] = []
        for s in self.spans():
            parts.append(s.name)
            parts.append(str(s.status.description))
            parts.extend(f"{k}={v}" for k, v in (s.attributes or {}).items())
            for e in s.events:
                parts.append(e.name)
                parts.extend(f"{k}={v}" for k, v in (e.attributes or {}).items())
            parts.extend(f"{k}={v}" for k, v in s.resource.attributes.items())
        data = self.metrics_reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    for p in m.data.data_points:
                        parts.extend(f"{k}={v}" for k, v in (p.attributes or {}).items())
        return "\n".join(parts)


@contextmanager
def recording(settings: Settings) -> Iterator[Recorded]:
    """Telemetry for ``settings`` with in-memory exporters, active while the block runs."""
    spans = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    telemetry = telemetry_from(settings, span_exporter=spans, metric_readers=[reader], environ={})
    with activated(telemetry) as current:
        assert current is telemetry, "another telemetry is active"
        try:
            yield Recorded(telemetry, spans, reader)
        finally:
            telemetry.shutdown()
