"""SIGKILL mid-run and resume; the ``accord sync`` commands in-process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from accord.commands.sync import sync_app
from accord.connectors.models import SyncRun
from accord.connectors.sync import engine
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session
from tests.conftest import REPO, subprocess_env
from tests.connectors.conftest import MakeInstance
from tests.connectors.fake_sap import FakeSap
from tests.factories.connectors import snapshot

SCRIPT = Path(__file__).with_name("run_sync.py")


async def _committed_pages(runtime: Runtime, slug: str) -> int:
    async with tenant_session(runtime, slug) as s:
        return int(await s.scalar(select(func.coalesce(func.sum(SyncRun.pages), 0))) or 0)


def _spawn(instance: str) -> subprocess.Popen[bytes]:
    env = subprocess_env(PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), "run", instance, "--json"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def test_sigkill_mid_run_then_resume_matches_an_uninterrupted_run(
    runtime: Runtime, make_tenant: Any, make_instance: MakeInstance, sap: tuple[FakeSap, str]
) -> None:
    app, url = sap
    app.count, app.page_delay = 60, 0.15
    killed, clean = await make_tenant(label="kill"), await make_tenant(label="clean")
    loaded = await make_instance(killed.slug, url, page_size=5)

    child = _spawn(str(loaded.row.id))
    try:
        for _ in range(400):
            if await _committed_pages(runtime, killed.slug) >= 3:
                break
            assert child.poll() is None, child.communicate()
            await asyncio.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.communicate(timeout=30)  # reaps the child and closes its pipes
    assert child.returncode == -signal.SIGKILL
    partial = await snapshot(runtime, killed.slug)
    assert 15 <= len(partial["rows"]) < 60

    app.page_delay = 0
    resumed = _spawn(str(loaded.row.id))
    stdout, stderr = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, stderr.decode()
    [result] = json.loads(stdout)
    assert result["created"] == 60 - len(partial["rows"])

    reference = await make_instance(clean.slug, url, page_size=5)
    [uninterrupted] = await engine.run_instance(runtime, reference)
    assert uninterrupted.counts["created"] == 60

    after, baseline = await snapshot(runtime, killed.slug), await snapshot(runtime, clean.slug)
    assert after["rows"] == baseline["rows"] and len(after["rows"]) == 60
    assert after["events"] == baseline["events"] and after["chain_ok"]
    async with tenant_session(runtime, killed.slug) as s:
        run_rows = (await s.scalars(select(SyncRun).order_by(SyncRun.started_at))).all()
    assert [r.status for r in run_rows] == ["interrupted", "succeeded"]
    assert sum(r.created for r in run_rows) == 60
    assert sum(r.fetched for r in run_rows) == 60  # resumed at the page after the last commit


@pytest.fixture
async def cli_tenant(make_tenant: Any) -> str:
    return str((await make_tenant(label="cli")).slug)


def test_cli_add_run_status_quarantine(
    cli_tenant: str, sap: tuple[FakeSap, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app, url = sap
    app.count, app.require_token = 8, True
    app.overrides = {4: {"NotificationType": "ZZ"}}
    env = subprocess_env()  # before the loop below removes ACCORD_TEST_DATABASE_URL
    for key in [k for k in os.environ if k.startswith("ACCORD_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("ACCORD_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("ACCORD_SYNC_CLIENT_SECRET", "s3cret")
    runner = CliRunner()
    config = json.dumps({"page_size": 3, "backoff_seconds": 0.01})
    added = runner.invoke(
        sync_app,
        [
            "add",
            cli_tenant,
            "qm",
            "--kind",
            "sap",
            "--base-url",
            url,
            "--config",
            config,
            "--token-url",
            f"{url}/oauth/token",
            "--client-id",
            "accord",
            "--schedule",
            "15m",
            "--json",
        ],
    )
    assert added.exit_code == 0, added.output
    assert "s3cret" not in added.output

    ran = runner.invoke(sync_app, ["run", "qm", "--tenant", cli_tenant, "--json"])
    assert ran.exit_code == 0, ran.output
    [result] = json.loads(ran.stdout)
    assert (result["created"], result["quarantined"]) == (7, 1)

    status = runner.invoke(sync_app, ["status", "--tenant", cli_tenant, "--json"])
    [run] = json.loads(status.stdout)
    assert run["status"] == "succeeded" and run["pages"] == 3 and run["fetched"] == 8

    listed = runner.invoke(sync_app, ["quarantine", "list", "qm", "--tenant", cli_tenant, "--json"])
    [entry] = json.loads(listed.stdout)
    assert entry["external_id"] == "200000004" and entry["reasons"][0]["reason"] == "UNKNOWN_CODE"

    fix = tmp_path / "fix.yaml"
    fix.write_text(
        "quality_notifications:\n  fields:\n    grade:\n      codes: {ZZ: observation}\n"
    )
    assert (
        runner.invoke(sync_app, ["mapping", "qm", str(fix), "--tenant", cli_tenant]).exit_code == 0
    )
    replayed = runner.invoke(
        sync_app, ["quarantine", "replay", "qm", "--tenant", cli_tenant, "--json"]
    )
    assert json.loads(replayed.stdout)[0]["replayed"] == 1, replayed.output

    # The schedule says 15 minutes: a scheduler tick right after a run has nothing due.
    once = runner.invoke(sync_app, ["scheduler", "--once"])
    assert once.exit_code == 0, once.output
    assert f"{cli_tenant}/qm" not in once.output
