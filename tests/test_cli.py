"""The ``accord`` command, run as a subprocess against the test stores."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from accord.demo import TRY_QUERY
from accord.platform.runtime import Runtime
from tests.conftest import SECOND_STORE, TenantFactory, subprocess_env, unique_slug
from tests.factories.admin import admin_connection
from tests.factories.cli import accord, demo_env, free_port, start_demo, stop_demo

COMMANDS = {
    "": "shared compliance graph",
    "config": "effective settings",
    "migrate": "every tenant schema",
    "serve": "Serve the API",
    "demo": "demo partner network",
    "tenant": "Partner tenants",
    "tenant create": "all or nothing",
    "tenant list": "List tenants",
    "tenant show": "tombstone",
    "tenant suspend": "Block all access",
    "tenant resume": "Lift a suspension",
    "tenant offboard": "Export a tenant",
    "tenant restore": "from an offboarding export",
    "tenant access-log": "under its sharing agreements",
    "store": "PostgreSQL servers",
    "store list": "List stores",
    "store add": "Register a PostgreSQL server",
    "eventlog": "tamper-evident",
    "eventlog verify": "first broken entry",
    "gaps": "Gap analysis of a tenant",
    "catalog": "Standards catalog and clause mappings",
    "token": "",
    "raci": "RACI matrices",
    "sync": "ERP connectors",
    "schema": "The GraphQL schema",
    "agreement": "Data-sharing agreements",
    "agreement propose": "once the grantee accepts",
    "authz": "action gate",
}


@pytest.mark.parametrize(("command", "explanation"), COMMANDS.items(), ids=lambda c: c or "accord")
def test_every_command_explains_itself(command: str, explanation: str) -> None:
    result = accord(*command.split(), "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    assert explanation in " ".join(result.stdout.split())
    assert len(result.stdout) > 200


def test_tenant_lifecycle_through_the_cli(runtime: Runtime, tmp_path: Path) -> None:
    slug = unique_slug("cli")
    created = accord(
        "tenant",
        "create",
        slug,
        "--name",
        "Globex Components Inc.",
        "--jurisdiction",
        "US",
        "--store",
        SECOND_STORE,
        "--json",
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["store"] == SECOND_STORE

    listed = json.loads(accord("tenant", "list", "--json").stdout)
    mine = [t for t in listed if t["slug"] == slug]
    assert mine and mine[0]["region"] == "test-2" and mine[0]["status"] == "active"

    shown = accord("tenant", "show", slug, "--json")
    assert json.loads(shown.stdout)["legal_name"] == "Globex Components Inc."

    assert accord("tenant", "suspend", slug, "--reason", "audit").returncode == 0
    blocked = accord("eventlog", "verify", "--tenant", slug)
    assert blocked.returncode == 2 and "TENANT_SUSPENDED" in blocked.stderr
    assert accord("tenant", "resume", slug).returncode == 0

    verified = accord("eventlog", "verify", "--tenant", slug, "--json")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["entries"] == 3

    off = accord("tenant", "offboard", slug, "--yes", "--export-dir", str(tmp_path))
    assert off.returncode == 0, off.stderr
    assert "content hash" in off.stdout
    assert json.loads(accord("tenant", "show", slug, "--json").stdout)["status"] == "offboarded"
    assert slug not in [t["slug"] for t in json.loads(accord("tenant", "list", "--json").stdout)]
    assert slug in [
        t["slug"] for t in json.loads(accord("tenant", "list", "--all", "--json").stdout)
    ]

    again = accord("tenant", "offboard", slug, "--yes", "--export-dir", str(tmp_path))
    assert again.returncode == 2 and "TENANT_OFFBOARDED" in again.stderr


@pytest.mark.parametrize(
    ("slug", "reason"),
    [
        ("", "SLUG_EMPTY"),
        ("x" * 41, "SLUG_TOO_LONG"),
        ("Northwind", "SLUG_UPPER_CASE"),
        ("n\u043erthwind", "SLUG_NOT_ASCII"),
        ("a; drop schema accord", "SLUG_INVALID_CHARACTERS"),
        ("it's", "SLUG_INVALID_CHARACTERS"),
        ("accord", "SLUG_RESERVED"),
        ("information_schema", "SLUG_RESERVED"),
        ("pg_catalog", "SLUG_RESERVED"),
    ],
)
def test_bad_slugs_exit_2_with_a_code(slug: str, reason: str) -> None:
    result = accord("tenant", "create", slug, "--name", "X", "--jurisdiction", "DE")
    assert result.returncode == 2
    assert f"BAD_USER_INPUT/{reason}" in result.stderr
    assert "Traceback" not in result.stderr


async def test_refusals_change_nothing(runtime: Runtime, make_tenant: TenantFactory) -> None:
    existing = await make_tenant(label="dup")
    before = accord("tenant", "list", "--all", "--json").stdout

    duplicate = accord("tenant", "create", existing.slug, "--name", "Other", "--jurisdiction", "DE")
    assert duplicate.returncode == 2 and "CONFLICT/DUPLICATE_TENANT" in duplicate.stderr
    unknown_store = accord(
        "tenant",
        "create",
        unique_slug(),
        "--name",
        "X",
        "--jurisdiction",
        "DE",
        "--store",
        "atlantis",
    )
    assert unknown_store.returncode == 2 and "NOT_FOUND/UNKNOWN_STORE" in unknown_store.stderr
    unknown = accord("tenant", "offboard", unique_slug("ghost"), "--yes")
    assert unknown.returncode == 2 and "NOT_FOUND/UNKNOWN_TENANT" in unknown.stderr

    assert accord("tenant", "list", "--all", "--json").stdout == before


async def test_eventlog_verify_names_the_broken_entry(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="brk")
    async with admin_connection(tenant.store) as conn:
        await conn.execute(text("set local session_replication_role = replica"))
        await conn.execute(
            text(f"update \"t_{tenant.slug}\".event_log set actor = 'mallory' where seq = 1")
        )
    result = accord("eventlog", "verify", "--tenant", tenant.slug)
    assert result.returncode == 1
    assert "broken at sequence 1" in result.stdout


async def test_migrate_brings_every_tenant_schema_to_head(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    await make_tenant(label="mig")
    broken = await make_tenant(label="gone")
    async with runtime.stores.migrator_engine(broken.store).begin() as conn:
        await conn.exec_driver_sql(f'DROP SCHEMA "{broken.scope.schema}" CASCADE')
    result = accord("migrate")
    assert "tenant schema(s) at head" in result.stdout
    assert "ms per tenant" in result.stdout
    # A tenant whose schema vanished is named, the others are migrated, the exit says so.
    assert result.returncode == 1
    assert f"{broken.slug}: TENANT_SCHEMA_MISSING" in " ".join(result.stderr.split())


def test_config_masks_secrets() -> None:
    env = subprocess_env(ACCORD_DATABASE_URL="postgresql://app:hunter2@db.internal:5432/accord")
    result = accord("config", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout
    assert (
        json.loads(result.stdout)["database_url"] == "postgresql://app:***@db.internal:5432/accord"
    )


def test_unreadable_settings_exit_2() -> None:
    result = accord("config", env=subprocess_env(ACCORD_ENV="staging"))
    assert result.returncode == 2 and "BAD_SETTINGS" in result.stderr


@pytest.mark.slow
def test_demo_starts_the_partner_network_and_serves_it(tmp_path: Path) -> None:
    port = free_port()
    proc = start_demo(tmp_path / "data", port, seconds=90)
    try:
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
        assert ready is not None and ready.status_code == 200, "demo did not come up in 90 s"
        assert set(ready.json()["stores"]) == {"eu-central", "us-east"}
        # Northwind's quality manager, with the token the demo handed out: the partner list
        # is for signed-in callers only.
        token = (
            tmp_path / "data" / "demo" / "demo-tokens" / "northwind-anna.keller.jwt"
        ).read_text()
        response = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": "{ tenants { slug store region } }"},
            headers={"authorization": f"Bearer {token}"},
            timeout=10,
        )
        tenants = {t["slug"]: t for t in response.json()["data"]["tenants"]}
        assert {"northwind", "globex", "meridian", "initech"} <= set(tenants)
        assert tenants["globex"]["store"] == "us-east"
        assert tenants["northwind"]["region"] == "eu-central"
        page = httpx.get(
            f"http://127.0.0.1:{port}/graphql", headers={"accept": "text/html"}, timeout=5
        )
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        # The same person sees its own findings and globex's (us-east, full agreement, RACI
        # process) in one listing.
        listing = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": TRY_QUERY.replace("first: 10", "first: 100")},
            headers={"authorization": f"Bearer {token}"},
            timeout=20,
        ).json()
        assert "errors" not in listing, listing
        nodes = [e["node"] for e in listing["data"]["findings"]["edges"]]
        assert {n["tenant"] for n in nodes} == {"northwind", "globex"}
        assert all(n["level"] == "FULL" for n in nodes)
        dues = [n["responseDueAt"] for n in nodes if n["responseDueAt"]]
        assert dues == sorted(dues)
        board = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={
                "query": '{ networkDashboard(process: "supplier-quality-2027") '
                "{ tenants { tenant openByState suppressedGroups } } }"
            },
            headers={"authorization": f"Bearer {token}"},
            timeout=20,
        ).json()
        counted = {
            t["tenant"] for t in board["data"]["networkDashboard"]["tenants"] if t["openByState"]
        }
        assert "globex" in counted
    finally:
        stderr = stop_demo(proc)
    assert proc.returncode == 0, stderr
    assert "http://127.0.0.1" in stderr
    assert "signed by 2 of 4 executives" in stderr
    # Progress lines are whole lines too (rich wraps at 80 columns off a terminal).
    assert any(line.endswith("incident notified late") for line in stderr.splitlines()), stderr
    assert (tmp_path / "data" / "demo" / "demo-keys" / "meridian-tom.hughes.pem").exists()
    # Embedded servers stop when the demo exits.
    assert not (tmp_path / "data" / "demo" / "postgres" / "postmaster.pid").exists()
    # stderr was a pipe, not a terminal: the printed commands are still whole lines.
    curl = [line for line in stderr.splitlines() if line.lstrip().startswith("curl ")]
    assert len(curl) == 1 and curl[0].rstrip().endswith("}'"), stderr
    assert json.loads(curl[0].split("-d '", 1)[1][:-1]) == {"query": TRY_QUERY}
    cli = [line for line in stderr.splitlines() if "accord gaps" in line]
    assert cli == [
        f"  ACCORD_DATA_DIR={tmp_path / 'data' / 'demo'} accord gaps "
        "--tenant globex --standard iso14001:2015"
    ]
    # That command is enough: the demo's data directory names its own network.
    alone = {k: v for k, v in demo_env(tmp_path / "data").items() if not k.startswith("ACCORD_")}
    alone["ACCORD_DATA_DIR"] = str(tmp_path / "data" / "demo")
    listed = accord("tenant", "list", "--json", env=alone)
    assert listed.returncode == 0, listed.stderr
    assert {(t["slug"], t["store"], t["region"]) for t in json.loads(listed.stdout)} == {
        ("northwind", "eu-central", "eu-central"),
        ("meridian", "eu-central", "eu-central"),
        ("initech", "eu-central", "eu-central"),
        ("globex", "us-east", "us-east"),
    }


async def test_gaps_reports_a_tenant_against_a_standard(make_tenant: TenantFactory) -> None:
    tenant = await make_tenant(label="gapcli")
    result = accord("gaps", "--tenant", tenant.slug, "--standard", "iso9001:2015", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["assessable"] == len(report["clauses"]) > 40
    assert report["summary"]["covered"] == 0
    unknown = accord("gaps", "--tenant", tenant.slug, "--standard", "iso9999:2020")
    assert unknown.returncode == 2
    assert "NOT_FOUND/UNKNOWN_STANDARD" in unknown.stderr


async def test_the_grantor_reads_its_access_log(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    from accord.tenants.agreements import service as agreements
    from accord.tenants.agreements.access import write_access_log

    grantor, grantee = await make_tenant(label="alg"), await make_tenant(label="alr")
    async with runtime.control_session() as session:
        agreement = await agreements.propose(
            session=session,
            grantor=grantor.slug,
            grantee=grantee.slug,
            record_types=["kpi"],
            level="summary",
            purpose="KPI sharing",
            proposed_by="user:x",
        )
        await agreements.accept(
            session=session, agreement_id=agreement.id, tenant=grantee.slug, actor="u"
        )
        await agreements.activate(
            session=session, agreement_id=agreement.id, tenant=grantor.slug, actor="u"
        )
        grants = await agreements.grants_for(
            session=session, grantee=grantee.slug, record_type="kpi"
        )
    await write_access_log(
        runtime,
        agreements.access_entries(
            grants=[(grants[0], 4)], grantee=grantee.slug, principal="u", request_id="r1"
        ),
    )
    result = accord("tenant", "access-log", grantor.slug, "--json")
    assert result.returncode == 0, result.stderr
    assert [(e["grantee"], e["record_type"], e["records"]) for e in json.loads(result.stdout)] == [
        (grantee.slug, "kpi", 4)
    ]


async def test_agreement_lifecycle_through_the_cli(make_tenant: TenantFactory) -> None:
    grantor, grantee = await make_tenant(label="cga"), await make_tenant(label="cgb")
    proposed = accord(
        "agreement",
        "propose",
        "--grantor",
        grantor.slug,
        "--grantee",
        grantee.slug,
        "--types",
        "finding,capa",
        "--level",
        "summary",
        "--purpose",
        "Supplier quality",
        "--json",
    )
    assert proposed.returncode == 0, proposed.stderr
    agreement_id = json.loads(proposed.stdout)["id"]
    wrong = accord("agreement", "activate", agreement_id, "--tenant", grantee.slug)
    assert wrong.returncode == 2
    assert "FORBIDDEN/NOT_GRANTOR" in wrong.stderr
    assert accord("agreement", "accept", agreement_id, "--tenant", grantee.slug).returncode == 0
    activated = accord("agreement", "activate", agreement_id, "--tenant", grantor.slug)
    assert "is active" in activated.stdout
    listed = json.loads(accord("agreement", "list", "--tenant", grantee.slug, "--json").stdout)
    assert [(a["grantor"], a["level"], a["state"]) for a in listed] == [
        (grantor.slug, "summary", "active")
    ]
    revoked = accord(
        "agreement", "revoke", agreement_id, "--tenant", grantee.slug, "--reason", "audit over"
    )
    assert "is revoked" in revoked.stdout
    bad = accord(
        "agreement",
        "propose",
        "--grantor",
        grantor.slug,
        "--grantee",
        grantor.slug,
        "--types",
        "payroll",
        "--level",
        "full",
        "--purpose",
        "x",
    )
    assert bad.returncode == 2
    assert "BAD_USER_INPUT/SELF_GRANT" in bad.stderr
    garbage = accord("agreement", "accept", "not-an-id", "--tenant", grantee.slug)
    assert garbage.returncode == 2
    assert "BAD_USER_INPUT/BAD_ID" in garbage.stderr
