"""Helpers for probing mutations with ids of records the caller may not see.

``snapshot`` fingerprints every table of the given tenants' schemas (their records, event
logs and access logs) and the control plane, so that a probe that changed anything at all
shows up as a difference. ``normalised`` replaces the probed id in an answer, so that the
answers for an id that exists and one that does not can be compared as they are.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select, text

from accord.platform.db import quote_ident
from accord.platform.runtime import Runtime
from accord.tenants.models import Tenant

#: Control-plane tables a probe may touch legitimately (none so far).
VOLATILE: frozenset[str] = frozenset()

Snapshot = dict[str, dict[str, tuple[int, str]]]


async def _schema(runtime: Runtime, store: str, schema: str) -> dict[str, tuple[int, str]]:
    tables_sql = text(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = :schema AND table_type = 'BASE TABLE' ORDER BY table_name"
    )
    out: dict[str, tuple[int, str]] = {}
    async with runtime.stores.migrator_engine(store).connect() as conn:
        tables = (await conn.execute(tables_sql, {"schema": schema})).scalars().all()
        for table in tables:
            if table in VOLATILE and schema == "accord":
                continue
            name = f"{quote_ident(conn, schema)}.{quote_ident(conn, table)}"
            count, digest = (
                await conn.execute(
                    text(
                        f"SELECT count(*), md5(coalesce(string_agg(r::text, '|' "
                        f"ORDER BY r::text), '')) FROM {name} r"
                    )
                )
            ).one()
            out[table] = (count, digest)
    return out


async def snapshot(runtime: Runtime, slugs: list[str] | tuple[str, ...]) -> Snapshot:
    """A fingerprint of every table of ``slugs``' schemas and of the control plane."""
    async with runtime.control_session() as session:
        tenants = (await session.scalars(select(Tenant).where(Tenant.slug.in_(slugs)))).all()
    shot: Snapshot = {"accord": await _schema(runtime, runtime.home, "accord")}
    for tenant in tenants:
        shot[tenant.slug] = await _schema(runtime, tenant.store, tenant.scope.schema)
    return shot


def changed(before: Snapshot, after: Snapshot) -> list[str]:
    """``schema.table`` of every table whose rows differ."""
    return sorted(
        f"{schema}.{table}"
        for schema in before.keys() | after.keys()
        for table in before.get(schema, {}).keys() | after.get(schema, {}).keys()
        if before.get(schema, {}).get(table) != after.get(schema, {}).get(table)
    )


def normalised(answer: Any, *ids: str | uuid.UUID) -> Any:
    """``answer`` with every occurrence of ``ids`` replaced by one placeholder."""
    dumped = json.dumps(answer, sort_keys=True)
    for value in sorted({str(i) for i in ids}, key=len, reverse=True):
        dumped = dumped.replace(value, "<id>")
    return json.loads(dumped)
