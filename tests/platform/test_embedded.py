"""The embedded server stops when its last live user exits, even after one was killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_DATA_DIR

pytestmark = pytest.mark.slow

#: A user of the cluster: starts (or attaches to) it, says so, then exits or is killed as
#: told on its standard input.
USER = """
import os, signal, sys
from collections.abc import Iterator
from pathlib import Path
from accord.platform.embedded import start_embedded
print(start_embedded(Path(sys.argv[1]), "lifecycle"), flush=True)
if sys.stdin.readline().strip() == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
"""


class User:
    def __init__(self, data_dir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", USER, str(data_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("postgresql://"), self.process.stderr

    def end(self, how: str) -> int:
        _, err = self.process.communicate(how + "\n", timeout=120)
        assert self.process.returncode in (0, -signal.SIGKILL), err
        return self.process.returncode


def _postmaster_pid(cluster: Path) -> int | None:
    try:
        pid = int((cluster / "postmaster.pid").read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def _stopped_within(cluster: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _postmaster_pid(cluster) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    return _postmaster_pid(cluster) is None


@pytest.fixture
def cluster_dir() -> Iterator[Path]:
    data_dir = TEST_DATA_DIR / f"embedded-{os.getpid()}-{time.monotonic_ns()}"
    yield data_dir
    pid = _postmaster_pid(data_dir / "lifecycle")
    if pid is not None:
        os.kill(pid, signal.SIGTERM)


def test_a_user_killed_while_another_runs_does_not_keep_the_server_up(cluster_dir: Path) -> None:
    # As in a test run: the runner holds the server, a CLI it started is killed mid-way.
    runner = User(cluster_dir)
    assert User(cluster_dir).end("kill") == -signal.SIGKILL
    assert _postmaster_pid(cluster_dir / "lifecycle") is not None
    assert runner.end("exit") == 0
    assert _stopped_within(cluster_dir / "lifecycle", 20), "the last live user exited"


def test_a_user_killed_alone_is_forgotten_by_the_next(cluster_dir: Path) -> None:
    assert User(cluster_dir).end("kill") == -signal.SIGKILL
    # Nobody let go: the server is still up, the dead user still listed.
    assert _postmaster_pid(cluster_dir / "lifecycle") is not None
    assert User(cluster_dir).end("exit") == 0
    assert _stopped_within(cluster_dir / "lifecycle", 20), "the last live user exited"
