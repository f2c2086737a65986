"""Gap analysis for one tenant with 10,000 findings across 4 standards and the full cross-walk.

    python bench/bench_gaps.py [--findings 10000] [--runs 30]

Target: ≤ 200 ms per analysis. Seeds one tenant (bulk rows, not the services: the
benchmark measures reading), runs ``analyse`` for each of the four standards, and prints
the median and p95 next to the raw aggregate query the analysis is built on, measured in
the same run. Uses ACCORD_BENCH_DATABASE_URL (default: the local server, accord_bench).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, insert, select, text

from accord.compliance.catalog.models import Clause
from accord.compliance.catalog.service import sync_catalog
from accord.compliance.evidence.models import Evidence
from accord.compliance.findings.models import Finding
from accord.compliance.gaps.service import analyse
from accord.platform.db import ensure_database
from accord.platform.runtime import open_runtime
from accord.platform.settings import Settings
from accord.tenants.archive import offboard_tenant
from accord.tenants.provisioning import create_tenant
from accord.tenants.sessions import tenant_session

STANDARDS = ("iso9001:2015", "iso14001:2015", "iso45001:2018", "iso27001:2022")
GRADES = (
    "major_nonconformity",
    "minor_nonconformity",
    "observation",
    "opportunity_for_improvement",
)
STATES = ("open", "responded", "capa_planned", "capa_implemented", "verification", "closed")
console = Console()


async def seed(runtime, slug: str, findings: int) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    async with tenant_session(runtime, slug) as session:
        keys = {
            s: list(await session.scalars(select(Clause.key).where(Clause.standard_id == s)))
            for s in STANDARDS
        }
        start = datetime(2025, 5, 1, tzinfo=UTC)
        rows = []
        for i in range(findings):
            standard = STANDARDS[i % 4]
            state = rng.choice(STATES)
            raised = start + timedelta(hours=rng.randrange(18 * 30 * 24))
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "reference": f"F-{i:05d}",
                    "title": "Bench finding",
                    "grade": rng.choice(GRADES),
                    "severity": "medium",
                    "clause_keys": rng.sample(keys[standard], 2),
                    "criteria": "bench",
                    "condition": "bench",
                    "raised_at": raised,
                    "raised_by": "bench",
                    "state": state,
                    "closed_at": raised if state == "closed" else None,
                    "closed_by": "bench" if state == "closed" else None,
                    "created_by": "bench",
                    "updated_by": "bench",
                    "source_system": "bench",
                    "external_id": str(i),
                }
            )
        for chunk in range(0, len(rows), 2000):
            await session.execute(insert(Finding), rows[chunk : chunk + 2000])
        evidence = [
            {
                "id": uuid.uuid4(),
                "title": "bench",
                "sha256": secrets.token_hex(32),
                "media_type": "application/pdf",
                "size_bytes": 1,
                "captured_at": start,
                "uploaded_at": start,
                "uploaded_by": "bench",
                "uri": "s3://bench",
                "clause_keys": [rng.choice(keys[rng.choice(STANDARDS)])],
                "created_by": "bench",
                "updated_by": "bench",
            }
            for _ in range(findings // 5)
        ]
        await session.execute(insert(Evidence), evidence)
        await session.execute(text("analyze"))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    url = os.environ.get(
        "ACCORD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/accord_bench"
    )
    await ensure_database(url)
    settings = Settings(_env_file=None, database_url=url, data_dir=Path(".accord/bench"))  # type: ignore[call-arg]
    async with open_runtime(settings) as runtime:
        await sync_catalog(runtime)
        slug = f"bench_gap_{secrets.token_hex(3)}"
        await create_tenant(runtime, slug=slug, legal_name="Bench", jurisdiction="DE", store="home")
        try:
            started = time.perf_counter()
            await seed(runtime, slug, args.findings)
            console.print(
                f"seeded {args.findings} findings in {time.perf_counter() - started:.1f} s"
            )
            timings: dict[str, list[float]] = {s: [] for s in STANDARDS}
            raw: list[float] = []
            key = func.unnest(Finding.clause_keys).label("key")
            open_nc = select(key, func.count()).where(Finding.state != "closed").group_by(key)
            for _ in range(args.runs):
                for standard in STANDARDS:
                    t0 = time.perf_counter()
                    async with tenant_session(runtime, slug) as session:
                        result = await analyse(
                            session=session, tenant_slug=slug, standard_id=standard
                        )
                    timings[standard].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                async with tenant_session(runtime, slug) as session:
                    (await session.execute(open_nc)).all()
                raw.append(time.perf_counter() - t0)
            table = Table(
                "standard",
                "assessable",
                "covered",
                "median",
                "p95",
                "target",
                title=f"Gap analysis, {args.findings} findings, {args.runs} runs",
            )
            for standard, values in timings.items():
                async with tenant_session(runtime, slug) as session:
                    result = await analyse(session=session, tenant_slug=slug, standard_id=standard)
                values.sort()
                table.add_row(
                    standard,
                    str(result.report.assessable),
                    str(result.report.covered),
                    f"{statistics.median(values) * 1000:.1f} ms",
                    f"{values[int(len(values) * 0.95) - 1] * 1000:.1f} ms",
                    "≤ 200 ms",
                )
            table.add_row(
                "raw open-NC aggregate alone",
                "",
                "",
                f"{statistics.median(raw) * 1000:.1f} ms",
                "",
                "",
            )
            console.print(table)
        finally:
            await offboard_tenant(runtime, slug=slug, export_root=Path(".accord/bench/exports"))


if __name__ == "__main__":
    asyncio.run(main())
