"""The standards catalog as data files: clause numbers, titles and the clause tree.

One YAML file per standard lives in ``accord/compliance/catalog/data/`` (read through
:mod:`importlib.resources`, so it works from an installed wheel). The files hold numbers,
titles and structure only — never requirement text, which is ISO's copyright — and the
loader enforces that titles stay short, single-line and free of "shall".

This module is pure: it reads files and returns frozen values; storing them is the
database loader's business, which uses :func:`catalog_digest` to tell whether its stored
copy is current.

Validation collects every problem it can find (schema and tree rules alike) and raises one
:class:`CatalogDataError` naming the file and the field path of each, e.g.
``iso9001-2015.yaml: clauses[4].children[1].number: duplicate clause number '8.2' …``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from accord.compliance.vocab import ClauseKey, StandardKind, is_standard_id
from accord.platform.canonical import canonical_digest

__all__ = [
    "DATA_DIR",
    "DATA_PACKAGE",
    "DATA_SUFFIX",
    "DIGEST_FORMAT",
    "CatalogClause",
    "CatalogDataError",
    "CatalogStandard",
    "catalog_digest",
    "data_files",
    "load_catalog",
    "load_standard",
]

DATA_PACKAGE = "accord.compliance.catalog"
DATA_DIR = "data"
DATA_SUFFIX = ".yaml"
#: Bump when the shape of the digested payload changes (not when the data changes).
DIGEST_FORMAT = 2
#: CISO Assistant names a requirement node ``<prefix><framework slug>:<lower-cased ref_id>``.
CISO_NODE_PREFIX = "urn:intuitem:risk:req_node:"
_CISO_FRAMEWORK_RE = re.compile(r"^urn:intuitem:risk:framework:[a-z0-9][a-z0-9.-]*$")
_CISO_LIBRARY_RE = re.compile(r"^urn:intuitem:risk:library:[a-z0-9][a-z0-9.-]*$")

MAX_CLAUSE_TITLE = 119  # titles are headings, never sentences of requirement text
MAX_STANDARD_TITLE = 200
ANNEX_ROOT = "A"

_CLAUSE_NUMBER_RE = re.compile(r"^[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*$")
_HS_NUMBER_RE = re.compile(r"^[0-9]+(?:\.[0-9]+)*$")
_SHALL_RE = re.compile(r"\bshall\b", re.IGNORECASE)
_ID_YEAR_RE = re.compile(r":(?P<year>[0-9]{4})$")

PathSource = str | os.PathLike[str] | Traversable


class CatalogDataError(ValueError):
    """One or more catalog data files are invalid; ``problems`` lists every one found."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: list[str] = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the standards catalog data"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


@dataclass(frozen=True, slots=True)
class CatalogClause:
    """One clause (or Annex A theme/control) of a standard.

    ``depth`` is 1 for a top-level clause ("4", "A") and grows by one per level;
    ``position`` is the clause's index in document (pre-)order within its standard, so
    sorting by it reproduces the standard's table of contents. ``hs_ref`` is the number of
    the clause's twin in the ISO Harmonized Structure (2021) for HS clauses, else ``None``.
    """

    key: str
    standard_id: str
    number: str
    title: str
    parent_number: str | None
    depth: int
    position: int
    hs: bool
    hs_ref: str | None


@dataclass(frozen=True, slots=True)
class CatalogStandard:
    id: str
    number: str
    title: str
    year: int
    kind: StandardKind
    version: int
    clauses: tuple[CatalogClause, ...]
    #: CISO Assistant's library and framework urns for this standard, when it publishes one.
    ciso_library: str | None = None
    ciso_framework: str | None = None

    def clause_urn(self, number: str) -> str | None:
        """CISO Assistant's requirement node urn for clause ``number`` (``None`` if unlinked)."""
        if self.ciso_framework is None:
            return None
        slug = self.ciso_framework.rsplit(":", 1)[-1]
        return f"{CISO_NODE_PREFIX}{slug}:{number.lower()}"

    def clause(self, number: str) -> CatalogClause:
        """The clause numbered ``number``; ``KeyError`` if the standard has none."""
        for clause in self.clauses:
            if clause.number == number:
                return clause
        raise KeyError(f"{self.id} has no clause {number!r}")

    def hs_twin(self, hs_ref: str) -> CatalogClause | None:
        """This standard's clause whose Harmonized Structure twin is ``hs_ref``."""
        for clause in self.clauses:
            if clause.hs_ref == hs_ref:
                return clause
        return None


# --------------------------------------------------------------------------- schema


class _ClauseModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    number: StrictStr
    title: StrictStr
    hs: StrictBool = False
    hs_ref: StrictStr | None = None
    children: list[_ClauseModel] = Field(default_factory=list)


class _CisoLinkModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    library: StrictStr
    framework: StrictStr


class _StandardModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: StrictStr
    title: StrictStr
    number: StrictStr
    year: StrictInt
    kind: StandardKind
    version: StrictInt
    ciso_assistant: _CisoLinkModel | None = None
    clauses: list[_ClauseModel]


# --------------------------------------------------------------------------- YAML


class _DuplicateKeyLoader(yaml.SafeLoader):
    """A safe loader that records duplicate mapping keys instead of silently keeping one."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[str] = []


def _construct_mapping(loader: _DuplicateKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Hashable] = set()
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            continue
        if key in seen:
            loader.duplicates.append(
                f"line {key_node.start_mark.line + 1}: duplicate key {key!r} in one mapping"
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_DuplicateKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _read_yaml(text: str, source: str, problems: list[str]) -> Any:
    loader = _DuplicateKeyLoader(text)
    try:
        document = loader.get_single_data()
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        problems.append(f"{source}: <document>: not valid YAML: {detail}")
        return None
    finally:
        loader.dispose()
    problems.extend(f"{source}: {duplicate}" for duplicate in loader.duplicates)
    return document


# --------------------------------------------------------------------------- checks


def _loc_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "<document>"


def _schema_problems(document: Mapping[str, Any], source: str) -> list[str]:
    try:
        _StandardModel.model_validate(document)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            elif error["type"] == "missing":
                message = "required key is missing"
            else:
                message = error["msg"]
                if error["type"] == "string_type" and error["loc"][-1:] in (
                    ("number",),
                    ("hs_ref",),
                ):
                    message += ' (quote clause numbers in YAML, e.g. "4.1")'
            problems.append(f"{source}: {_loc_path(error['loc'])}: {message}")
        return problems
    return []


def _title_problems(title: object, limit: int) -> list[str]:
    if not isinstance(title, str):
        return []  # the schema reports the type
    problems = []
    if not title.strip():
        problems.append("title is empty")
    elif title != title.strip() or "\n" in title or "\r" in title:
        problems.append("title must be one line without surrounding blanks")
    if len(title) > limit:
        problems.append(
            f"title is {len(title)} characters long (at most {limit}: headings only, "
            "never requirement text)"
        )
    if _SHALL_RE.search(title):
        problems.append("title contains 'shall' (headings only, never requirement text)")
    return problems


class _TreeChecker:
    """Tree rules over the raw document, tolerant of shapes the schema rejects."""

    def __init__(self, source: str, guidance: bool) -> None:
        self.source = source
        self.guidance = guidance
        self.problems: list[str] = []
        self.numbers: dict[str, str] = {}
        self.hs_refs: dict[str, str] = {}

    def report(self, path: str, message: str) -> None:
        self.problems.append(f"{self.source}: {path}: {message}")

    def walk(self, items: object, path: str, parent: str | None) -> None:
        if not isinstance(items, list):
            return
        for index, item in enumerate(items):
            if isinstance(item, Mapping):
                self.check(item, f"{path}[{index}]", parent)

    def check(self, item: Mapping[str, Any], path: str, parent: str | None) -> None:
        number = item.get("number")
        own: str | None = None
        if isinstance(number, str):
            own = number
            self.check_number(number, f"{path}.number", parent)
        for message in _title_problems(item.get("title"), MAX_CLAUSE_TITLE):
            self.report(f"{path}.title", message)
        self.check_hs(item, path, own)
        self.walk(item.get("children"), f"{path}.children", own)

    def check_number(self, number: str, path: str, parent: str | None) -> None:
        if not _CLAUSE_NUMBER_RE.match(number):
            self.report(path, f"{number!r} is not a clause number (e.g. '9.2' or 'A.5.1')")
        first = self.numbers.get(number)
        if first is not None:
            self.report(path, f"duplicate clause number {number!r} (first at {first})")
        else:
            self.numbers[number] = path
        if parent is None:
            if "." in number:
                self.report(path, f"top-level clause {number!r} must not contain '.'")
        else:
            rest = number[len(parent) + 1 :] if number.startswith(parent + ".") else ""
            if not rest or "." in rest:
                self.report(
                    path,
                    f"clause {number!r} is not a direct sub-clause of its parent {parent!r} "
                    f"(expected '{parent}.<n>')",
                )

    def check_hs(self, item: Mapping[str, Any], path: str, number: str | None) -> None:
        hs = item.get("hs") is True
        hs_ref = item.get("hs_ref")
        if hs and self.guidance:
            self.report(f"{path}.hs", "a guidance standard has no Harmonized Structure clauses")
        if hs_ref is not None and not hs:
            self.report(f"{path}.hs_ref", "hs_ref is only allowed on a clause with hs: true")
        if not hs:
            return
        ref = hs_ref if isinstance(hs_ref, str) else number
        if ref is None:
            return
        if not _HS_NUMBER_RE.match(ref):
            self.report(f"{path}.hs_ref", f"{ref!r} is not a Harmonized Structure clause number")
        first = self.hs_refs.get(ref)
        if first is not None:
            self.report(
                f"{path}.hs_ref",
                f"Harmonized Structure twin {ref!r} is already claimed by {first}",
            )
        else:
            self.hs_refs[ref] = path


def _document_problems(document: Mapping[str, Any], source: str) -> list[str]:
    problems: list[str] = []

    def report(path: str, message: str) -> None:
        problems.append(f"{source}: {path}: {message}")

    standard_id = document.get("id")
    if isinstance(standard_id, str):
        if not is_standard_id(standard_id):
            report("id", f"{standard_id!r} is not a standard id (e.g. 'iso9001:2015')")
        expected = standard_id.replace(":", "-") + DATA_SUFFIX
        if source != expected:
            report("id", f"id {standard_id!r} does not match the file name (expected {expected})")
        year = document.get("year")
        match = _ID_YEAR_RE.search(standard_id)
        if isinstance(year, int) and match is not None and int(match["year"]) != year:
            report("year", f"year {year} does not match the id {standard_id!r}")
        number = document.get("number")
        if isinstance(number, str):
            digits = re.sub(r"[^0-9]", "", number)
            id_digits = re.sub(r"[^0-9]", "", standard_id.split(":", 1)[0])
            if not digits or digits != id_digits:
                report("number", f"number {number!r} does not match the id {standard_id!r}")
    version = document.get("version")
    if isinstance(version, int) and version < 1:
        report("version", "version must be at least 1")
    for message in _title_problems(document.get("title"), MAX_STANDARD_TITLE):
        report("title", message)
    link = document.get("ciso_assistant")
    if isinstance(link, Mapping):
        for field, pattern in (("library", _CISO_LIBRARY_RE), ("framework", _CISO_FRAMEWORK_RE)):
            value = link.get(field)
            if isinstance(value, str) and pattern.match(value) is None:
                report(f"ciso_assistant.{field}", f"{value!r} is not a CISO Assistant {field} urn")
    clauses = document.get("clauses")
    if isinstance(clauses, list) and not clauses:
        report("clauses", "a standard needs at least one clause")
    checker = _TreeChecker(source, guidance=document.get("kind") == StandardKind.GUIDANCE.value)
    checker.walk(clauses, "clauses", None)
    problems.extend(checker.problems)
    return problems


# --------------------------------------------------------------------------- build


def _build(model: _StandardModel) -> CatalogStandard:
    clauses: list[CatalogClause] = []

    def visit(nodes: Iterable[_ClauseModel], parent: str | None, depth: int) -> None:
        for node in nodes:
            key = ClauseKey.parse(str(ClauseKey(model.id, node.number)))
            clauses.append(
                CatalogClause(
                    key=str(key),
                    standard_id=model.id,
                    number=node.number,
                    title=node.title,
                    parent_number=parent,
                    depth=depth,
                    position=len(clauses),
                    hs=node.hs,
                    hs_ref=(node.hs_ref or node.number) if node.hs else None,
                )
            )
            visit(node.children, node.number, depth + 1)

    visit(model.clauses, None, 1)
    return CatalogStandard(
        id=model.id,
        number=model.number,
        title=model.title,
        year=model.year,
        kind=model.kind,
        version=model.version,
        clauses=tuple(clauses),
        ciso_library=None if model.ciso_assistant is None else model.ciso_assistant.library,
        ciso_framework=None if model.ciso_assistant is None else model.ciso_assistant.framework,
    )


def _parse(text: str, source: str) -> tuple[CatalogStandard | None, list[str]]:
    problems: list[str] = []
    document = _read_yaml(text, source, problems)
    if problems and document is None:
        return None, problems
    if not isinstance(document, Mapping):
        problems.append(f"{source}: <document>: must be a mapping with id, title, … clauses")
        return None, problems
    problems.extend(_schema_problems(document, source))
    problems.extend(_document_problems(document, source))
    if problems:
        return None, problems
    return _build(_StandardModel.model_validate(document)), []


def _as_source(path: PathSource) -> Path | Traversable:
    if isinstance(path, str | os.PathLike):
        return Path(os.fspath(path))
    return path


def _read(path: Path | Traversable) -> tuple[CatalogStandard | None, list[str]]:
    source = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{source}: <document>: cannot be read: {exc}"]
    return _parse(text, source)


# --------------------------------------------------------------------------- public API


def load_standard(path: PathSource) -> CatalogStandard:
    """Load and validate one standard's data file; raise :class:`CatalogDataError`."""
    standard, problems = _read(_as_source(path))
    if standard is None:
        raise CatalogDataError(problems)
    return standard


def data_files(directory: PathSource | None = None) -> tuple[Path | Traversable, ...]:
    """The catalog's data files (by name), from the installed package unless told otherwise."""
    root = (
        resources.files(DATA_PACKAGE).joinpath(DATA_DIR)
        if directory is None
        else _as_source(directory)
    )
    files = [
        entry for entry in root.iterdir() if entry.name.endswith(DATA_SUFFIX) and entry.is_file()
    ]
    return tuple(sorted(files, key=lambda entry: entry.name))


def load_catalog(directory: PathSource | None = None) -> tuple[CatalogStandard, ...]:
    """Load every standard of the catalog, ordered by id.

    Every file is checked before anything is returned; all problems of all files are
    raised together in one :class:`CatalogDataError`.
    """
    problems: list[str] = []
    standards: dict[str, CatalogStandard] = {}
    files = data_files(directory)
    if not files:
        problems.append(f"<catalog>: no {DATA_SUFFIX} standard files found")
    for path in files:
        standard, found = _read(path)
        problems.extend(found)
        if standard is None:
            continue
        if standard.id in standards:
            problems.append(f"{path.name}: id: standard {standard.id!r} is defined twice")
            continue
        standards[standard.id] = standard
    if problems:
        raise CatalogDataError(problems)
    return tuple(standards[key] for key in sorted(standards))


def _standard_payload(standard: CatalogStandard) -> dict[str, Any]:
    return {
        "id": standard.id,
        "number": standard.number,
        "title": standard.title,
        "year": standard.year,
        "kind": standard.kind.value,
        "version": standard.version,
        "ciso_library": standard.ciso_library,
        "ciso_framework": standard.ciso_framework,
        "clauses": [
            {
                "key": clause.key,
                "standard_id": clause.standard_id,
                "number": clause.number,
                "title": clause.title,
                "parent_number": clause.parent_number,
                "depth": clause.depth,
                "position": clause.position,
                "hs": clause.hs,
                "hs_ref": clause.hs_ref,
            }
            for clause in standard.clauses
        ],
    }


def catalog_digest(standards: Iterable[CatalogStandard]) -> str:
    """SHA-256 (hex) of the catalog's canonical JSON (RFC 8785: sorted keys, no blanks).

    Independent of the order ``standards`` come in; any change to a number, title, tree
    position, HS flag or data version changes it.
    """
    payload = {
        "format": DIGEST_FORMAT,
        "standards": [
            _standard_payload(standard) for standard in sorted(standards, key=lambda s: s.id)
        ],
    }
    return canonical_digest(payload)
