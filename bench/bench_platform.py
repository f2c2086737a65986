"""Platform benchmarks: provisioning, migrating 500 tenant schemas, tenant-session overhead.

    python bench/bench_platform.py [--tenants 500] [--provision 20] [--queries 2000]

Uses ACCORD_BENCH_DATABASE_URL (default: the local server on 127.0.0.1:5432, database
accord_bench, created if missing) and cleans up after itself. Prints a table; the latest
numbers are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import statistics
import time
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool
from rich.console import Console
from rich.progress import track
from rich.table import Table
from sqlalchemy import select, text

from accord.platform.db import ensure_database, quote_ident
from accord.platform.migrations.runner import lock_shared_objects
from accord.platform.runtime import open_runtime
from accord.platform.settings import Settings
from accord.tenants.models import Tenant, TenantStatus
from accord.tenants.provisioning import create_tenant, migrate_all

console = Console()
PREFIX = "bench_"


def _url() -> str:
    return os.environ.get(
        "ACCORD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/accord_bench"
    )


async def _cleanup(runtime) -> None:  # type: ignore[no-untyped-def]
    """Drop bench tenants one schema per transaction (a schema holds ~80 relations)."""
    async with runtime.stores.engine("home").connect() as conn:
        schemas = list(
            await conn.scalars(
                text("select nspname from pg_namespace where nspname like 't\\_bench\\_%'")
            )
        )
    for schema in schemas:
        async with runtime.stores.engine("home").begin() as conn:
            role = quote_ident(conn, f"accord_{schema}")
            await conn.exec_driver_sql(f"DROP SCHEMA {quote_ident(conn, schema)} CASCADE")
            await lock_shared_objects(conn)
            await conn.exec_driver_sql(f"DROP OWNED BY {role}")
            await conn.exec_driver_sql(f"DROP ROLE {role}")
    async with runtime.stores.engine("home").begin() as conn:
        await conn.execute(text("delete from accord.members where tenant like 'bench\\_%'"))
        await conn.execute(text("delete from accord.tenants where slug like 'bench\\_%'"))


async def bench_provisioning(runtime, count: int) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in track(range(count), description="provisioning", console=console):
        started = time.perf_counter()
        await create_tenant(
            runtime,
            slug=f"{PREFIX}p_{secrets.token_hex(4)}",
            legal_name="Bench GmbH",
            jurisdiction="DE",
            store="home",
        )
        times.append(time.perf_counter() - started)
    return times


async def bench_migrate(runtime, count: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Create ``count`` bare tenant schemas at revision base, then time ``migrate_all``."""
    slugs = [f"{PREFIX}m_{i:04d}_{secrets.token_hex(2)}" for i in range(count)]
    async with runtime.stores.engine("home").begin() as conn:
        for slug in track(slugs, description="bare schemas", console=console):
            role, schema = quote_ident(conn, f"accord_t_{slug}"), quote_ident(conn, f"t_{slug}")
            await conn.exec_driver_sql(f"CREATE ROLE {role} NOLOGIN")
            await conn.exec_driver_sql(f"CREATE SCHEMA {schema} AUTHORIZATION {role}")
    async with runtime.control_session() as session:
        for slug in slugs:
            session.add(
                Tenant(
                    slug=slug,
                    legal_name="Bench",
                    jurisdiction="DE",
                    store="home",
                    status=TenantStatus.ACTIVE,
                )
            )
    started = time.perf_counter()
    done = await migrate_all(runtime)
    full = time.perf_counter() - started
    started = time.perf_counter()
    await migrate_all(runtime)
    noop = time.perf_counter() - started
    assert done >= count
    return full, noop


async def bench_session_overhead(
    runtime, url: str, queries: int
) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    tenant = await create_tenant(
        runtime,
        slug=f"{PREFIX}s_{secrets.token_hex(4)}",
        legal_name="Bench",
        jurisdiction="DE",
        store="home",
    )
    scope = tenant.scope
    conninfo = psycopg.conninfo.make_conninfo(url.replace("postgresql+psycopg", "postgresql"))
    sql_text = "select 1"
    query = text(sql_text)
    bare: list[float] = []
    ours: list[float] = []
    async with AsyncConnectionPool(conninfo, min_size=2, max_size=5, open=False) as pool:
        await pool.wait()
        for _ in range(200):  # warm both paths
            async with pool.connection() as conn:
                await conn.execute("select 1")
            async with runtime.stores.tenant_session(scope) as session:
                await session.execute(select(1))
        for _ in range(queries):
            started = time.perf_counter()
            async with pool.connection() as conn:
                await (await conn.execute(sql_text)).fetchone()
            bare.append(time.perf_counter() - started)
            started = time.perf_counter()
            async with runtime.stores.tenant_session(scope) as session:
                (await session.execute(query)).scalar_one()
            ours.append(time.perf_counter() - started)
    return bare, ours


def _ms(x: float) -> str:
    return f"{x * 1000:.2f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--provision", type=int, default=20)
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()

    url = _url()
    await ensure_database(url)
    settings = Settings(_env_file=None, database_url=url, data_dir=Path(".accord/bench"))  # type: ignore[call-arg]
    async with open_runtime(settings) as runtime:
        await _cleanup(runtime)
        try:
            prov = await bench_provisioning(runtime, args.provision)
            bare, ours = await bench_session_overhead(
                runtime, runtime.stores.url("home"), args.queries
            )
            full, noop = await bench_migrate(runtime, args.tenants)
        finally:
            await _cleanup(runtime)
        async with runtime.stores.engine("home").connect() as conn:
            server = await conn.scalar(text("show server_version"))

    table = Table("measurement", "result", "target", title="Accord platform benchmark")
    table.add_row(
        f"provision a tenant (median of {len(prov)})", _ms(statistics.median(prov)), "≤ 1 s"
    )
    table.add_row("provision a tenant (max)", _ms(max(prov)), "")
    total = args.tenants
    table.add_row(
        f"migrate {total} schemas base→head",
        f"{full:.1f} s ({_ms(full / total)}/tenant)",
        "≤ 120 s",
    )
    table.add_row(
        f"migrate {total} schemas already at head", f"{noop:.1f} s ({_ms(noop / total)}/tenant)", ""
    )
    mb, mo = statistics.median(bare), statistics.median(ours)
    table.add_row(f"bare psycopg pool + query (median of {len(bare)})", _ms(mb), "")
    table.add_row("tenant_session + same query (median)", _ms(mo), "")
    table.add_row("ratio tenant_session / bare", f"{mo / mb:.2f}×", "≤ 2×")
    console.print(table)
    console.print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, PostgreSQL {server}"
    )


if __name__ == "__main__":
    asyncio.run(main())
