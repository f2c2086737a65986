"""Logs: one JSON object per line in production, with the trace and span they belong to.

In ``dev`` the plain format of the command line stays. In ``prod`` every record of the
root logger (Accord's, uvicorn's, the libraries') is written as JSON to stderr, with
``trace_id`` and ``span_id`` when it was logged inside a traced request or job, so a log
line and its trace find each other (a masked GraphQL error quotes the same trace id).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from accord.platform.settings import Settings

#: ``LogRecord`` attributes that are not a caller's ``extra=``.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = trace.format_trace_id(context.trace_id)
            entry["span_id"] = trace.format_span_id(context.span_id)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        return json.dumps(entry, default=str)


def configure_logging(settings: Settings) -> None:
    """JSON lines on stderr at ``settings.log_level`` in production; nothing in dev."""
    if settings.env != "prod":
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.log_level)
