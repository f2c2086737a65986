"""The page upsert's stage table: one per tenant schema on a pooled connection, empty after
every upsert, gone with a rolled-back page.

A runtime of its own with a pool of one connection makes every session below run on the
same PostgreSQL backend (checked), which is what a busy API or scheduler process does.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, text

from accord.compliance.findings.models import Finding
from accord.compliance.findings.schemas import FindingIn
from accord.connectors.sync.finding_sink import FindingSink
from accord.connectors.sync.sinks import Candidate, taken_references
from accord.platform.runtime import Runtime, open_runtime
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory, make_test_settings

SOURCE = "sap-s4hana"


def candidates(prefix: str, count: int) -> list[Candidate]:
    out = []
    for i in range(count):
        payload = {"QualityNotification": f"{prefix}{i}"}
        digest = hashlib.sha256(repr(payload).encode()).hexdigest()
        model = FindingIn.model_validate(
            {
                "source_system": SOURCE,
                "external_id": f"{prefix}{i}",
                "fetched_at": datetime.now(UTC),
                "content_hash": digest,
                "reference": f"QN-{prefix}{i}",
                "title": 'Lot "7", rework, {again}',
                "grade": "minor_nonconformity",
                "severity": "low",
                # Array elements travel as a quoted literal: commas and quotes are data.
                "clause_keys": ["iso9001:2015/8.7", "iso9001:2015/10.2"],
                "criteria": "ISO 9001:2015 8.7",
                "condition": "Parts reworked without a record",
            }
        )
        out.append(Candidate(payload, digest, f"{prefix}{i}", i, model))
    return out


async def backend_pid(session: Any) -> int:
    pid: int = await session.scalar(text("SELECT pg_backend_pid()"))
    return pid


async def test_stage_per_schema_on_one_connection_emptied_and_rolled_back(
    make_tenant: TenantFactory,
) -> None:
    a, b = await make_tenant(label="stga"), await make_tenant(label="stgb")
    settings = make_test_settings(pool_size=1, pool_max_overflow=0)
    sink = FindingSink(SOURCE)
    async with open_runtime(settings) as runtime:
        async with tenant_session(runtime, a.slug) as s:
            pid = await backend_pid(s)
            first = await sink.upsert(s, candidates("a", 2), actor="connector:t")
            # The same table twice in one transaction: the second page sees only its rows.
            second = await sink.upsert(s, candidates("b", 3), actor="connector:t")
            assert [x.created for x in first] == [True, True]
            assert sorted(x.external_id for x in second) == ["b0", "b1", "b2"]
        async with tenant_session(runtime, b.slug) as s:
            assert await backend_pid(s) == pid
            other = await sink.upsert(s, candidates("a", 4), actor="connector:t")
            assert len(other) == 4 and all(x.created for x in other)

        class PageFailed(Exception):
            pass

        with pytest.raises(PageFailed):
            async with tenant_session(runtime, a.slug) as s:
                assert await backend_pid(s) == pid
                # a's stage exists on this connection: the failed page's rows go with it.
                await sink.upsert(s, candidates("c", 2), actor="connector:t")
                raise PageFailed
        async with tenant_session(runtime, a.slug) as s:
            again = await sink.upsert(s, candidates("c", 2), actor="connector:t")
            assert [x.created for x in again] == [True, True]
            # Unchanged records write and return nothing, whatever the stage held before.
            assert await sink.upsert(s, candidates("c", 2), actor="connector:t") == []
            rows = (await s.execute(select(Finding.external_id, Finding.title))).all()
            keys = await s.scalar(select(Finding.clause_keys).where(Finding.external_id == "a0"))
        async with tenant_session(runtime, b.slug) as s:
            count_b = await s.scalar(select(func.count()).select_from(Finding))
    assert sorted(r[0] for r in rows) == ["a0", "a1", "b0", "b1", "b2", "c0", "c1"]
    assert {r[1] for r in rows} == {'Lot "7", rework, {again}'}
    assert keys == ["iso9001:2015/8.7", "iso9001:2015/10.2"]
    assert count_b == 4


async def test_a_new_stage_made_in_a_failed_page_is_made_again(
    make_tenant: TenantFactory,
) -> None:
    tenant = await make_tenant(label="stgc")
    settings = make_test_settings(pool_size=1, pool_max_overflow=0)
    sink = FindingSink(SOURCE)

    class PageFailed(Exception):
        pass

    async with open_runtime(settings) as runtime:
        with pytest.raises(PageFailed):
            async with tenant_session(runtime, tenant.slug) as s:
                # The stage is created in this transaction, and goes with its rollback.
                await sink.upsert(s, candidates("x", 1), actor="connector:t")
                raise PageFailed
        async with tenant_session(runtime, tenant.slug) as s:
            stage = await s.scalar(
                text(
                    "SELECT count(*) FROM pg_class "
                    "WHERE relnamespace = pg_my_temp_schema() AND relname LIKE 'accord_stage_%'"
                )
            )
            assert stage == 0
            applied = await sink.upsert(s, candidates("x", 1), actor="connector:t")
            assert [x.external_id for x in applied] == ["x0"]


async def test_keys_and_references_with_array_syntax_are_found(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    """Lookups send their keys as one array literal: commas, quotes, braces, backslashes
    and the word NULL are data."""
    tenant = await make_tenant(label="stgd")
    sink = FindingSink(SOURCE)
    odd = ["a,b", 'q"x', "{c}", "b\\s", "NULL", " lead"]
    batch = candidates("k", len(odd))
    for c, key in zip(batch, odd, strict=True):
        c.external_id = key
        update = {"external_id": key, "reference": f"R{key}"}
        c.model = c.model.model_copy(update=update)  # type: ignore[union-attr]
    async with tenant_session(runtime, tenant.slug) as s:
        applied = await sink.upsert(s, batch, actor="connector:t")
        assert sorted(a.external_id for a in applied) == sorted(odd)
        known = await sink.existing_hashes(s, SOURCE, odd)
        assert known == {c.external_id: c.payload_hash for c in batch}
        references = [(c.model.reference, "other") for c in batch]  # type: ignore[union-attr]
        taken = await taken_references(s, sink.table, SOURCE, references)
        assert taken == {c.model.reference for c in batch}  # type: ignore[union-attr]
