import random

import pytest

from accord.compliance.crosswalk import (
    ConflictKind,
    HsClause,
    MappingEdge,
    detect_conflicts,
    harmonized_crosswalk,
)
from accord.compliance.vocab import (
    MappingMethod,
    Rationale,
    Relationship,
    StandardKind,
)

R = Relationship
QMS, EMS, OHS = "iso9001:2015", "iso14001:2015", "iso45001:2018"
ISMS, ERM = "iso27001:2022", "iso31000:2018"


def hs(
    standard: str,
    number: str,
    hs_ref: str | None = None,
    kind: StandardKind = StandardKind.REQUIREMENTS,
) -> HsClause:
    return HsClause(f"{standard}/{number}", standard, hs_ref or number, kind)


def edge(
    source: str,
    target: str,
    rel: Relationship,
    *,
    scope: str = "global",
    author: str | None = None,
    mapping_id: str | None = None,
) -> MappingEdge:
    return MappingEdge(
        source, target, rel, None, scope, MappingMethod.HUMAN, author, "approved", mapping_id
    )


def test_hs_crosswalk_pairs_internal_audit_twins_across_three_standards() -> None:
    clauses = [
        hs(QMS, "9.2"),
        hs(EMS, "9.2"),
        hs(OHS, "9.2"),
        hs(ERM, "6.7", hs_ref="9.2", kind=StandardKind.GUIDANCE),
    ]

    edges = harmonized_crosswalk(clauses)

    pairs = {(e.source, e.target) for e in edges}
    keys = [f"{QMS}/9.2", f"{EMS}/9.2", f"{OHS}/9.2"]
    assert len(edges) == 6
    assert pairs == {(a, b) for a in keys for b in keys if a != b}
    assert all(f"{ERM}/6.7" not in pair for pair in pairs)
    for e in edges:
        assert e.relationship is R.EQUAL
        assert e.method is MappingMethod.AUTOMATION
        assert e.rationale is Rationale.SYNTACTIC
        assert e.strength == 10
        assert e.scope == "global"


def test_hs_crosswalk_is_deterministic_and_in_natural_clause_order() -> None:
    clauses = [hs(s, n) for s in (QMS, EMS, ISMS) for n in ("4.1", "9.2", "10.2", "9.3")]
    shuffled = clauses[:]
    random.Random(7).shuffle(shuffled)

    edges = harmonized_crosswalk(clauses)

    assert edges == harmonized_crosswalk(shuffled)
    refs = [e.source.rsplit("/", 1)[1] for e in edges]
    assert refs == sorted(refs, key=lambda r: tuple(int(p) for p in r.split(".")))
    assert len(edges) == 4 * 6


def test_hs_crosswalk_never_pairs_clauses_of_one_standard_or_different_refs() -> None:
    edges = harmonized_crosswalk([hs(QMS, "9.2"), hs(QMS, "9.2"), hs(EMS, "9.3")])
    assert edges == []


def test_hs_crosswalk_refuses_two_clauses_of_one_standard_for_one_hs_clause() -> None:
    with pytest.raises(ValueError, match=r"two clauses for HS 6\.1"):
        harmonized_crosswalk([hs(ISMS, "6.1.2", hs_ref="6.1"), hs(ISMS, "6.1.3", hs_ref="6.1")])


def test_hs_clause_must_belong_to_its_standard() -> None:
    with pytest.raises(ValueError, match="does not belong"):
        HsClause(f"{QMS}/9.2", EMS, "9.2")
    with pytest.raises(ValueError, match="not a clause key"):
        HsClause("not a key", QMS, "9.2")


def test_mapping_strength_is_ordinal_zero_to_ten() -> None:
    for bad in (-1, 11):
        with pytest.raises(ValueError, match="strength"):
            MappingEdge(
                "a:2000/1", "b:2000/1", R.EQUAL, bad, "global", MappingMethod.HUMAN, None, "x"
            )
    edge = MappingEdge("a:2000/1", "b:2000/1", R.EQUAL, 0, "global", MappingMethod.HUMAN, None, "x")
    assert edge.strength == 0


def test_hs_crosswalk_is_free_of_conflicts() -> None:
    clauses = [hs(s, n) for s in (QMS, EMS, OHS, ISMS) for n in ("4.1", "9.2")]
    assert detect_conflicts(harmonized_crosswalk(clauses)) == []


def test_partners_disagreeing_on_one_pair_is_a_conflict_listing_both() -> None:
    a, b = f"{QMS}/7.5", f"{ISMS}/7.5"
    mine = edge(a, b, R.EQUAL, scope="partner-a", author="alice", mapping_id="m1")
    theirs = edge(a, b, R.SUBSET, scope="partner-b", author="bob", mapping_id="m2")

    conflicts = detect_conflicts([mine, theirs])

    assert len(conflicts) == 1
    conflict = conflicts[0]
    assert conflict.kind is ConflictKind.DISAGREEMENT
    assert (conflict.source, conflict.target) == (a, b)
    assert conflict.mappings == (mine, theirs)
    for fragment in ("m1", "m2", "alice", "partner-b", "'equal'", "'subset'"):
        assert fragment in conflict.reason


def test_agreeing_duplicates_are_kept_and_not_a_conflict() -> None:
    a, b = f"{QMS}/7.5", f"{ISMS}/7.5"
    assert detect_conflicts([edge(a, b, R.EQUAL, scope="x"), edge(a, b, R.EQUAL, scope="y")]) == []


@pytest.mark.parametrize(
    ("forward", "backward"),
    [
        (R.SUBSET, R.SUPERSET),
        (R.SUPERSET, R.SUBSET),
        (R.EQUAL, R.EQUAL),
        (R.INTERSECTS, R.INTERSECTS),
        (R.NO_RELATIONSHIP, R.NO_RELATIONSHIP),
    ],
)
def test_consistent_inverse_pairs_are_not_conflicts(
    forward: Relationship, backward: Relationship
) -> None:
    a, b = f"{QMS}/8.1", f"{EMS}/8.1"
    assert detect_conflicts([edge(a, b, forward), edge(b, a, backward)]) == []


@pytest.mark.parametrize(
    ("forward", "backward"),
    [
        (R.SUBSET, R.INTERSECTS),
        (R.SUBSET, R.SUBSET),
        (R.EQUAL, R.SUPERSET),
        (R.INTERSECTS, R.NO_RELATIONSHIP),
        (R.NO_RELATIONSHIP, R.EQUAL),
    ],
)
def test_inconsistent_inverse_pairs_are_conflicts(
    forward: Relationship, backward: Relationship
) -> None:
    a, b = f"{QMS}/8.1", f"{EMS}/8.1"
    there, back = edge(a, b, forward, mapping_id="m1"), edge(b, a, backward, mapping_id="m2")

    conflicts = detect_conflicts([back, there])

    assert len(conflicts) == 1
    assert conflicts[0].kind is ConflictKind.INVERSE_MISMATCH
    assert set(conflicts[0].mappings) == {there, back}
    assert "m1" in conflicts[0].reason
    assert "m2" in conflicts[0].reason


def test_disagreement_and_inverse_mismatch_are_both_reported() -> None:
    a, b = f"{QMS}/8.1", f"{EMS}/8.1"
    edges = [edge(a, b, R.SUBSET), edge(a, b, R.EQUAL), edge(b, a, R.SUPERSET)]

    kinds = sorted(c.kind for c in detect_conflicts(edges))

    # subset<->superset agrees; equal<->superset does not.
    assert kinds == [ConflictKind.DISAGREEMENT, ConflictKind.INVERSE_MISMATCH]


def test_self_mapping_has_no_inverse_to_disagree_with() -> None:
    a = f"{QMS}/8.1"
    assert detect_conflicts([edge(a, a, R.EQUAL)]) == []
