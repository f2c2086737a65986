"""Connector sync benchmark: SAP OData V4 → findings, end to end, against a bare upsert.

    python bench/bench_sync.py [--records 200000] [--small 50000] [--page 1000]

A local OData V4 server (tests/connectors/fake_sap.py) runs in a child process; the sync
does HTTP, JSON, mapping, validation, upsert, hash-chained events and bookmark per page.
The baseline is psycopg ``executemany`` of the same mapped rows with ``insert … on conflict``
into a plain copy of the findings table. Peak RSS is measured after the small and the large
run, to show it does not grow with the number of records. Uses ACCORD_BENCH_DATABASE_URL
(default local accord_bench) and cleans up after itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from accord.compliance.catalog.service import sync_catalog  # noqa: E402
from accord.connectors import instances  # noqa: E402
from accord.connectors.framework.mapping import compile_mapping  # noqa: E402
from accord.connectors.framework.source import get_source  # noqa: E402
from accord.connectors.models import SyncState  # noqa: E402
from accord.connectors.sync import engine  # noqa: E402
from accord.platform.db import ensure_database, quote_ident  # noqa: E402
from accord.platform.migrations.runner import lock_shared_objects  # noqa: E402
from accord.platform.runtime import Runtime, open_runtime  # noqa: E402
from accord.platform.settings import Settings  # noqa: E402
from accord.tenants.provisioning import create_tenant  # noqa: E402
from accord.tenants.sessions import tenant_session  # noqa: E402
from tests.connectors.fake_sap import FakeSap  # noqa: E402

console = Console()


def _url() -> str:
    return os.environ.get(
        "ACCORD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/accord_bench"
    )


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _serve(count: int) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.connectors.fake_sap", str(port), str(count)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(1200):  # it renders every record before it listens
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}"


async def _sync(runtime: Runtime, slug: str, url: str, page: int) -> tuple[Any, Any]:
    row = await instances.add_instance(
        runtime,
        tenant=slug,
        kind="sap",
        name=f"bench-{secrets.token_hex(3)}",
        base_url=url,
        config={"page_size": page},
    )
    loaded = await instances.load_instance(runtime, str(row.id))
    return loaded, await engine.run_instance(runtime, loaded)


async def _reset_bookmark(runtime: Runtime, slug: str, loaded: Any) -> None:
    async with tenant_session(runtime, slug) as s:
        state = await s.get(SyncState, (loaded.row.id, "quality_notifications"))
        assert state is not None
        state.bookmark = {}


def _baseline_rows(count: int) -> list[tuple[Any, ...]]:
    source = get_source("sap")
    stream = source.streams(source.config_model())[0]
    mapping = compile_mapping(source.mapping_spec(stream), None)
    fake = FakeSap(count=count)
    rows = []
    for i in range(count):
        data, _, _ = mapping.apply(fake.record(i))
        rows.append(
            (
                "sap-s4hana",
                f"{200000000 + i}",
                data["reference"],
                data["title"],
                data["grade"],
                data["severity"],
                data["clause_keys"],
                data["criteria"],
                data["condition"],
                data["raised_at"],
                data.get("raised_by", "x"),
                "open",
                f"{i:064x}",
            )
        )
    return rows


def _bare_upsert(dsn: str, rows: list[tuple[Any, ...]], page: int) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("drop table if exists public.bench_findings")
        conn.execute(
            "create table public.bench_findings (id uuid primary key default gen_random_uuid(),"
            " source_system text, external_id text, reference text unique, title text,"
            " grade text, severity text, clause_keys text[], criteria text, condition text,"
            " raised_at timestamptz, raised_by text, state text, content_hash text,"
            " unique (source_system, external_id))"
        )
        sql = (
            "insert into public.bench_findings (source_system, external_id, reference, title,"
            " grade, severity, clause_keys, criteria, condition, raised_at, raised_by, state,"
            " content_hash) values (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
            " on conflict (source_system, external_id) do update set title = excluded.title,"
            " content_hash = excluded.content_hash"
            " where bench_findings.content_hash is distinct from excluded.content_hash"
        )
        started = time.perf_counter()
        for offset in range(0, len(rows), page):
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(sql, rows[offset : offset + page])
        elapsed = time.perf_counter() - started
        conn.execute("drop table public.bench_findings")
    return len(rows) / elapsed


async def _cleanup(runtime: Runtime, slugs: list[str]) -> None:
    async with runtime.stores.engine("home").begin() as conn:
        for slug in slugs:
            await conn.exec_driver_sql(
                f"DROP SCHEMA IF EXISTS {quote_ident(conn, 't_' + slug)} CASCADE"
            )
            role = quote_ident(conn, f"accord_t_{slug}")
            await lock_shared_objects(conn)
            await conn.exec_driver_sql(f"DROP OWNED BY {role}")
            await conn.exec_driver_sql(f"DROP ROLE {role}")
        await conn.execute(
            text("delete from accord.connector_instances where tenant like 'bench\\_sync%'")
        )
        await conn.execute(text("delete from accord.tenants where slug like 'bench\\_sync%'"))


async def main(records: int, small: int, page: int) -> None:
    dsn = _url()
    await ensure_database(dsn)
    settings = Settings(_env_file=None, database_url=dsn, data_dir=REPO / ".accord" / "bench")
    results: list[tuple[str, str]] = []
    async with open_runtime(settings) as runtime:
        await sync_catalog(runtime)
        slugs: list[str] = []
        try:
            for label, count in (("small", small), ("large", records)):
                slug = f"bench_sync_{label}_{secrets.token_hex(3)}"
                slugs.append(slug)
                await create_tenant(
                    runtime, slug=slug, legal_name="Bench", jurisdiction="DE", store="home"
                )
                server, url = _serve(count)
                try:
                    started = time.perf_counter()
                    loaded, [run] = await _sync(runtime, slug, url, page)
                    first = time.perf_counter() - started
                    assert run.status == "succeeded" and run.counts["created"] == count, run
                    results.append(
                        (
                            f"initial sync {count:,} ({label})",
                            f"{count / first:,.0f} records/s ({first:.1f} s)",
                        )
                    )
                    results.append((f"peak RSS after {count:,}", f"{_rss_mb():,.0f} MB"))
                    if label == "large":
                        await _reset_bookmark(runtime, slug, loaded)
                        started = time.perf_counter()
                        [again] = await engine.run_instance(runtime, loaded)
                        resync = time.perf_counter() - started
                        assert again.counts["unchanged"] == count, again
                        results.append(
                            (
                                f"re-sync {count:,}, nothing changed",
                                f"{count / resync:,.0f} records/s ({resync:.1f} s)",
                            )
                        )
                        sync_rate = count / first
                finally:
                    server.terminate()
                    server.wait()
            rows = _baseline_rows(records)
            bare = _bare_upsert(dsn.replace("+psycopg", ""), rows, page)
            results.append((f"bare psycopg executemany upsert {records:,}", f"{bare:,.0f} rows/s"))
            results.append(("sync / bare upsert", f"{sync_rate / bare:.2f}"))
        finally:
            await _cleanup(runtime, slugs)
    table = Table(
        "measure",
        "value",
        title=f"bench_sync on {platform.node()} "
        f"({os.cpu_count()} CPUs, Python {platform.python_version()})",
    )
    for name, value in results:
        table.add_row(name, value)
    console.print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--small", type=int, default=50_000)
    parser.add_argument("--page", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.records, args.small, args.page))
