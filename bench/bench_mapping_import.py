"""Mapping import benchmark: the NIST CSF 2.0 → ISO 27001:2022 CISO Assistant library.

    python bench/bench_mapping_import.py [--runs 7]

Imports the ISO 27001, ISO 22301 and NIST CSF 2.0 framework libraries, then times importing
the mapping library (two sets, 686 mappings: read the YAML, parse, resolve against the
catalog, check every key, replace the sets, commit) through ``import_ciso_library``, and in
the same run a bare psycopg ``executemany`` writing the same rows (already parsed) in one
transaction. Uses ACCORD_BENCH_DATABASE_URL (default: 127.0.0.1:5432, database
accord_bench, created if missing); only the catalog is written. Target: ≤ 2 s per import.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from accord.compliance.catalog.service import sync_catalog
from accord.compliance.mappings import service as mapping_service
from accord.compliance.mappings.ciso_assistant import parse_library
from accord.compliance.mappings.frameworks import known_frameworks, referenced_framework_urns
from accord.platform.db import ensure_database
from accord.platform.runtime import Runtime, open_runtime
from accord.platform.settings import Settings

console = Console()
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "ciso-assistant"
FRAMEWORKS = ("iso27001-2022.yaml", "iso22301-2019.yaml", "nist-csf-2.0.yaml")
MAPPING_FILE = FIXTURES / "mapping-nist-csf-2.0-to-iso27001-2022.yaml"
TARGET_SECONDS = 2.0
INSERT_MAPPING = (
    "insert into catalog.mappings (id, mapping_set, position, source_key, target_key, "
    "relationship, rationale, strength, method, author, status) "
    "values (gen_random_uuid(), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def _url() -> str:
    return os.environ.get(
        "ACCORD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/accord_bench"
    )


async def _import_once(runtime: Runtime) -> float:
    started = time.perf_counter()
    async with runtime.control_session() as session:
        await mapping_service.import_ciso_library(
            session=session, library=MAPPING_FILE, actor="bench"
        )
    return time.perf_counter() - started


async def _parse_once(runtime: Runtime) -> float:
    started = time.perf_counter()
    raw = mapping_service.read_document(MAPPING_FILE)
    async with runtime.control_session() as session:
        known = await known_frameworks(session, referenced_framework_urns(raw))
    parse_library(raw, known_frameworks=known)
    return time.perf_counter() - started


async def _bare_rows(runtime: Runtime) -> list[tuple[str, list[tuple[object, ...]]]]:
    raw = mapping_service.read_document(MAPPING_FILE)
    async with runtime.control_session() as session:
        known = await known_frameworks(session, referenced_framework_urns(raw))
    library = parse_library(raw, known_frameworks=known)
    return [
        (
            s.urn,
            [
                (
                    s.urn,
                    position,
                    m.source_key,
                    m.target_key,
                    m.relationship.value,
                    None if m.rationale is None else m.rationale.value,
                    m.strength,
                    m.method.value,
                    m.author,
                    m.status.value,
                )
                for position, m in enumerate(s.mappings)
            ],
        )
        for s in library.mapping_sets
    ]


async def _bare_once(
    conn: psycopg.AsyncConnection[object], sets: list[tuple[str, list[tuple[object, ...]]]]
) -> float:
    # The connection is open already, as the service's pooled one is.
    started = time.perf_counter()
    async with conn.cursor() as cur:
        for set_id, rows in sets:
            await cur.execute("delete from catalog.mappings where mapping_set = %s", (set_id,))
            await cur.executemany(INSERT_MAPPING, rows)
    await conn.commit()
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    url = _url()
    await ensure_database(url)
    settings = Settings(_env_file=None, database_url=url, data_dir=Path(".accord/bench"))  # type: ignore[call-arg]
    async with open_runtime(settings) as runtime:
        await sync_catalog(runtime)
        for name in FRAMEWORKS:
            async with runtime.control_session() as session:
                await mapping_service.import_ciso_library(
                    session=session, library=FIXTURES / name, actor="bench"
                )
        await _import_once(runtime)  # warm-up: the sets exist, so every run replaces them
        imports = [await _import_once(runtime) for _ in range(args.runs)]
        parses = [await _parse_once(runtime) for _ in range(args.runs)]
        sets = await _bare_rows(runtime)
        async with await psycopg.AsyncConnection.connect(url) as conn:
            bare = [await _bare_once(conn, sets) for _ in range(args.runs)]
        await _import_once(runtime)  # leave the catalog as the service writes it
        async with runtime.control_session() as session:
            server = await session.scalar(text("show server_version"))
    rows = sum(len(r) for _, r in sets)
    imp, prs, raw = (statistics.median(x) for x in (imports, parses, bare))
    table = Table("measurement", "median", "min", "target", title="Mapping import benchmark")
    verdict = "✅" if imp <= TARGET_SECONDS else "❌"
    table.add_row(
        f"import_ciso_library: {rows} mappings in {len(sets)} sets (read, parse, check, write)",
        f"{imp * 1000:.0f} ms",
        f"{min(imports) * 1000:.0f} ms",
        f"≤ {TARGET_SECONDS:.0f} s {verdict}",
    )
    table.add_row(
        "  of which: read YAML + resolve against the catalog + parse",
        f"{prs * 1000:.0f} ms",
        f"{min(parses) * 1000:.0f} ms",
        "",
    )
    table.add_row(
        f"bare psycopg executemany of the same {rows} rows (delete + insert, one transaction)",
        f"{raw * 1000:.0f} ms",
        f"{min(bare) * 1000:.0f} ms",
        "baseline",
    )
    table.add_row("ratio import / bare", f"{imp / raw:.1f}×", "", "")
    console.print(table)
    console.print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, PostgreSQL {server}; {args.runs} runs each"
    )


if __name__ == "__main__":
    asyncio.run(main())
