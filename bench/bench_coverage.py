"""Median time of infer_coverage + gap_analysis on a ~1,000 clause / ~5,000 mapping catalog.

Run from the repository root: ``PYTHONPATH=. python bench/bench_coverage.py``.
The budget for the whole gap-analysis request is 200 ms including the database query; the
pure computation should stay well under 20 ms at this size.
"""

from __future__ import annotations

import random
import statistics
import time

from accord.compliance.coverage import DirectResult, DirectStatus, gap_analysis, infer_coverage
from accord.compliance.crosswalk import HsClause, MappingEdge, harmonized_crosswalk
from accord.compliance.vocab import MappingMethod, Relationship

STANDARDS = (
    "iso9001:2015",
    "iso14001:2015",
    "iso45001:2018",
    "iso27001:2022",
    "iso22301:2019",
    "iso22361:2022",
    "iso31000:2018",
)
CLAUSES_PER_STANDARD = 121
TOTAL_EDGES = 5_000
RUNS = 50
HS_REFS = [f"{major}.{minor}" for major in range(4, 11) for minor in range(1, 5)]
# Partner mappings skew towards partial overlaps, as real cross-standard mappings do.
RELATIONSHIPS = [
    *[Relationship.INTERSECTS] * 4,
    *[Relationship.SUBSET] * 2,
    *[Relationship.SUPERSET] * 2,
    Relationship.EQUAL,
    Relationship.NO_RELATIONSHIP,
]


def build_catalog(rng: random.Random) -> tuple[list[str], list[MappingEdge]]:
    clauses = [
        f"{standard}/{number}.{sub}"
        for standard in STANDARDS
        for number in range(1, 12)
        for sub in range(1, CLAUSES_PER_STANDARD // 11 + 1)
    ]
    hs = [
        HsClause(f"{standard}/{ref}", standard, ref)
        for standard in STANDARDS[:5]
        for ref in HS_REFS
    ]
    clauses += [clause.key for clause in hs]
    edges = harmonized_crosswalk(hs)
    while len(edges) < TOTAL_EDGES:
        source, target = rng.sample(clauses, 2)
        if source.split("/")[0] == target.split("/")[0]:
            continue
        edges.append(
            MappingEdge(
                source,
                target,
                rng.choice(RELATIONSHIPS),
                rng.randint(1, 10),
                rng.choice(("global", "partner-a", "partner-b")),
                MappingMethod.HUMAN,
                "bench",
                "approved",
            )
        )
    return clauses, edges


def main() -> None:
    rng = random.Random(8477)
    clauses, edges = build_catalog(rng)
    statuses: tuple[DirectStatus, ...] = ("conforming", "partial", "nonconforming")
    direct = {
        clause: DirectResult(rng.choices(statuses, weights=(6, 3, 1))[0], (f"rec-{index}",))
        for index, clause in enumerate(rng.sample(clauses, len(clauses) // 5))
    }
    open_ncs = {k: 1 for k, result in direct.items() if result.status == "nonconforming"}
    standard = [c for c in clauses if c.startswith("iso27001:2022/")]

    timings: list[float] = []
    for _ in range(RUNS):
        started = time.perf_counter()
        coverage = infer_coverage(direct, edges)
        report = gap_analysis(standard, coverage, open_ncs)
        timings.append(time.perf_counter() - started)

    print(f"clauses={len(clauses)} edges={len(edges)} direct={len(direct)} runs={RUNS}")
    print(f"covered clauses={len(coverage)} iso27001 summary={report.summary}")
    print(f"median infer_coverage+gap_analysis: {statistics.median(timings) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
