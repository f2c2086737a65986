"""Clause-to-clause mappings (NIST IR 8477): the Harmonized Structure crosswalk and conflict checks.

A mapping reads "source <relationship> target", e.g. ``A subset B`` means A's requirement is
contained in B's. Mappings are directed: ``A subset B`` does not imply a stored ``B superset A``,
which is why the HS crosswalk emits both directions and why inverse pairs are checked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from itertools import permutations

from accord.compliance.vocab import (
    ClauseKey,
    MappingMethod,
    MappingStatus,
    Rationale,
    Relationship,
    StandardKind,
)

GLOBAL_SCOPE = "global"
HS_STRENGTH = 10

INVERSE: dict[Relationship, Relationship] = {
    Relationship.EQUAL: Relationship.EQUAL,
    Relationship.SUBSET: Relationship.SUPERSET,
    Relationship.SUPERSET: Relationship.SUBSET,
    Relationship.INTERSECTS: Relationship.INTERSECTS,
    Relationship.NO_RELATIONSHIP: Relationship.NO_RELATIONSHIP,
}

_RELATIONSHIP_ORDER = {rel: index for index, rel in enumerate(Relationship)}


@dataclass(frozen=True, slots=True)
class MappingEdge:
    source: str
    target: str
    relationship: Relationship
    strength: int | None
    scope: str  # "global" or a tenant slug
    method: MappingMethod
    author: str | None
    status: str
    mapping_id: str | None = None
    # Trailing and optional so the documented positional field order stays valid.
    rationale: Rationale | None = None

    def __post_init__(self) -> None:
        # Strength is an ordinal 0..10, as CISO Assistant, OSCAL props and the catalog carry it;
        # anything else is a loader bug.
        if self.strength is not None and not 0 <= self.strength <= 10:
            raise ValueError(f"mapping strength must be 0..10 or None, got {self.strength}")


@dataclass(frozen=True, slots=True)
class HsClause:
    """A clause of a standard that instantiates Harmonized Structure clause ``hs_ref``."""

    key: str
    standard_id: str
    hs_ref: str
    # Guidance documents (ISO 31000, 22361) say "should" where HS requirements say "shall", so
    # even a shared clause number must not be declared `equal` to a requirement.
    kind: StandardKind = StandardKind.REQUIREMENTS

    def __post_init__(self) -> None:
        parsed = ClauseKey.parse(self.key)
        if parsed.standard != self.standard_id:
            raise ValueError(f"clause {self.key!r} does not belong to {self.standard_id!r}")
        if not self.hs_ref:
            raise ValueError(f"clause {self.key!r} has an empty hs_ref")


def _ref_sort_key(ref: str) -> tuple[tuple[int, str], ...]:
    # Natural order so that 10.1 sorts after 9.3 rather than after 1.
    return tuple((int(part), "") if part.isdigit() else (-1, part) for part in ref.split("."))


def harmonized_crosswalk(clauses: Iterable[HsClause]) -> list[MappingEdge]:
    """`equal` mappings, both directions, between HS twins of different requirement standards.

    Raises ValueError when one standard offers two different clauses for the same HS clause:
    neither could honestly be `equal` to the twin, so a human has to map them.
    """
    twins: dict[str, dict[str, str]] = defaultdict(dict)
    for clause in clauses:
        if clause.kind is not StandardKind.REQUIREMENTS:
            continue
        by_standard = twins[clause.hs_ref]
        known = by_standard.setdefault(clause.standard_id, clause.key)
        if known != clause.key:
            raise ValueError(
                f"{clause.standard_id} has two clauses for HS {clause.hs_ref}: "
                f"{known!r} and {clause.key!r}"
            )

    edges: list[MappingEdge] = []
    for ref in sorted(twins, key=_ref_sort_key):
        for source, target in permutations(sorted(twins[ref].values()), 2):
            edges.append(
                MappingEdge(
                    source=source,
                    target=target,
                    relationship=Relationship.EQUAL,
                    strength=HS_STRENGTH,
                    scope=GLOBAL_SCOPE,
                    method=MappingMethod.AUTOMATION,
                    author=None,
                    # ISO publishes the HS identical text itself; there is nothing to review.
                    status=MappingStatus.APPROVED,
                    rationale=Rationale.SYNTACTIC,
                )
            )
    return edges


class ConflictKind(StrEnum):
    DISAGREEMENT = "disagreement"
    INVERSE_MISMATCH = "inverse_mismatch"


@dataclass(frozen=True, slots=True)
class MappingConflict:
    kind: ConflictKind
    source: str
    target: str
    mappings: tuple[MappingEdge, ...]
    reason: str


def _describe(edge: MappingEdge) -> str:
    who = edge.author or edge.method.value
    ident = edge.mapping_id or "unsaved"
    return f"{ident} by {who}, scope {edge.scope}"


def _describe_all(edges: Iterable[MappingEdge]) -> str:
    return "; ".join(_describe(edge) for edge in edges)


def _by_relationship(edges: list[MappingEdge]) -> dict[Relationship, list[MappingEdge]]:
    grouped: dict[Relationship, list[MappingEdge]] = defaultdict(list)
    for edge in edges:
        grouped[Relationship(edge.relationship)].append(edge)
    return dict(sorted(grouped.items(), key=lambda item: _RELATIONSHIP_ORDER[item[0]]))


def _disagreement(source: str, target: str, group: list[MappingEdge]) -> MappingConflict | None:
    grouped = _by_relationship(group)
    if len(grouped) < 2:
        return None
    opinions = " vs ".join(
        f"'{rel.value}' ({_describe_all(members)})" for rel, members in grouped.items()
    )
    return MappingConflict(
        kind=ConflictKind.DISAGREEMENT,
        source=source,
        target=target,
        mappings=tuple(group),
        reason=f"{len(group)} mappings of {source} -> {target} disagree: {opinions}",
    )


def _inverse_mismatches(
    source: str, target: str, forward: list[MappingEdge], backward: list[MappingEdge]
) -> list[MappingConflict]:
    conflicts: list[MappingConflict] = []
    backward_grouped = _by_relationship(backward)
    for rel, fwd in _by_relationship(forward).items():
        expected = INVERSE[rel]
        for back_rel, back in backward_grouped.items():
            if back_rel is expected:
                continue
            conflicts.append(
                MappingConflict(
                    kind=ConflictKind.INVERSE_MISMATCH,
                    source=source,
                    target=target,
                    mappings=(*fwd, *back),
                    reason=(
                        f"{source} -> {target} is '{rel.value}' ({_describe_all(fwd)}), so "
                        f"{target} -> {source} should be '{expected.value}', but it is "
                        f"'{back_rel.value}' ({_describe_all(back)})"
                    ),
                )
            )
    return conflicts


def detect_conflicts(edges: Iterable[MappingEdge]) -> list[MappingConflict]:
    """Report every disagreement; nothing is dropped or merged, curators decide.

    Scope is deliberately ignored: the interesting conflicts are exactly those between a
    partner's tenant mapping and the global or another partner's one.
    """
    by_pair: dict[tuple[str, str], list[MappingEdge]] = defaultdict(list)
    for edge in edges:
        by_pair[(edge.source, edge.target)].append(edge)

    conflicts: list[MappingConflict] = []
    for (source, target), group in sorted(by_pair.items()):
        disagreement = _disagreement(source, target, group)
        if disagreement is not None:
            conflicts.append(disagreement)
        # Each unordered pair is checked once, from its lexicographically smaller end; a
        # self-mapping has no distinct inverse to compare with.
        if source < target and (target, source) in by_pair:
            conflicts.extend(_inverse_mismatches(source, target, group, by_pair[(target, source)]))
    return conflicts
