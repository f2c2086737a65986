"""Running the ``accord`` command against the test stores."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import subprocess_env


def accord(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "accord", *args],
        capture_output=True,
        text=True,
        env=env or subprocess_env(COLUMNS="200"),
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_env(data_dir: Path) -> dict[str, str]:
    """The environment of ``accord demo`` under ``data_dir``, with embedded servers of its
    own: tenant roles are server-wide, and the demo's slugs (northwind, globex, …) are
    fixed, so a shared server may hold them already."""
    env = subprocess_env(ACCORD_DATA_DIR=str(data_dir))
    env.pop("ACCORD_STORES")
    env.pop("ACCORD_DATABASE_URL", None)
    env.pop("ACCORD_MIGRATOR_DATABASE_URL", None)
    return env


def start_demo(data_dir: Path, port: int, *, seconds: float) -> subprocess.Popen[str]:
    """``accord demo`` serving on ``port``, returned once its ``/readyz`` answers 200."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "accord", "demo", "--port", str(port)],
        env=demo_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            pytest.fail(f"demo exited early: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            pytest.fail(f"demo did not come up in {seconds:.0f} s")
        time.sleep(0.3)


def stop_demo(proc: subprocess.Popen[str]) -> str:
    """Stop the demo as a person would (Ctrl+C); what it printed on stderr."""
    proc.send_signal(signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return stderr
