"""What a newcomer meets around ``accord demo``: a busy port, a data directory's own settings."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from accord.platform.settings import Settings, write_data_dir_settings
from tests.conftest import subprocess_env
from tests.factories.cli import accord


def test_a_demo_on_a_busy_port_changes_nothing_and_says_what_to_do(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = subprocess_env(ACCORD_DATA_DIR=str(data))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = accord("demo", "--port", str(port), env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert f"CONFLICT/PORT_IN_USE: Cannot listen on 127.0.0.1:{port}" in message
    assert f"--port {port + 1}" in message and f"http://127.0.0.1:{port}/graphql" in message
    assert "Errno" not in message and "Traceback" not in message
    assert not data.exists()  # no tokens rewritten, no store started, no settings written


def test_serve_on_a_busy_port_is_refused_with_a_code(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = accord("serve", "--port", str(port), timeout=60)
    assert result.returncode == 2 and "CONFLICT/PORT_IN_USE" in result.stderr


def test_a_data_directory_carries_its_network_and_the_environment_overrides_it(
    tmp_path: Path,
) -> None:
    network = Settings(
        data_dir=tmp_path,
        home_store="eu-central",
        home_region="eu-central",
        stores=[{"name": "us-east", "region": "us-east", "url": "embedded:us-east"}],
    )
    path = write_data_dir_settings(network)
    assert path.stat().st_mode & 0o777 == 0o600
    # Only ACCORD_DATA_DIR is set: the directory's own settings name the network.
    env = {k: v for k, v in subprocess_env().items() if not k.startswith("ACCORD_")}
    env["ACCORD_DATA_DIR"] = str(tmp_path)
    seen = json.loads(accord("config", "--json", env=env).stdout)
    assert (seen["home_store"], seen["home_region"]) == ("eu-central", "eu-central")
    assert [(s["name"], s["region"]) for s in seen["stores"]] == [("us-east", "us-east")]
    overridden = json.loads(
        accord("config", "--json", env={**env, "ACCORD_HOME_REGION": "frankfurt"}).stdout
    )
    assert overridden["home_region"] == "frankfurt" and overridden["home_store"] == "eu-central"
    # A directory without one keeps the defaults.
    env["ACCORD_DATA_DIR"] = str(tmp_path / "elsewhere")
    assert json.loads(accord("config", "--json", env=env).stdout)["home_store"] == "home"


def test_an_unknown_tenant_names_the_network_that_was_asked() -> None:
    result = accord("tenant", "show", "nosuchpartner")
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "NOT_FOUND/UNKNOWN_TENANT: No tenant 'nosuchpartner'." in message
    assert "Looked in the network of home store 'home'" in message
    assert "ACCORD_DATA_DIR" in message
