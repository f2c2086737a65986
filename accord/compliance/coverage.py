"""Coverage inference over clause mappings, and the gap analysis built on it.

Semantics the gap-analysis API relies on:

* Evidence on a mapping's source covers its target FULL (`equal`, `superset`), PARTIAL
  (`subset`, `intersects`) or not at all (`no_relationship`, never traversed). Mappings are
  directed; no inverse is implied.
* A path is as strong as its weakest hop; among paths the strongest wins, then the fewest
  hops, then the lexicographically smallest ``via`` so results are reproducible.
* Where several mappings connect the same ordered pair the strongest is used, like any other
  alternative path; disagreements are for `crosswalk.detect_conflicts` to surface.
* A direct result is never overwritten. ``conforming`` seeds FULL, ``partial`` seeds PARTIAL.
* ``nonconforming`` seeds nothing. Instead every clause it reaches within ``max_hops`` lists it
  in ``related_nonconformities`` (an advisory marker; coverage is unchanged).
* Directly assessed clauses gate the paths through them: a path carries no more than the
  intermediate clause's own direct result, and a nonconforming clause blocks it, since the
  inferred coverage would otherwise contradict a finding recorded on that very clause.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, get_args

from accord.compliance.crosswalk import MappingEdge
from accord.compliance.vocab import Coverage, Relationship

DirectStatus = Literal["conforming", "nonconforming", "partial"]
_DIRECT_STATUSES: frozenset[str] = frozenset(get_args(DirectStatus))
_DIRECT_COVERAGE: dict[str, Coverage] = {
    "conforming": Coverage.FULL,
    "partial": Coverage.PARTIAL,
    "nonconforming": Coverage.NONE,
}
_EDGE_COVERAGE: dict[str, Coverage] = {
    Relationship.EQUAL: Coverage.FULL,
    Relationship.SUPERSET: Coverage.FULL,
    Relationship.SUBSET: Coverage.PARTIAL,
    Relationship.INTERSECTS: Coverage.PARTIAL,
    Relationship.NO_RELATIONSHIP: Coverage.NONE,
}

_FULL_HOP = 2
_HOP_STRENGTH: dict[str, int] = {
    rel: {Coverage.FULL: _FULL_HOP, Coverage.PARTIAL: 1, Coverage.NONE: 0}[coverage]
    for rel, coverage in _EDGE_COVERAGE.items()
}

# target -> is the hop FULL; lists are sorted by target for reproducible tie-breaking
_Adjacency = Mapping[str, list[tuple[str, bool]]]


def edge_coverage(rel: Relationship) -> Coverage:
    """How far evidence on a mapping's source covers its target."""
    return _EDGE_COVERAGE[rel]


@dataclass(frozen=True, slots=True)
class DirectResult:
    status: DirectStatus
    record_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Statuses arrive from the database as plain strings; the Literal is not enforced there.
        if self.status not in _DIRECT_STATUSES:
            raise ValueError(f"unknown direct status {self.status!r}")


@dataclass(frozen=True, slots=True)
class CoverageResult:
    clause: str
    coverage: Coverage
    direct: bool
    via: tuple[str, ...]  # path of clause keys from the evidence clause; () if no coverage
    hops: int
    sources: tuple[str, ...]  # record ids of the evidence clause
    related_nonconformities: tuple[str, ...] = ()  # nonconforming clauses mapped to this one


def _adjacency(edges: Iterable[MappingEdge]) -> _Adjacency:
    # Plain ints and per-source sorting: this loop dominates the runtime at catalog size, and
    # enum attribute access plus one global sort of every pair cost more than the searches.
    hop_strength = _HOP_STRENGTH
    outgoing: dict[str, dict[str, bool]] = {}
    for edge in edges:
        hop = hop_strength[edge.relationship]
        source, target = edge.source, edge.target
        if hop and source != target:
            targets = outgoing.get(source)
            if targets is None:
                targets = outgoing[source] = {}
            targets[target] = targets.get(target, False) or hop == _FULL_HOP
    return {source: sorted(targets.items()) for source, targets in outgoing.items()}


def _bfs(
    seeds: Sequence[str],
    adjacency: _Adjacency,
    max_hops: int,
    *,
    full_only: bool = False,
    blocked: AbstractSet[str] = frozenset(),
    gates: AbstractSet[str] = frozenset(),
) -> dict[str, tuple[str, ...]]:
    """Shortest paths from sorted seeds, lexicographically smallest among equals.

    Level-by-level expansion in path order, with sorted neighbour lists, means the first path
    to reach a clause is also the smallest of its length; no priority queue is needed.
    ``blocked`` clauses are never entered; ``gates`` are entered but not expanded.
    """
    paths: dict[str, tuple[str, ...]] = {seed: (seed,) for seed in seeds}
    frontier = list(seeds)
    for _ in range(max_hops):
        following: list[str] = []
        for node in frontier:
            path = paths[node]
            for target, full in adjacency.get(node, ()):
                if target in paths or target in blocked or (full_only and not full):
                    continue
                paths[target] = (*path, target)
                if target not in gates:
                    following.append(target)
        if not following:
            break
        frontier = following
    return paths


def infer_coverage(
    direct: Mapping[str, DirectResult],
    edges: Iterable[MappingEdge],
    *,
    max_hops: int = 3,
) -> dict[str, CoverageResult]:
    """Direct and inferred coverage of every clause reachable from assessed evidence."""
    if max_hops < 0:
        raise ValueError("max_hops must be >= 0")
    adjacency = _adjacency(edges)
    by_status: dict[str, list[str]] = {status: [] for status in _DIRECT_STATUSES}
    for clause in sorted(direct):
        by_status[direct[clause].status].append(clause)
    conforming, partial = by_status["conforming"], by_status["partial"]
    blocked = frozenset(by_status["nonconforming"])

    # Two-level lattice: a BFS over FULL hops only finds every FULL clause with its fewest
    # hops; a second BFS over all hops then yields PARTIAL for everything else it reaches.
    full_paths = _bfs(
        conforming, adjacency, max_hops, full_only=True, blocked=blocked, gates=frozenset(partial)
    )
    any_paths = _bfs(sorted(conforming + partial), adjacency, max_hops, blocked=blocked)

    related = _nonconformity_markers(sorted(blocked), adjacency, max_hops)
    results: dict[str, CoverageResult] = {}
    for clause, result in direct.items():
        level = _DIRECT_COVERAGE[result.status]
        results[clause] = CoverageResult(
            clause, level, True, (clause,), 0, result.record_ids, related.get(clause, ())
        )
    for level, paths in ((Coverage.FULL, full_paths), (Coverage.PARTIAL, any_paths)):
        for clause, path in paths.items():
            if clause not in results:
                records = direct[path[0]].record_ids
                results[clause] = CoverageResult(
                    clause, level, False, path, len(path) - 1, records, related.get(clause, ())
                )
    for clause, markers in related.items():
        if clause not in results:
            results[clause] = CoverageResult(clause, Coverage.NONE, False, (), 0, (), markers)
    return results


def _nonconformity_markers(
    nonconforming: Sequence[str], adjacency: _Adjacency, max_hops: int
) -> dict[str, tuple[str, ...]]:
    # One bounded BFS per finding: open nonconformities are few, and each needs its own reach.
    markers: dict[str, list[str]] = defaultdict(list)
    for origin in nonconforming:
        for clause in _bfs([origin], adjacency, max_hops):
            if clause != origin:
                markers[clause].append(origin)
    return {clause: tuple(origins) for clause, origins in markers.items()}


class GapStatus(StrEnum):
    COVERED = "covered"
    PARTIAL_ONLY = "partial_only"
    NO_EVIDENCE = "no_evidence"
    NONCONFORMING = "nonconforming"  # assessed directly and found nonconforming


@dataclass(frozen=True, slots=True)
class GapEntry:
    clause: str
    status: GapStatus
    coverage: Coverage
    direct: bool
    via: tuple[str, ...]
    open_nonconformities: int
    related_nonconformities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GapReport:
    entries: tuple[GapEntry, ...]  # assessable clauses, in the order given
    no_evidence: tuple[str, ...]
    partial_only: tuple[str, ...]
    nonconforming: tuple[str, ...]
    open_nonconformity: Mapping[str, int]  # clause -> open count, only counts > 0
    assessable: int
    covered: int  # FULL coverage and no open nonconformity
    coverage_pct: float  # covered / assessable * 100; 0.0 when nothing is assessable

    @property
    def summary(self) -> dict[str, int | float]:
        return {
            "assessable": self.assessable,
            "covered": self.covered,
            "partial_only": len(self.partial_only),
            "no_evidence": len(self.no_evidence),
            "nonconforming": len(self.nonconforming),
            "open_nonconformity": len(self.open_nonconformity),
            "coverage_pct": self.coverage_pct,
        }


def _status(result: CoverageResult | None) -> GapStatus:
    if result is None or result.coverage == Coverage.NONE:
        if result is not None and result.direct:
            return GapStatus.NONCONFORMING
        return GapStatus.NO_EVIDENCE
    return GapStatus.COVERED if result.coverage == Coverage.FULL else GapStatus.PARTIAL_ONLY


def _everything(_clause: str) -> bool:
    return True


def gap_analysis(
    standard_clauses: Sequence[str],
    coverage: Mapping[str, CoverageResult],
    open_nonconformities: Mapping[str, int],
    *,
    assessable: Callable[[str], bool] | AbstractSet[str] | None = None,
) -> GapReport:
    """Per-clause gaps of one standard; ``assessable=None`` treats every listed clause as a leaf.

    An open nonconformity keeps a clause out of ``covered`` even with FULL evidence, so the
    percentage never reports as met a requirement with a finding still open against it.
    """
    keep: Callable[[str], bool]
    if assessable is None:
        keep = _everything
    elif callable(assessable):
        keep = assessable
    else:
        keep = assessable.__contains__

    entries: list[GapEntry] = []
    for clause in dict.fromkeys(standard_clauses):
        if not keep(clause):
            continue
        result = coverage.get(clause)
        entries.append(
            GapEntry(
                clause=clause,
                status=_status(result),
                coverage=result.coverage if result else Coverage.NONE,
                direct=result.direct if result else False,
                via=result.via if result else (),
                open_nonconformities=max(open_nonconformities.get(clause, 0), 0),
                related_nonconformities=result.related_nonconformities if result else (),
            )
        )

    def having(status: GapStatus) -> tuple[str, ...]:
        return tuple(entry.clause for entry in entries if entry.status is status)

    covered = sum(
        1 for e in entries if e.status is GapStatus.COVERED and e.open_nonconformities == 0
    )
    return GapReport(
        entries=tuple(entries),
        no_evidence=having(GapStatus.NO_EVIDENCE),
        partial_only=having(GapStatus.PARTIAL_ONLY),
        nonconforming=having(GapStatus.NONCONFORMING),
        open_nonconformity={
            e.clause: e.open_nonconformities for e in entries if e.open_nonconformities > 0
        },
        assessable=len(entries),
        covered=covered,
        coverage_pct=100.0 * covered / len(entries) if entries else 0.0,
    )
