"""An attacker on an aggregate-level owner's released counts.

It sees every number the API releases about one owner (``findingAggregates``' cells, the
dashboard's counts per grade, state and clause, its overdue actions) in reads before and
after one change whose every detail it knows (which cells moved, and by how much). It
knows the published mechanism (each cell is ``B * floor((count + offset) / B)`` with an
offset in ``[0, B)`` fixed per cell, the other numbers sums of cells), not the key that
draws the offsets.

``linked_numbers_are_sums`` checks that the other numbers are sums of the released cells:
then they add nothing to what the cells say, and as offsets are independent per cell the
attacker's knowledge is the product of what it can infer cell by cell, which ``feasible``
enumerates exhaustively.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CLOSED = "closed"


@dataclass(frozen=True)
class Released:
    """Every number released about one owner in one read."""

    #: (grade, state) → count, from findingAggregates (lower-case enum values)
    cells: dict[tuple[str, str], int]
    by_grade: dict[str, int]
    by_state: dict[str, int]
    by_clause: dict[str, int]
    overdue: int | None
    rounded_to: int | None
    cell_bases: frozenset[int]
    suppressed: int

    @classmethod
    def of(cls, owner: str, aggregates: dict[str, Any], board: dict[str, Any]) -> Released:
        groups = [g for g in aggregates["groups"] if g["tenant"] == owner]
        [counts] = [t for t in board["tenants"] if t["tenant"] == owner]
        return cls(
            cells={(g["grade"].lower(), g["state"].lower()): g["count"] for g in groups},
            by_grade=counts["openByGrade"],
            by_state=counts["openByState"],
            by_clause=counts["openByClause"],
            overdue=counts["overdueCapaActions"],
            rounded_to=counts["roundedTo"],
            cell_bases=frozenset(g["roundedTo"] for g in groups),
            suppressed=counts["suppressedGroups"],
        )


def release(count: int, offset: int, base: int) -> int:
    """The published mechanism, as the attacker models it."""
    return base * ((count + offset) // base)


def linked_numbers_are_sums(seen: Released, base: int) -> None:
    """Assert the dashboard's numbers are sums of the released cells (nothing else)."""
    assert seen.rounded_to == base and seen.cell_bases <= {base}
    assert seen.by_clause == {} and seen.suppressed == 0
    by_grade: dict[str, int] = {}
    by_state: dict[str, int] = {}
    for (grade, state), n in seen.cells.items():
        if state != CLOSED:
            by_grade[grade] = by_grade.get(grade, 0) + n
            by_state[state] = by_state.get(state, 0) + n
    assert seen.by_grade == by_grade and seen.by_state == by_state


def feasible(before: int, after: int, delta: int, base: int, bound: int) -> set[int]:
    """The counts (before the change) of one cell consistent with its releases before and
    after a change of ``delta``, for some offset."""
    return {
        c
        for c in range(bound + 1)
        if c + delta >= 0
        and any(
            release(c, u, base) == before and release(c + delta, u, base) == after
            for u in range(base)
        )
    }


def pinned_cells(
    before: Released,
    after: Released,
    truth_before: Mapping[tuple[str, str], int],
    delta: Mapping[tuple[str, str], int],
    minimum: int,
    base: int,
) -> list[str]:
    """Every cell the attacker pins to a value below ``minimum`` (before or after the
    change), or whose truth it rules out (the mechanism is not the published one)."""
    problems: list[str] = []
    bound = sum(truth_before.values()) + 2 * base + 2
    for cell in sorted(set(truth_before) | set(delta) | set(before.cells) | set(after.cells)):
        c, d = truth_before.get(cell, 0), delta.get(cell, 0)
        options = feasible(before.cells.get(cell, 0), after.cells.get(cell, 0), d, base, bound)
        if c not in options:
            problems.append(f"{cell}: truth {c} outside {sorted(options)}")
        for value, shifted in ((c, 0), (c + d, d)):
            if 0 < value < minimum and len({o + shifted for o in options}) < 2:
                problems.append(f"{cell}: pinned to {value} (options {sorted(options)})")
    return problems
