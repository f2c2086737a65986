"""The image recipe, read with BuildKit's own Dockerfile parser, and its health check run
against a served app. (Building the image needs a Docker daemon and the base image.)"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import dockerfile
import yaml

from accord.app import create_app
from accord.platform.runtime import Runtime
from accord.platform.settings import Settings
from tests.factories.api import served
from tests.factories.cli import free_port
from tests.factories.helm import CHART

REPO = Path(__file__).resolve().parents[2]
COMMANDS = dockerfile.parse_file(str(REPO / "Dockerfile"))


def _stages() -> list[list[dockerfile.Command]]:
    stages: list[list[dockerfile.Command]] = []
    for command in COMMANDS:
        if command.cmd == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(command)
    return stages


def _one(stage: list[dockerfile.Command], cmd: str) -> dockerfile.Command:
    (found,) = [c for c in stage if c.cmd == cmd]
    return found


def test_the_runtime_stage_is_the_slim_base_plus_the_environment_and_nothing_to_build() -> None:
    build, runtime = _stages()
    assert build[0].value[-2:] == ("AS", "build")
    assert runtime[0].value[-2:] == ("AS", "runtime")
    # The same slim Python base in both stages (the environment's interpreter links to it).
    assert build[0].value[0] == runtime[0].value[0] == "${PYTHON_IMAGE}"
    (arg,) = [c for c in COMMANDS if c.cmd == "ARG"]
    assert arg.value[0].startswith("PYTHON_IMAGE=python:3.") and "-slim" in arg.value[0]
    # Dependencies are binary wheels: no compiler in either stage.
    install = " ".join(" ".join(c.value) for c in build if c.cmd == "RUN")
    assert "--only-binary=:all:" in install
    assert "venv --without-pip" in install
    # The runtime stage installs nothing and takes only the built environment.
    setup = " ".join(" ".join(c.value) for c in runtime if c.cmd == "RUN")
    for tool in ("apt-get", "apk", "pip", "gcc", "make", "build-essential"):
        assert tool not in setup
    copies = [c for c in runtime if c.cmd == "COPY"]
    assert [(c.flags, c.value) for c in copies] == [
        (("--from=build",), ("/opt/accord", "/opt/accord"))
    ]


def test_it_runs_as_the_non_root_user_the_chart_expects() -> None:
    _, runtime = _stages()
    assert _one(runtime, "USER").value == ("10001:10001",)
    chart = yaml.safe_load((CHART / "values.yaml").read_text())
    assert chart["podSecurityContext"]["runAsUser"] == 10001
    assert chart["podSecurityContext"]["runAsGroup"] == 10001
    pairs = _one(runtime, "ENV").value
    env = dict(zip(pairs[::2], pairs[1::2], strict=True))
    assert env["ACCORD_ENV"] == "prod"
    # The chart mounts its writable data volume where the image keeps its data directory.
    assert env["ACCORD_DATA_DIR"] == "/var/lib/accord"
    assert _one(runtime, "ENTRYPOINT").value == ("accord",)
    assert _one(runtime, "CMD").value == ("serve",)


def test_only_the_package_is_sent_to_the_build() -> None:
    ignore = (REPO / ".dockerignore").read_text().split("\n")
    patterns = [line for line in ignore if line and not line.startswith("#")]
    assert patterns[0] == "*"  # an allow-list: tests, .venv, .accord, .git never go in
    allowed = {p.removeprefix("!").rstrip("/") for p in patterns if p.startswith("!")}
    build, _ = _stages()
    sources = {src for c in build if c.cmd == "COPY" for src in c.value[:-1]}
    assert sources <= allowed


async def test_the_health_check_passes_on_a_live_api_and_fails_without_one(
    settings: Settings, runtime: Runtime
) -> None:
    _, stage = _stages()
    check = _one(stage, "HEALTHCHECK")
    assert check.value[:3] == ("CMD", "python", "-c")
    script = check.value[3]
    assert "http://127.0.0.1:8000/healthz" in script
    async with served(create_app(settings, runtime=runtime)) as port:
        assert await _exit_code(script.replace(":8000/", f":{port}/")) == 0
    assert await _exit_code(script.replace(":8000/", f":{free_port()}/")) != 0


async def _exit_code(script: str) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), timeout=30)
