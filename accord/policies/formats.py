"""RACI matrices as YAML documents and as the CSV spreadsheet partners keep.

CSV layout: a few ``key,value`` rows (``matrix``, ``process``, ``owners``, ``description``),
then a header row ``activity,record_type,actions,owners,<party>,<party>,…`` and one row per
activity; a cell holds ``R``, ``A``, ``C``, ``I`` (or several, ``A/R``) or nothing.
Lists inside a cell (actions, owners) are separated by spaces.

YAML layout::

    name: Supplier quality 2027
    process: supplier-quality-2027        # defaults to the slug of the name
    owners: [globex]
    parties: [role:globex/quality_manager, role:northwind/quality_manager, user:meridian/dana]
    activities:
      - {name: Respond to findings, record_type: finding, actions: [respond, propose_capa]}
    raci:
      Respond to findings: {role:globex/quality_manager: R, role:northwind/quality_manager: A}

Parsing collects problems instead of stopping; ``raci.validate`` adds the semantic ones.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import yaml

from accord.policies.raci import (
    Activity,
    Matrix,
    Party,
    Problem,
    format_letters,
    parse_letters,
)
from accord.policies.vocab import Letter, slugify

_FIXED_COLUMNS = ("activity", "record_type", "actions", "owners")
_PREAMBLE_KEYS = {"matrix": "name", "name": "name", "process": "process", "owners": "owners"}


class _Loader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[str, int]] = []


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[str] = set()
    for key_node, _ in node.value:
        key = str(loader.construct_object(key_node, deep=deep))
        if key in seen:
            loader.duplicates.append((key, key_node.start_mark.line + 1))
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _words(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.replace(",", " ").split())
    if isinstance(value, list):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return (str(value),)


def _party(value: Any, where: str, problems: list[Problem]) -> Party | None:
    if isinstance(value, dict):
        tenant, role, subject = value.get("tenant"), value.get("role"), value.get("subject")
        if isinstance(tenant, str) and (isinstance(role, str)) != (isinstance(subject, str)):
            return Party(tenant=tenant, role=role, subject=subject)
    elif isinstance(value, str) and (party := Party.parse(value)) is not None:
        return party
    problems.append(
        Problem(
            "BAD_PARTY",
            f"{value!r} is neither role:<tenant>/<role> nor user:<tenant>/<subject>.",
            where,
        )
    )
    return None


def _cell(value: Any, where: str, problems: list[Problem]) -> frozenset[Letter]:
    letters = parse_letters("" if value is None else str(value))
    if letters is None:
        problems.append(Problem("BAD_LETTER", f"{value!r} is not one of R, A, C, I.", where))
        return frozenset()
    return letters


def parse_yaml(text: str) -> tuple[Matrix, list[Problem]]:
    problems: list[Problem] = []
    loader = _Loader(text)
    try:
        raw = loader.get_single_data()
    except yaml.YAMLError as exc:
        return _empty(), [Problem("BAD_YAML", str(exc).replace("\n", " "))]
    finally:
        loader.dispose()
    for key, line in loader.duplicates:
        code = "DUPLICATE_PARTY" if Party.parse(key) else "DUPLICATE_KEY"
        problems.append(Problem(code, f"'{key}' is given twice.", f"line {line}"))
    if not isinstance(raw, dict):
        return _empty(), [*problems, Problem("BAD_YAML", "The document is not a mapping.")]
    name = str(raw.get("name") or "")
    activities: list[Activity] = []
    for i, item in enumerate(raw.get("activities") or []):
        if not isinstance(item, dict):
            problems.append(Problem("BAD_ACTIVITY", "An activity is a mapping.", f"activity {i}"))
            continue
        activities.append(
            Activity(
                name=str(item.get("name") or ""),
                record_type=str(item.get("record_type") or ""),
                actions=_words(item.get("actions")),
                owners=_words(item.get("owners")),
            )
        )
    cells: dict[str, dict[str, frozenset[Letter]]] = {}
    raci = raw.get("raci") or {}
    for activity_name, row in raci.items() if isinstance(raci, dict) else ():
        where = f"raci '{activity_name}'"
        if not isinstance(row, dict):
            problems.append(Problem("BAD_ROW", "A RACI row maps parties to letters.", where))
            continue
        cells[str(activity_name)] = {
            str(party): _cell(letters, f"{where} / {party}", problems)
            for party, letters in row.items()
        }
    if "parties" in raw:
        parties = [
            _party(v, f"parties[{i}]", problems) for i, v in enumerate(raw.get("parties") or [])
        ]
    else:
        keys = dict.fromkeys(k for row in cells.values() for k in row)
        parties = [_party(k, "raci", problems) for k in keys]
    matrix = Matrix(
        name=name,
        process=str(raw.get("process") or slugify(name)),
        owners=_words(raw.get("owners")),
        parties=tuple(p for p in parties if p is not None),
        activities=tuple(activities),
        cells=_drop_empty(cells),
        description=str(raw.get("description") or ""),
    )
    return matrix, problems


def dump_yaml(matrix: Matrix) -> str:
    doc: dict[str, Any] = {"name": matrix.name, "process": matrix.process}
    doc["owners"] = list(matrix.owners)
    if matrix.description:
        doc["description"] = matrix.description
    doc["parties"] = [p.key for p in matrix.parties]
    doc["activities"] = [
        {
            "name": a.name,
            "record_type": a.record_type,
            "actions": list(a.actions),
            **({"owners": list(a.owners)} if a.owners else {}),
        }
        for a in matrix.activities
    ]
    doc["raci"] = {
        activity: {party: format_letters(letters) for party, letters in row.items()}
        for activity, row in matrix.cells.items()
    }
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def parse_csv(text: str) -> tuple[Matrix, list[Problem]]:
    problems: list[Problem] = []
    meta: dict[str, str] = {}
    header: list[str] | None = None
    parties: list[Party] = []
    activities: list[Activity] = []
    cells: dict[str, dict[str, frozenset[Letter]]] = {}
    for line, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        row = [c.strip() for c in row]
        if not any(row):
            continue
        where = f"line {line}"
        if header is None:
            key = row[0].lower()
            if key == "activity":
                header = row
                for column, value in enumerate(row[len(_FIXED_COLUMNS) :], len(_FIXED_COLUMNS)):
                    party = _party(value, f"{where}, column {column + 1}", problems)
                    if party is not None:
                        parties.append(party)
                if [c.lower() for c in row[: len(_FIXED_COLUMNS)]] != list(_FIXED_COLUMNS):
                    problems.append(
                        Problem("BAD_HEADER", f"The header starts {', '.join(_FIXED_COLUMNS)}.")
                    )
            elif key in _PREAMBLE_KEYS or key == "description":
                meta[_PREAMBLE_KEYS.get(key, key)] = row[1] if len(row) > 1 else ""
            else:
                problems.append(Problem("BAD_ROW", f"Unexpected row '{row[0]}'.", where))
            continue
        padded = row + [""] * (len(header) - len(row))
        name = padded[0]
        activities.append(
            Activity(
                name=name,
                record_type=padded[1],
                actions=_words(padded[2]),
                owners=_words(padded[3]),
            )
        )
        row_cells: dict[str, frozenset[Letter]] = {}
        for column, value in enumerate(padded[len(_FIXED_COLUMNS) :], len(_FIXED_COLUMNS)):
            if column >= len(header):
                if value:
                    problems.append(Problem("BAD_ROW", "A cell outside any party column.", where))
                continue
            letters = _cell(value, f"{where}, column {column + 1}", problems)
            if letters and (party := Party.parse(header[column])) is not None:
                row_cells[party.key] = row_cells.get(party.key, frozenset()) | letters
        cells[name] = row_cells
    if header is None:
        problems.append(Problem("BAD_HEADER", "No header row starting with 'activity'."))
    name = meta.get("name", "")
    matrix = Matrix(
        name=name,
        process=meta.get("process") or slugify(name),
        owners=_words(meta.get("owners")),
        parties=tuple(parties),
        activities=tuple(activities),
        cells=_drop_empty(cells),
        description=meta.get("description", ""),
    )
    return matrix, problems


def dump_csv(matrix: Matrix) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["matrix", matrix.name])
    writer.writerow(["process", matrix.process])
    writer.writerow(["owners", " ".join(matrix.owners)])
    if matrix.description:
        writer.writerow(["description", matrix.description])
    writer.writerow([*_FIXED_COLUMNS, *(p.key for p in matrix.parties)])
    for a in matrix.activities:
        writer.writerow(
            [
                a.name,
                a.record_type,
                " ".join(a.actions),
                " ".join(a.owners),
                *(format_letters(matrix.letters(a.name, p.key)) for p in matrix.parties),
            ]
        )
    return out.getvalue()


def parse(text: str, fmt: str) -> tuple[Matrix, list[Problem]]:
    return parse_csv(text) if fmt == "csv" else parse_yaml(text)


def detect_format(filename: str) -> str:
    return "csv" if filename.lower().endswith(".csv") else "yaml"


def _drop_empty(
    cells: dict[str, dict[str, frozenset[Letter]]],
) -> dict[str, dict[str, frozenset[Letter]]]:
    kept = {a: {p: v for p, v in row.items() if v} for a, row in cells.items()}
    return {a: row for a, row in kept.items() if row}


def _empty() -> Matrix:
    return Matrix(name="", process="", owners=(), parties=(), activities=())
