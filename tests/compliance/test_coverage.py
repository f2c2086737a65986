import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.compliance.coverage import (
    CoverageResult,
    DirectResult,
    GapStatus,
    edge_coverage,
    gap_analysis,
    infer_coverage,
)
from accord.compliance.crosswalk import MappingEdge
from accord.compliance.vocab import Coverage, MappingMethod, Relationship

R, C = Relationship, Coverage
RANK = {C.NONE: 0, C.PARTIAL: 1, C.FULL: 2}
A, B, D, E, F = (f"iso9001:2015/{n}" for n in ("9.1", "9.2", "9.3", "10.1", "10.2"))
X = "iso14001:2015/9.2"  # sorts before every iso9001 key


def edge(source: str, target: str, rel: Relationship) -> MappingEdge:
    return MappingEdge(source, target, rel, None, "global", MappingMethod.HUMAN, None, "approved")


def ok(*records: str) -> DirectResult:
    return DirectResult("conforming", records)


def chain(keys: list[str], *rels: Relationship) -> list[MappingEdge]:
    return [edge(s, t, rel) for (s, t), rel in zip(itertools.pairwise(keys), rels, strict=True)]


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        (R.EQUAL, C.FULL),
        (R.SUPERSET, C.FULL),
        (R.SUBSET, C.PARTIAL),
        (R.INTERSECTS, C.PARTIAL),
        (R.NO_RELATIONSHIP, C.NONE),
    ],
)
def test_edge_coverage(rel: Relationship, expected: Coverage) -> None:
    assert edge_coverage(rel) is expected


def test_direct_result_wins_over_a_full_inference() -> None:
    result = infer_coverage(
        {A: ok("r1"), B: DirectResult("partial", ("r2",))}, [edge(A, B, R.EQUAL)]
    )
    assert result[B] == CoverageResult(B, C.PARTIAL, True, (B,), 0, ("r2",))
    assert result[A] == CoverageResult(A, C.FULL, True, (A,), 0, ("r1",))


def test_inferred_result_carries_path_and_evidence_records() -> None:
    result = infer_coverage({A: ok("r1", "r2")}, [edge(A, X, R.SUPERSET)])
    assert result[X] == CoverageResult(X, C.FULL, False, (A, X), 1, ("r1", "r2"))


def test_multi_hop_takes_the_weakest_link() -> None:
    edges = chain([A, B, D, E], R.EQUAL, R.SUBSET, R.EQUAL)
    result = infer_coverage({A: ok()}, edges)
    assert [result[k].coverage for k in (B, D, E)] == [C.FULL, C.PARTIAL, C.PARTIAL]
    assert result[E].via == (A, B, D, E)
    assert result[E].hops == 3


def test_strongest_path_wins_over_a_shorter_weaker_one() -> None:
    edges = [edge(A, E, R.SUBSET), *chain([A, B, D, E], R.EQUAL, R.SUPERSET, R.EQUAL)]
    result = infer_coverage({A: ok()}, edges)
    assert (result[E].coverage, result[E].hops, result[E].via) == (C.FULL, 3, (A, B, D, E))


def test_equally_strong_paths_prefer_fewest_hops_then_smallest_path() -> None:
    edges = [
        *chain([A, B, D, F], R.EQUAL, R.EQUAL, R.EQUAL),
        *chain([A, X, E, F], R.EQUAL, R.EQUAL, R.EQUAL),
        *chain([A, E, F], R.EQUAL, R.EQUAL),
    ]
    result = infer_coverage({A: ok()}, edges)
    assert result[F].via == (A, E, F)
    del edges[-2:]
    assert infer_coverage({A: ok()}, edges)[F].via == (A, X, E, F)


def test_strongest_evidence_clause_wins_between_seeds() -> None:
    direct = {A: DirectResult("partial", ("weak",)), D: ok("strong")}
    result = infer_coverage(direct, [edge(A, B, R.EQUAL), edge(D, E, R.EQUAL), edge(E, B, R.EQUAL)])
    assert (result[B].coverage, result[B].sources, result[B].hops) == (C.FULL, ("strong",), 2)


def test_parallel_mappings_use_the_strongest() -> None:
    result = infer_coverage({A: ok()}, [edge(A, B, R.INTERSECTS), edge(A, B, R.EQUAL)])
    assert result[B].coverage is C.FULL


def test_no_relationship_is_not_traversed() -> None:
    result = infer_coverage({A: ok()}, [edge(A, B, R.NO_RELATIONSHIP), edge(B, D, R.EQUAL)])
    assert set(result) == {A}


def test_mappings_are_directed() -> None:
    assert set(infer_coverage({B: ok()}, [edge(A, B, R.EQUAL)])) == {B}


def test_max_hops_is_respected() -> None:
    edges = chain([A, B, D, E, F], R.EQUAL, R.EQUAL, R.EQUAL, R.EQUAL)
    assert set(infer_coverage({A: ok()}, edges, max_hops=2)) == {A, B, D}
    assert set(infer_coverage({A: ok()}, edges)) == {A, B, D, E}
    assert set(infer_coverage({A: ok()}, edges, max_hops=0)) == {A}
    with pytest.raises(ValueError, match="max_hops"):
        infer_coverage({A: ok()}, edges, max_hops=-1)


def test_cycles_terminate() -> None:
    edges = [*chain([A, B, D, A], R.EQUAL, R.INTERSECTS, R.EQUAL), edge(B, B, R.EQUAL)]
    result = infer_coverage({A: ok()}, edges, max_hops=50)
    assert set(result) == {A, B, D}
    assert (result[D].coverage, result[D].via) == (C.PARTIAL, (A, B, D))


def test_partial_evidence_confers_at_most_partial() -> None:
    result = infer_coverage({A: DirectResult("partial", ("r",))}, [edge(A, B, R.EQUAL)])
    assert (result[B].coverage, result[B].sources) == (C.PARTIAL, ("r",))


def test_nonconforming_evidence_confers_nothing_but_marks_mapped_clauses() -> None:
    direct = {A: DirectResult("nonconforming", ("nc1",))}
    result = infer_coverage(direct, chain([A, B, D], R.EQUAL, R.SUBSET))
    assert (result[A].coverage, result[A].direct) == (C.NONE, True)
    assert result[B] == CoverageResult(B, C.NONE, False, (), 0, (), (A,))
    assert result[D].related_nonconformities == (A,)


def test_nonconforming_clause_blocks_inference_through_it() -> None:
    direct = {A: ok(), B: DirectResult("nonconforming")}
    result = infer_coverage(direct, chain([A, B, D], R.EQUAL, R.EQUAL))
    assert (result[B].coverage, result[B].direct) == (C.NONE, True)
    assert (result[D].coverage, result[D].related_nonconformities) == (C.NONE, (B,))


def test_partially_conforming_clause_caps_paths_through_it() -> None:
    direct = {A: ok(), B: DirectResult("partial", ("p",))}
    result = infer_coverage(direct, chain([A, B, D], R.EQUAL, R.EQUAL))
    assert (result[D].coverage, result[D].via, result[D].sources) == (C.PARTIAL, (B, D), ("p",))


def test_direct_clause_keeps_its_result_and_gains_the_marker() -> None:
    direct = {A: DirectResult("nonconforming"), B: ok()}
    result = infer_coverage(direct, [edge(A, B, R.EQUAL)])
    assert (result[B].coverage, result[B].direct, result[B].related_nonconformities) == (
        C.FULL,
        True,
        (A,),
    )


def test_unknown_direct_status_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown direct status"):
        DirectResult("fine")  # type: ignore[arg-type]


def test_gap_report_counts() -> None:
    heading, full, partial, missing, open_nc, failed = (
        f"iso9001:2015/{n}" for n in ("9", "9.1.1", "9.2", "9.3", "10.1", "10.2")
    )
    coverage = infer_coverage(
        {full: ok(), open_nc: ok(), failed: DirectResult("nonconforming"), X: ok()},
        [edge(X, partial, R.INTERSECTS)],
    )
    clauses = [heading, full, partial, missing, open_nc, failed, full]
    leaves = {full, partial, missing, open_nc, failed}

    report = gap_analysis(clauses, coverage, {open_nc: 2, failed: 1, heading: 4}, assessable=leaves)

    assert [e.clause for e in report.entries] == [full, partial, missing, open_nc, failed]
    assert report.no_evidence == (missing,)
    assert report.partial_only == (partial,)
    assert report.nonconforming == (failed,)
    assert report.open_nonconformity == {open_nc: 2, failed: 1}
    assert (report.assessable, report.covered, report.coverage_pct) == (5, 1, 20.0)
    assert report.summary["no_evidence"] == 1
    assert report.entries[1].status is GapStatus.PARTIAL_ONLY
    assert report.entries[1].via == (X, partial)
    by_predicate = gap_analysis(clauses, coverage, {}, assessable=lambda k: k != heading)
    assert (by_predicate.covered, by_predicate.assessable) == (2, 5)
    assert gap_analysis(clauses, coverage, {}).assessable == 6
    assert gap_analysis([], coverage, {}).coverage_pct == 0.0


# --- properties -----------------------------------------------------------------------------

NODES = [f"iso9001:2015/{n}" for n in range(1, 7)]
STATUSES = ("conforming", "partial", "nonconforming")
Graph = tuple[dict[str, DirectResult], list[MappingEdge], int]
graphs = st.tuples(
    st.dictionaries(
        st.sampled_from(NODES), st.builds(DirectResult, st.sampled_from(STATUSES)), max_size=4
    ),
    st.lists(
        st.builds(edge, st.sampled_from(NODES), st.sampled_from(NODES), st.sampled_from(list(R))),
        max_size=18,
    ),
    st.integers(min_value=0, max_value=4),
)


@settings(max_examples=300, deadline=None)
@given(graphs)
def test_inferred_coverage_never_beats_its_path(graph: Graph) -> None:
    direct, edges, max_hops = graph
    hop_strength: dict[tuple[str, str], int] = {}
    for e in edges:
        pair = (e.source, e.target)
        hop_strength[pair] = max(hop_strength.get(pair, 0), RANK[edge_coverage(e.relationship)])

    for clause, result in infer_coverage(direct, edges, max_hops=max_hops).items():
        assert result.clause == clause
        assert result.direct == (clause in direct)
        if result.direct or result.coverage is C.NONE:
            continue
        assert result.via[-1] == clause
        assert result.hops == len(result.via) - 1 <= max_hops
        assert direct[result.via[0]].status != "nonconforming"
        assert all(direct.get(k, ok()).status != "nonconforming" for k in result.via[1:])
        hops = list(itertools.pairwise(result.via))
        assert all(hop_strength.get(h, 0) > 0 for h in hops), "via must follow real mappings"
        assert RANK[result.coverage] <= min(hop_strength[h] for h in hops)


def _oracle(
    direct: dict[str, DirectResult], edges: list[MappingEdge], max_hops: int
) -> dict[str, tuple[int, int, tuple[str, ...]]]:
    """Best (strength, -hops, path) per inferred clause by enumerating every walk."""
    strength = {"conforming": 2, "partial": 1, "nonconforming": 0}
    best: dict[str, tuple[int, int, tuple[str, ...]]] = {}
    stack: list[tuple[str, int, tuple[str, ...]]] = [
        (k, strength[r.status], (k,)) for k, r in direct.items() if strength[r.status]
    ]
    while stack:
        node, level, path = stack.pop()
        if len(path) > 1 and node not in direct:
            candidate = (level, -(len(path) - 1), path)
            known = best.get(node)
            if known is None or (candidate[:2], known[2]) > (known[:2], candidate[2]):
                best[node] = candidate
        if len(path) > 1 and node in direct:
            level = min(level, strength[direct[node].status])
        if len(path) - 1 == max_hops or level == 0:
            continue
        for e in edges:
            hop = RANK[edge_coverage(e.relationship)]
            if e.source == node and e.target != node and hop:
                stack.append((e.target, min(level, hop), (*path, e.target)))
    return best


@settings(max_examples=300, deadline=None)
@given(graphs)
def test_inference_matches_exhaustive_search(graph: Graph) -> None:
    direct, edges, max_hops = graph
    expected = _oracle(direct, edges, max_hops)
    inferred = {
        k: (RANK[r.coverage], -r.hops, r.via)
        for k, r in infer_coverage(direct, edges, max_hops=max_hops).items()
        if not r.direct and r.coverage is not C.NONE
    }
    assert inferred == expected
