"""Offboarding exports everything, verifiably, and a restore reproduces the same content."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from accord.platform.errors import BadInput, Conflict, NotFound
from accord.platform.eventlog import append_event, verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.archive import export_tenant, offboard_tenant, restore_tenant, verify_export
from accord.tenants.models import TenantStatus
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, TenantFactory, unique_slug
from tests.factories.tenants import control_row, role_exists, schema_exists


async def _history(runtime: Runtime, slug: str, n: int) -> None:
    async with tenant_session(runtime, slug) as session:
        for i in range(n):
            await append_event(
                session,
                actor="user:lea.hoffmann",
                action="finding.raised",
                record_type="finding",
                record_id=f"F-{i:03d}",
                change={
                    "grade": "minor",
                    "amount": 12.5,
                    "note": "Manifest unvollständig – «Abfall»",
                },
            )


async def test_offboarding_exports_verifies_then_removes_and_keeps_a_tombstone(
    runtime: Runtime, make_tenant: TenantFactory, tmp_path: Path
) -> None:
    tenant = await make_tenant(SECOND_STORE, label="off")
    await _history(runtime, tenant.slug, 25)

    tomb = await offboard_tenant(runtime, slug=tenant.slug, export_root=tmp_path)

    assert tomb.status == TenantStatus.OFFBOARDED and tomb.offboarded_at is not None
    export_dir = Path(tomb.export_path or "")
    manifest = json.loads((export_dir / "manifest.json").read_text())
    by_table = {e["table"]: e for e in manifest["tables"]}
    # provisioned + suspended(offboarding) + 25 findings
    assert by_table["event_log"]["rows"] == 27
    heads = manifest["schema_revision"].split(",")
    assert by_table["alembic_version"]["rows"] == len(heads) >= 1
    for entry in manifest["tables"]:
        data = (export_dir / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data.splitlines()) == entry["rows"]
    assert verify_export(export_dir) == tomb.export_hash == manifest["content_hash"]

    assert not await schema_exists(runtime, SECOND_STORE, tenant.scope.schema)
    assert not await role_exists(runtime, SECOND_STORE, tenant.scope.role)
    row = await control_row(runtime, tenant.slug)
    assert row is not None and row.status == TenantStatus.OFFBOARDED

    with pytest.raises(Conflict) as again:
        await offboard_tenant(runtime, slug=tenant.slug, export_root=tmp_path)
    assert again.value.reason == "TENANT_OFFBOARDED"
    with pytest.raises(Conflict) as reuse:
        await make_tenant(slug=tenant.slug)
    assert reuse.value.reason == "TENANT_OFFBOARDED"


async def test_offboarding_an_unknown_tenant_changes_nothing(
    runtime: Runtime, tmp_path: Path
) -> None:
    with pytest.raises(NotFound) as info:
        await offboard_tenant(runtime, slug=unique_slug("nobody"), export_root=tmp_path)
    assert info.value.reason == "UNKNOWN_TENANT"
    assert list(tmp_path.iterdir()) == []


async def test_restore_into_a_fresh_schema_gives_identical_content_hashes(
    runtime: Runtime, make_tenant: TenantFactory, tmp_path: Path
) -> None:
    original = await make_tenant(label="orig")
    await _history(runtime, original.slug, 40)
    first = await export_tenant(runtime, slug=original.slug, directory=tmp_path / "first")

    copy_slug = unique_slug("copy")
    restored = await restore_tenant(
        runtime, directory=first.directory, slug=copy_slug, store=SECOND_STORE
    )
    assert restored.legal_name == original.legal_name
    second = await export_tenant(runtime, slug=copy_slug, directory=tmp_path / "second")

    assert second.content_hash == first.content_hash
    assert second.rows == first.rows
    async with tenant_session(runtime, copy_slug) as session:
        verdict = await verify_chain(session)
    assert verdict.ok and verdict.entries == 41


async def test_a_damaged_export_is_refused_and_nothing_is_created(
    runtime: Runtime, make_tenant: TenantFactory, tmp_path: Path
) -> None:
    tenant = await make_tenant(label="dmg")
    await _history(runtime, tenant.slug, 3)
    result = await export_tenant(runtime, slug=tenant.slug, directory=tmp_path / "x")
    log = result.directory / "event_log.ndjson"
    log.write_bytes(log.read_bytes().replace(b"minor", b"major", 1))

    slug = unique_slug("dmg")
    with pytest.raises(BadInput) as info:
        await restore_tenant(runtime, directory=result.directory, slug=slug, store="home")
    assert info.value.reason == "EXPORT_DAMAGED"
    assert "event_log.ndjson" in info.value.message
    assert await control_row(runtime, slug) is None


async def test_a_restore_failing_midway_leaves_nothing(
    runtime: Runtime, make_tenant: TenantFactory, tmp_path: Path
) -> None:
    tenant = await make_tenant(label="half")
    await _history(runtime, tenant.slug, 3)
    result = await export_tenant(runtime, slug=tenant.slug, directory=tmp_path / "x")
    # A consistent manifest over rows the database will reject (duplicate primary key).
    log = result.directory / "event_log.ndjson"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join([*lines, lines[-1]]))
    manifest = json.loads((result.directory / "manifest.json").read_text())
    from accord.platform.canonical import canonical_digest, canonical_json

    for entry in manifest["tables"]:
        if entry["table"] == "event_log":
            entry["rows"] += 1
            entry["sha256"] = hashlib.sha256(log.read_bytes()).hexdigest()
    manifest["content_hash"] = canonical_digest(
        {"schema_revision": manifest["schema_revision"], "tables": manifest["tables"]}
    )
    (result.directory / "manifest.json").write_bytes(canonical_json(manifest))

    slug = unique_slug("half")
    with pytest.raises(BadInput, match="duplicate key") as info:
        await restore_tenant(runtime, directory=result.directory, slug=slug, store="home")
    assert info.value.reason == "EXPORT_REFUSED" and "event_log.ndjson" in info.value.message
    assert await control_row(runtime, slug) is None
    assert not await schema_exists(runtime, "home", f"t_{slug}")
    async with runtime.stores.engine("home").connect() as conn:
        assert not await conn.scalar(
            text("select exists (select 1 from pg_roles where rolname = :r)"),
            {"r": f"accord_t_{slug}"},
        )
