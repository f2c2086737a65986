"""The clause heat-map: Harmonized-Structure clauses × partners, open findings per cell.

A finding's clause is placed on the Harmonized Structure (HS) through the catalog: an HS
clause stands for itself, any other clause for its nearest HS ancestor (ISO 9001 8.4 lies
in HS clause 8). HS twins of different standards share an HS number (the catalog's
``harmonizedRef``), which is the cross-walk that lets one standard's rows count another
standard's findings. A standard without HS clauses (ISO 22361, guidance) counts only
findings naming its own clauses, by top-level clause. Counts are the API's ``openByClause``
(a finding naming several clauses counts under each); an aggregate partner's counts by
clause are never released, so its column is shown as suppressed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: The standards the selector offers (catalog ids), with the operation's alias for each.
STANDARDS: dict[str, tuple[str, str]] = {
    "iso9001:2015": ("iso9001", "ISO 9001:2015"),
    "iso14001:2015": ("iso14001", "ISO 14001:2015"),
    "iso45001:2018": ("iso45001", "ISO 45001:2018"),
    "iso27001:2022": ("iso27001", "ISO 27001:2022"),
    "iso22301:2019": ("iso22301", "ISO 22301:2019"),
    "iso22361:2022": ("iso22361", "ISO 22361:2022"),
}
DEFAULT_STANDARD = "iso9001:2015"


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    number: str
    title: str
    depth: int


@dataclass(frozen=True, slots=True)
class Column:
    tenant: str
    label: str
    #: None: counts are given; else why they are not (e.g. aggregate sharing)
    suppressed: str | None
    counts: Mapping[str, int]  # row key -> open findings
    unplaced: int  # findings on clauses with no place in this standard's rows


@dataclass(frozen=True, slots=True)
class HeatMap:
    standard: str
    rows: list[Row]
    columns: list[Column]
    uses_hs: bool

    @property
    def peak(self) -> int:
        return max((n for c in self.columns for n in c.counts.values()), default=0)


class Placement:
    """Where a clause key lands among the rows of one standard."""

    def __init__(self, clauses: Iterable[Mapping[str, Any]], standard: str) -> None:
        self._by_key = {c["key"]: c for c in clauses}
        self._standard = standard
        own = [c for c in self._by_key.values() if c["standardId"] == standard]
        hs = [c for c in own if c["harmonizedStructure"]]
        self.uses_hs = bool(hs)
        chosen = hs if hs else [c for c in own if c["depth"] <= 1]
        self.rows = [
            Row(key=c["key"], number=c["number"], title=c["title"], depth=c["depth"])
            for c in chosen
        ]
        self._row_keys = {r.key for r in self.rows}
        self._row_by_ref = {
            c["harmonizedRef"] or c["number"]: c["key"] for c in hs if c["harmonizedStructure"]
        }

    def row_of(self, clause_key: str) -> str | None:
        clause = self._by_key.get(clause_key)
        if clause is None:
            return None
        if not self.uses_hs:
            while clause is not None and clause["key"] not in self._row_keys:
                clause = self._by_key.get(clause["parentKey"] or "")
            return clause["key"] if clause is not None else None
        while clause is not None and not clause["harmonizedStructure"]:
            clause = self._by_key.get(clause["parentKey"] or "")
        if clause is None:
            return None
        if clause["standardId"] == self._standard:
            return str(clause["key"])
        return self._row_by_ref.get(clause["harmonizedRef"] or clause["number"])


def build(
    *,
    standard: str,
    clauses: Iterable[Mapping[str, Any]],
    dashboards: Iterable[Mapping[str, Any]],
    labels: Mapping[str, str],
) -> HeatMap:
    placement = Placement(clauses, standard)
    columns: list[Column] = []
    for board in dashboards:
        tenant = board["tenant"]
        counts: dict[str, int] = {}
        unplaced = 0
        suppressed = None
        if board.get("roundedTo") is not None:
            suppressed = "aggregate sharing: counts by clause are not released"
        for key, count in (board.get("openByClause") or {}).items():
            row = placement.row_of(key)
            if row is None:
                unplaced += int(count)
            else:
                counts[row] = counts.get(row, 0) + int(count)
        columns.append(Column(tenant, labels.get(tenant, tenant), suppressed, counts, unplaced))
    return HeatMap(
        standard=standard, rows=placement.rows, columns=columns, uses_hs=placement.uses_hs
    )


# ---- SVG --------------------------------------------------------------------------------
ROW_H, LABEL_W, COL_W, HEAD_H = 26, 330, 96, 48


def _shade(count: int, peak: int) -> str:
    if count == 0:
        return "cell-0"
    step = min(4, 1 + (4 * count) // max(peak, 1))
    return f"cell-{step}"


def svg_cells(heatmap: HeatMap) -> dict[str, Any]:
    """Geometry of the SVG for the template: width, height and every cell's place."""
    width = LABEL_W + COL_W * max(len(heatmap.columns), 1)
    height = HEAD_H + ROW_H * len(heatmap.rows)
    cells: list[dict[str, Any]] = []
    css_of: dict[tuple[str, str], str] = {}
    for j, column in enumerate(heatmap.columns):
        for i, row in enumerate(heatmap.rows):
            count = column.counts.get(row.key, 0)
            css = "cell-suppressed" if column.suppressed else _shade(count, heatmap.peak)
            css_of[(column.tenant, row.key)] = css
            cells.append(
                {
                    "x": LABEL_W + j * COL_W,
                    "y": HEAD_H + i * ROW_H,
                    "tenant": column.tenant,
                    "row": row,
                    "count": None if column.suppressed else count,
                    "css": css,
                }
            )
    return {
        "css_of": css_of,
        "width": width,
        "height": height,
        "row_h": ROW_H,
        "col_w": COL_W,
        "label_w": LABEL_W,
        "head_h": HEAD_H,
        "cells": cells,
    }
