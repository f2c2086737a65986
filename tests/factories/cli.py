"""Running the ``accord`` command against the test stores."""

from __future__ import annotations

import subprocess
import sys

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
