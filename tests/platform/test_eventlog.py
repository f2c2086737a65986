"""The event log is a hash chain the database will not let anyone rewrite."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from accord.platform.eventlog import GENESIS_HASH, append_event, verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.models import Tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory
from tests.factories.admin import admin_connection


async def _fill(runtime: Runtime, tenant: Tenant, count: int) -> None:
    async with tenant_session(runtime, tenant.slug) as session:
        for i in range(count):
            await append_event(
                session,
                actor="user:anna.keller",
                action="finding.updated",
                record_type="finding",
                record_id=f"F-{i}",
                change={
                    "n": i,
                    "ratio": 0.25,
                    "text": "Kalibrierung überfällig",
                    "tags": ["a", "b"],
                },
            )


async def test_chain_links_every_entry_to_the_previous(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="log")
    await _fill(runtime, tenant, 5)
    async with tenant_session(runtime, tenant.slug) as session:
        rows = (
            await session.execute(
                text(f'select seq, prev_hash, hash from "t_{tenant.slug}".event_log order by seq')
            )
        ).all()
        verdict = await verify_chain(session)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0].prev_hash == GENESIS_HASH
    assert all(rows[i].prev_hash == rows[i - 1].hash for i in range(1, len(rows)))
    assert verdict.ok and verdict.entries == 6 and verdict.head_hash == rows[-1].hash


@pytest.mark.parametrize(
    "statement",
    [
        "update {t}.event_log set actor = 'mallory' where seq = 2",
        "delete from {t}.event_log where seq = 2",
        "truncate {t}.event_log",
    ],
)
async def test_tenant_role_cannot_update_delete_or_truncate(
    runtime: Runtime, make_tenant: TenantFactory, statement: str
) -> None:
    tenant = await make_tenant(label="ro")
    await _fill(runtime, tenant, 2)
    with pytest.raises(DBAPIError, match="permission denied"):
        async with tenant_session(runtime, tenant.slug) as session:
            await session.execute(text(statement.format(t=f'"t_{tenant.slug}"')))


async def test_database_refuses_rewrites_even_by_the_owner_of_the_table(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="trg")
    await _fill(runtime, tenant, 2)
    with pytest.raises(DBAPIError, match="append-only"):
        async with runtime.stores.migrator_engine("home").begin() as conn:
            await conn.execute(text(f"update \"t_{tenant.slug}\".event_log set actor = 'x'"))
    with pytest.raises(DBAPIError, match="append-only"):
        async with runtime.stores.migrator_engine("home").begin() as conn:
            await conn.execute(text(f'delete from "t_{tenant.slug}".event_log'))


async def _tamper(runtime: Runtime, tenant: Tenant, sql: str) -> None:
    """What an attacker with superuser access could do: bypass the trigger and rewrite."""
    async with admin_connection(tenant.store) as conn:
        await conn.execute(text("set local session_replication_role = replica"))
        await conn.execute(text(sql.format(t=f'"t_{tenant.slug}"')))


@pytest.mark.parametrize(
    ("sql", "broken_at", "reason"),
    [
        ("update {t}.event_log set change = '{{\"n\": 99}}' where seq = 4", 4, "content"),
        ("update {t}.event_log set actor = 'mallory' where seq = 2", 2, "content"),
        ("delete from {t}.event_log where seq = 3", 3, "sequence gap"),
        ("update {t}.event_log set prev_hash = repeat('a', 64) where seq = 5", 5, "previous-hash"),
    ],
)
async def test_tampering_is_found_at_the_right_sequence(
    runtime: Runtime, make_tenant: TenantFactory, sql: str, broken_at: int, reason: str
) -> None:
    tenant = await make_tenant(label="tmp")
    await _fill(runtime, tenant, 6)
    await _tamper(runtime, tenant, sql)
    async with tenant_session(runtime, tenant.slug) as session:
        verdict = await verify_chain(session)
    assert not verdict.ok
    assert verdict.first_broken_seq == broken_at
    assert verdict.reason is not None and reason in verdict.reason


async def test_recomputed_hash_after_tampering_still_breaks_the_next_link(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    """Rewriting an entry *and* its hash is caught by the following entry's prev_hash."""
    from accord.platform.eventlog import EventLogEntry, entry_digest

    tenant = await make_tenant(label="rehash")
    await _fill(runtime, tenant, 4)
    async with tenant_session(runtime, tenant.slug) as session:
        row = await session.get(EventLogEntry, 3)
        assert row is not None
        forged = entry_digest(
            seq=row.seq,
            at=row.at,
            actor="mallory",
            action=row.action,
            record_type=row.record_type,
            record_id=row.record_id,
            change=row.change,
            prev_hash=row.prev_hash,
        )
    await _tamper(
        runtime,
        tenant,
        f"update {{t}}.event_log set actor = 'mallory', hash = '{forged}' where seq = 3",
    )
    async with tenant_session(runtime, tenant.slug) as session:
        verdict = await verify_chain(session)
    assert verdict.first_broken_seq == 4
