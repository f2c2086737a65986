"""An operator scripts a partner's onboarding: ``accord tenant create --admin --issuer``,
``accord idp``, ``accord member``, ``accord service-account``; failures exit 2 with a code
and leave nothing behind."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from accord.platform.eventlog import EventLogEntry
from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service
from accord.tenants.sessions import tenant_session
from tests.conftest import unique_slug
from tests.factories.cli import accord
from tests.factories.oidc import AUDIENCE, OidcProvider, oidc_provider


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[OidcProvider]:
    async with oidc_provider() as served:
        yield served


async def _run(*args: str) -> subprocess.CompletedProcess[str]:
    # In a thread: the command may call the IdP this event loop serves.
    return await asyncio.to_thread(accord, *args)


async def _json(*args: str) -> Any:
    done = await _run(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_an_operator_onboards_a_partner_with_commands(
    runtime: Runtime, provider: OidcProvider
) -> None:
    slug = unique_slug("cli")
    realm = provider.realm("EdDSA")
    failed = await _run(
        *("tenant", "create", slug, "--name", "Cli Ltd", "--jurisdiction", "FR"),
        *("--admin", "root@cli.example", "--issuer", f"{realm.base}/realms/missing"),
    )
    assert failed.returncode == 2 and "DISCOVERY_FAILED" in failed.stderr
    async with runtime.control_session() as session:
        assert await tenant_service.find(session=session, slug=slug) is None

    done = await _run(
        *("tenant", "create", slug, "--name", "Cli Ltd", "--jurisdiction", "FR"),
        *("--admin", "root@cli.example", "--admin-name", "Root"),
    )
    assert done.returncode == 0, done.stderr
    added = await _json("idp", "add", realm.issuer, "--tenant", slug, "--audience", AUDIENCE)
    assert (added["jwks_uri"], added["algorithms"]) == (realm.jwks_uri, ["EdDSA"])
    bad = await _run("idp", "add", "http://idp.example.org", "--tenant", slug, "--audience", "a")
    assert bad.returncode == 2 and "BAD_USER_INPUT/BAD_ISSUER" in bad.stderr
    assert [i["issuer"] for i in await _json("idp", "list", "--tenant", slug)] == [realm.issuer]

    await _json(
        *("member", "add", "qm@cli.example", "--tenant", slug, "--name", "QM"),
        *("--roles", "quality_manager,auditor"),
    )
    role = await _run("member", "role", "qm@cli.example", "--tenant", slug, "--roles", "viewer")
    assert role.returncode == 0, role.stderr
    last = await _run("member", "remove", "root@cli.example", "--tenant", slug)
    assert last.returncode == 2 and "CONFLICT/LAST_ADMIN" in last.stderr
    assert await _json("member", "list", "--tenant", slug) == [
        {"subject": "qm@cli.example", "name": "QM", "email": None, "roles": ["viewer"]},
        {"subject": "root@cli.example", "name": "Root", "email": None, "roles": ["tenant_admin"]},
    ]
    removed = await _run("member", "remove", "qm@cli.example", "--tenant", slug)
    assert removed.returncode == 0, removed.stderr

    client = f"etl-{slug}"
    created = await _json(
        "service-account", "create", client, "--tenant", slug, "--name", "ETL", "--secret"
    )
    assert created["has_secret"] and len(created["client_secret"]) >= 40
    listed = await _json("service-account", "list", "--tenant", slug)
    assert listed == [{"client_id": client, "name": "ETL", "has_secret": True}]
    assert created["client_secret"] not in json.dumps(listed)
    revoked = await _run("service-account", "revoke", client, "--tenant", slug)
    assert revoked.returncode == 0, revoked.stderr
    assert await _json("service-account", "list", "--tenant", slug) == []
    removed_idp = await _run("idp", "remove", realm.issuer, "--tenant", slug)
    assert removed_idp.returncode == 0, removed_idp.stderr
    async with tenant_session(runtime, slug) as session:
        rows = await session.execute(
            select(EventLogEntry.actor, EventLogEntry.action).order_by(EventLogEntry.seq)
        )
        logged = [(actor, action) for actor, action in rows if action != "tenant.provisioned"]
    assert logged == [
        ("accord-cli", action)
        for action in (
            "member.added",
            "identity_provider.registered",
            "member.added",
            "member.roles_changed",
            "member.removed",
            "service_account.created",
            "service_account.revoked",
            "identity_provider.removed",
        )
    ]
