"""The standards catalog in every store: loaded from the data files, read-only to tenants."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from accord.compliance.catalog import service as catalog_service
from accord.compliance.catalog.datafiles import catalog_digest, load_catalog
from accord.compliance.catalog.models import (
    ACCORD_ORIGIN,
    DATA_DIGEST_KEY,
    HS_CROSSWALK_SET,
    CatalogMapping,
    CatalogMeta,
    Clause,
    MappingSet,
    Standard,
)
from accord.compliance.catalog.service import UnknownClauses, sync_catalog
from accord.platform.errors import ErrorCode, NotFound
from accord.platform.runtime import Runtime
from tests.conftest import SECOND_STORE, TenantFactory

DATA = Path(__file__).resolve().parents[2] / "accord" / "compliance" / "catalog" / "data"
STORES = ("home", SECOND_STORE)


def _numbers(nodes: list[dict[str, Any]]) -> Iterator[str]:
    for node in nodes:
        yield node["number"]
        yield from _numbers(node.get("children", []))


def shipped_keys() -> dict[str, set[str]]:
    """Clause keys per standard, read from the YAML files without Accord's loader."""
    keys: dict[str, set[str]] = {}
    for path in sorted(DATA.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        keys[document["id"]] = {f"{document['id']}/{n}" for n in _numbers(document["clauses"])}
    return keys


@pytest.fixture(scope="module")
async def synced(runtime: Runtime) -> dict[str, str]:
    return await sync_catalog(runtime)


async def test_sync_loads_every_shipped_standard_into_both_stores(
    runtime: Runtime, synced: dict[str, str]
) -> None:
    expected = shipped_keys()
    assert len(expected) == 7
    assert {len(keys) for keys in expected.values()} >= {19, 139}
    for store in STORES:
        async with runtime.stores.control_session(store) as session:
            standards = await session.scalars(
                select(Standard.id).where(Standard.origin == ACCORD_ORIGIN)
            )
            assert set(standards) == set(expected), store
            for standard_id, keys in expected.items():
                stored = await session.scalars(
                    select(Clause.key).where(Clause.standard_id == standard_id)
                )
                assert set(stored) == keys, (store, standard_id)
            digest = await session.get(CatalogMeta, DATA_DIGEST_KEY)
            assert digest is not None
            assert digest.value == catalog_digest(load_catalog())


async def test_second_sync_is_a_no_op_and_a_stale_store_alone_is_reloaded(
    runtime: Runtime, synced: dict[str, str]
) -> None:
    assert await sync_catalog(runtime) == {store: "current" for store in STORES}

    # An operator's hand on the catalog (only the migrator login may write it).
    async with runtime.stores.migrator_session(SECOND_STORE) as session:
        await session.execute(
            update(CatalogMeta).where(CatalogMeta.key == DATA_DIGEST_KEY).values(value="stale")
        )
    assert await sync_catalog(runtime) == {"home": "current", SECOND_STORE: "updated"}
    assert await sync_catalog(runtime) == {store: "current" for store in STORES}
    async with runtime.stores.control_session(SECOND_STORE) as session:
        hs_set = await session.get(MappingSet, HS_CROSSWALK_SET)
        rows = await session.scalar(
            select(func.count())
            .select_from(CatalogMapping)
            .where(CatalogMapping.mapping_set == HS_CROSSWALK_SET)
        )
    assert hs_set is not None
    assert rows == hs_set.mapping_count > 0


async def test_require_clauses_names_every_bad_key(
    runtime: Runtime, synced: dict[str, str]
) -> None:
    good = ["iso9001:2015/9.2", "iso27001:2022/A.5.1", "iso9001:2015/9.2"]
    bad = ["not a key", "iso9001:2015/99.9", "nosuch:2020/1", "iso14001:2015/"]
    async with runtime.control_session() as session:
        await catalog_service.require_clauses(session=session, keys=good)
        with pytest.raises(UnknownClauses) as info:
            await catalog_service.require_clauses(session=session, keys=[*good, *bad])
        with pytest.raises(UnknownClauses) as only_standard:
            await catalog_service.require_clauses(session=session, keys=["nosuch:2020/1"])
    error = info.value
    assert (error.code, error.reason, error.field) == (
        ErrorCode.BAD_USER_INPUT,
        "UNKNOWN_CLAUSE",
        "clauses",
    )
    assert error.malformed == ["not a key", "iso14001:2015/"]
    assert error.unknown_standard == ["nosuch:2020/1"]
    assert error.unknown_clause == ["iso9001:2015/99.9"]
    for key in bad:
        assert repr(key) in error.message
    assert "A.5.1" not in error.message
    assert only_standard.value.reason == "UNKNOWN_STANDARD"


async def test_reads_give_clauses_trees_and_reasoned_not_found(
    runtime: Runtime, synced: dict[str, str]
) -> None:
    async with runtime.control_session() as session:
        clause = await catalog_service.get_clause(session=session, key="iso9001:2015/9.2")
        tree = await catalog_service.clause_tree(session=session, standard_id="iso9001:2015")
        standards = await catalog_service.list_standards(session=session)
        with pytest.raises(NotFound) as no_clause:
            await catalog_service.get_clause(session=session, key="iso9001:2015/99")
        with pytest.raises(NotFound) as no_standard:
            await catalog_service.clause_tree(session=session, standard_id="iso9999:2000")
    assert (clause.title, clause.parent_key, clause.hs, clause.depth) == (
        "Internal audit",
        "iso9001:2015/9",
        True,
        2,
    )
    assert [node.clause.number for node in tree] == ["4", "5", "6", "7", "8", "9", "10"]
    nine = tree[5]
    assert "9.2" in [child.clause.number for child in nine.children]
    assert {s.id for s in standards} >= set(shipped_keys())
    assert no_clause.value.reason == "UNKNOWN_CLAUSE"
    assert no_standard.value.reason == "UNKNOWN_STANDARD"


async def test_a_tenant_reads_the_catalog_but_cannot_write_it(
    runtime: Runtime, make_tenant: TenantFactory, synced: dict[str, str]
) -> None:
    for store in STORES:
        tenant = await make_tenant(store)
        async with runtime.stores.tenant_session(tenant.scope) as session:
            clause = await catalog_service.get_clause(session=session, key="iso22301:2019/8.4")
            assert clause.standard_id == "iso22301:2019"
            with pytest.raises(UnknownClauses):
                await catalog_service.require_clauses(session=session, keys=["iso22301:2019/0"])
        writes = [
            "update catalog.clauses set title = 'hacked' where key = 'iso9001:2015/9.2'",
            "delete from catalog.mappings",
            "insert into catalog.meta (key, value) values ('x', 'y')",
            "create table catalog.sneaky (x int)",
        ]
        for statement in writes:
            with pytest.raises(DBAPIError, match="permission denied"):
                async with runtime.stores.tenant_session(tenant.scope) as session:
                    await session.execute(text(statement))
    async with runtime.control_session() as session:
        clause = await catalog_service.get_clause(session=session, key="iso9001:2015/9.2")
    assert clause.title == "Internal audit"


async def test_hs_crosswalk_maps_twins_equal_by_automation(
    runtime: Runtime, synced: dict[str, str]
) -> None:
    async with runtime.control_session() as session:
        rows = list(
            await session.scalars(
                select(CatalogMapping).where(CatalogMapping.mapping_set == HS_CROSSWALK_SET)
            )
        )
    by_pair = {(m.source_key, m.target_key): m for m in rows}
    forward = by_pair[("iso9001:2015/9.2", "iso14001:2015/9.2")]
    assert (forward.relationship, forward.method, forward.status, forward.strength) == (
        "equal",
        "automation",
        "approved",
        10,
    )
    assert ("iso14001:2015/9.2", "iso9001:2015/9.2") in by_pair
    standards = {key.split("/")[0] for pair in by_pair for key in pair}
    # Guidance documents say "should": never `equal` to a requirement.
    assert standards == {
        "iso9001:2015",
        "iso14001:2015",
        "iso45001:2018",
        "iso27001:2022",
        "iso22301:2019",
    }
    assert len(by_pair) == len(rows)
