"""Disclosure control for aggregate-level sharing: rounding with a secret offset per cell.

Every count an ``aggregate`` owner releases comes from one table, the cross-tabulation of
its declared dimensions (findings: grade × state), and every cell of it is released
rounded to a multiple of a base ``B`` (the agreement's minimum group size, at least 3)::

    released = B * floor((count + offset) / B)

where ``offset`` in ``[0, B)`` is drawn once per (owner, cell) from a keyed hash of the
deployment's secret key. Every other number (open findings per grade, per state, overdue
CAPA actions) is a sum of released cells, or a cell of its own, so it tells nothing the
cells do not. The same cell gives the same number on every read, process and replica;
over the offset the rounding is unbiased (its mean is the count). An attacker who knows
this scheme but not the key can narrow no cell below the group size to one value, from
one read or from the reads before and after one change (a cell moving by one): see
``docs/architecture.md``, "Disclosure control for aggregate sharing".
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping

from accord.platform.secrets import secret_key
from accord.platform.settings import Settings

#: the smallest rounding base: with 2, a cell of 0 with offset 0 that gains one is exact
ROUNDING_FLOOR = 3

#: findings' cells are (grade, state); a cell is named by its record type and values
Cell = tuple[str, ...]


def rounding_base(min_group_size: int) -> int:
    """The base an aggregate grant's counts are rounded to."""
    return max(min_group_size, ROUNDING_FLOOR)


class CellKeys:
    """Draws each cell's offset from the deployment's secret key."""

    def __init__(self, key: bytes) -> None:
        self._key = hmac.new(key, b"accord aggregate cell offsets", hashlib.sha256).digest()

    def offset(self, owner: str, cell: Cell, base: int) -> int:
        name = json.dumps([owner, *cell], separators=(",", ":")).encode()
        digest = hmac.new(self._key, name, hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") % base

    def release(self, owner: str, cell: Cell, count: int, base: int) -> int:
        """``count`` rounded to a multiple of ``base`` with the cell's offset."""
        return base * ((count + self.offset(owner, cell, base)) // base)

    def release_cells(self, owner: str, counts: Mapping[Cell, int], base: int) -> dict[Cell, int]:
        """Each cell rounded; cells released as 0 are left out."""
        released = {c: self.release(owner, c, n, base) for c, n in counts.items()}
        return {c: n for c, n in released.items() if n}


def cell_keys(settings: Settings) -> CellKeys:
    """The deployment's cell keys (``ACCORD_SECRET_KEY``, or the data directory's key)."""
    return CellKeys(secret_key(settings, purpose="aggregate counts"))


def finding_cell(grade: str, state: str) -> Cell:
    return ("finding", grade, state)


OVERDUE_ACTIONS: Cell = ("capa", "overdue_actions")


def margins(cells: Iterable[tuple[Cell, int]], position: int) -> dict[str, int]:
    """Sums of ``cells`` by the value at ``position`` of their names."""
    sums: dict[str, int] = {}
    for cell, n in cells:
        sums[cell[position]] = sums.get(cell[position], 0) + n
    return sums
