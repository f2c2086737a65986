"""Format-neutral results of reading external clause-mapping libraries.

The CISO Assistant and OSCAL readers both produce these frozen values, so the catalog
and mapping importers never see either wire format. Reading collects every problem it
finds and raises them together in one `LibraryFormatError`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

import yaml

from accord.compliance.vocab import (
    ClauseKey,
    MappingMethod,
    MappingStatus,
    Rationale,
    Relationship,
    is_standard_id,
)

# Frameworks whose identifiers carry a version instead of an edition year; the year is
# the standard's own publication year, never a library's packaging date, which moves
# whenever the library is re-released.
KNOWN_EDITION_YEARS: Mapping[str, int] = {"nist-csf-2.0": 2024}

_YEAR_SUFFIX = re.compile(r"^(?P<family>.+?)[-_:](?P<year>(?:19|20)[0-9]{2})$")
_NOT_IN_FAMILY = re.compile(r"[^a-z0-9-]+")
_NOT_IN_CLAUSE = re.compile(r"[^A-Za-z0-9.\-_]+")
_LETTER_RUN = re.compile(r"[A-Za-z]+")
_CODE_RUN_MAX = 3
_T = TypeVar("_T")


class ImportProblemCode(StrEnum):
    UNREADABLE = "unreadable"
    MISSING = "missing"
    WRONG_TYPE = "wrong_type"
    DUPLICATE_URN = "duplicate_urn"
    DUPLICATE_CLAUSE = "duplicate_clause"
    UNKNOWN_PARENT = "unknown_parent"
    PARENT_CYCLE = "parent_cycle"
    NO_STANDARD_ID = "no_standard_id"
    UNKNOWN_RELATIONSHIP = "unknown_relationship"
    UNKNOWN_RATIONALE = "unknown_rationale"
    UNKNOWN_METHOD = "unknown_method"
    UNKNOWN_STATUS = "unknown_status"
    STRENGTH_OUT_OF_RANGE = "strength_out_of_range"
    UNKNOWN_REQUIREMENT = "unknown_requirement"
    FRAMEWORK_NOT_LOADED = "framework_not_loaded"
    FRAMEWORK_MISMATCH = "framework_mismatch"
    INVALID_CLAUSE_KEY = "invalid_clause_key"
    MIXED_RESOURCES = "mixed_resources"
    UNSUPPORTED_CARDINALITY = "unsupported_cardinality"


@dataclass(frozen=True, slots=True)
class ImportProblem:
    path: str
    message: str
    code: str


class LibraryFormatError(ValueError):
    def __init__(self, problems: list[ImportProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p.path or '<root>'}: [{p.code}] {p.message}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the library:\n{lines}")


def standard_id_for(
    slug: str, edition_years: Mapping[str, int] = KNOWN_EDITION_YEARS
) -> str | None:
    """Accord standard id for a framework slug such as ``iso27001-2022`` or ``nist-csf-2.0``.

    A trailing year is the edition (``iso27001-2022`` → ``iso27001:2022``). Otherwise the
    edition year must be known; the vocabulary allows no ``.`` in a family, so dots become
    dashes (``nist-csf-2.0`` → ``nist-csf-2-0:2024``).
    """
    lowered = slug.lower()
    match = _YEAR_SUFFIX.match(lowered)
    if match is not None:
        family, year = match["family"], int(match["year"])
    elif lowered in edition_years:
        family, year = lowered, edition_years[lowered]
    else:
        return None
    candidate = f"{_NOT_IN_FAMILY.sub('-', family).strip('-')}:{year}"
    return candidate if is_standard_id(candidate) else None


def clause_number_for(ref_id: str | None, urn: str) -> str:
    """A vocabulary-safe clause number: the ref_id, or the urn tail for grouping nodes."""
    raw = ref_id if ref_id is not None else urn.rsplit(":", 1)[-1]
    cleaned = _NOT_IN_CLAUSE.sub("-", raw.strip()).lstrip(".-_")
    return cleaned or "node"


def ref_id_from_urn_tail(tail: str) -> str:
    """Undo CISO Assistant's lower-casing of ref_ids in node urns, as far as it can be undone.

    Identifier codes (``gv.oc-01``, ``a.5.1``, ``ac-2``) are upper-cased; tails holding a
    word longer than three letters (``core``, ``annex-a``) were never codes and stay as is.
    """
    if all(len(run) <= _CODE_RUN_MAX for run in _LETTER_RUN.findall(tail)):
        return tail.upper()
    return tail


@dataclass(frozen=True, slots=True)
class ImportedRequirement:
    urn: str
    ref_id: str | None
    name: str
    parent_urn: str | None
    assessable: bool
    depth: int | None
    position: int

    @property
    def clause_number(self) -> str:
        return clause_number_for(self.ref_id, self.urn)


@dataclass(frozen=True, slots=True)
class ImportedFramework:
    urn: str
    ref_id: str | None
    name: str
    description: str | None
    version: int | None
    provider: str | None
    requirements: tuple[ImportedRequirement, ...]
    edition_year: int | None = None

    @property
    def slug(self) -> str:
        return self.urn.rsplit(":", 1)[-1]

    @property
    def standard_id(self) -> str:
        years = dict(KNOWN_EDITION_YEARS)
        if self.edition_year is not None:
            years[self.slug.lower()] = self.edition_year
        standard = standard_id_for(self.slug, years)
        if standard is None:
            raise ValueError(f"no edition year is known for framework {self.urn!r}")
        return standard

    def clause_key(self, requirement: ImportedRequirement) -> str:
        return str(ClauseKey(standard=self.standard_id, number=requirement.clause_number))


@dataclass(frozen=True, slots=True)
class ImportedMapping:
    source_urn: str
    target_urn: str
    source_key: str
    target_key: str
    relationship: Relationship
    rationale: Rationale | None
    strength: int | None
    method: MappingMethod
    status: MappingStatus
    author: str | None
    source_document: str


def count_relationships(mappings: Iterable[ImportedMapping]) -> dict[str, int]:
    counts = Counter(m.relationship for m in mappings)
    return {rel.value: counts[rel] for rel in Relationship if counts[rel]}


@dataclass(frozen=True, slots=True)
class ImportedMappingSet:
    urn: str
    name: str
    source_framework_urn: str
    target_framework_urn: str
    mappings: tuple[ImportedMapping, ...]
    counts_by_relationship: dict[str, int]


@dataclass(frozen=True, slots=True)
class ImportedLibrary:
    urn: str
    ref_id: str | None
    name: str
    version: int | None
    frameworks: tuple[ImportedFramework, ...]
    mapping_sets: tuple[ImportedMappingSet, ...]


def join_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class ProblemLog:
    """Collects problems while reading, so one run reports all of them."""

    def __init__(self) -> None:
        self.problems: list[ImportProblem] = []

    def add(self, path: str, code: ImportProblemCode, message: str) -> None:
        self.problems.append(ImportProblem(path=path, message=message, code=code.value))

    def raise_if_any(self) -> None:
        if self.problems:
            raise LibraryFormatError(list(self.problems))

    def mapping(self, value: object, path: str) -> Mapping[str, object] | None:
        if isinstance(value, Mapping):
            return value
        self.add(path, ImportProblemCode.WRONG_TYPE, f"expected a mapping, got {_kind(value)}")
        return None

    def items(self, value: object, path: str) -> list[object] | None:
        if isinstance(value, list):
            return value
        self.add(path, ImportProblemCode.WRONG_TYPE, f"expected a list, got {_kind(value)}")
        return None

    def text(
        self, obj: Mapping[str, object], key: str, path: str, *, required: bool = False
    ) -> str | None:
        value = obj.get(key)
        if value is None:
            if required:
                self.add(join_path(path, key), ImportProblemCode.MISSING, f"{key} is required")
            return None
        if isinstance(value, str) and value.strip():
            return value
        self.add(
            join_path(path, key),
            ImportProblemCode.WRONG_TYPE,
            f"{key} must be a non-empty string, got {_kind(value)}",
        )
        return None

    def token(
        self,
        obj: Mapping[str, object],
        key: str,
        path: str,
        allowed: Mapping[str, _T],
        code: ImportProblemCode,
        *,
        required: bool = False,
    ) -> _T | None:
        value = self.text(obj, key, path, required=required)
        if value is None:
            return None
        if value not in allowed:
            self.add(join_path(path, key), code, f"{value!r} is not one of {', '.join(allowed)}")
            return None
        return allowed[value]

    def integer(self, obj: Mapping[str, object], key: str, path: str) -> int | None:
        value = obj.get(key)
        if value is None:
            return None
        # bool is an int subclass, but `true` is never a meaningful depth or strength
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        self.add(
            join_path(path, key),
            ImportProblemCode.WRONG_TYPE,
            f"{key} must be an integer, got {_kind(value)}",
        )
        return None


def load_document(data: Mapping[str, object] | str | Path) -> Mapping[str, object]:
    """A document given loaded, or as a path (``str`` or `Path`) to a JSON or YAML file."""
    if isinstance(data, Mapping):
        return data
    path = Path(data)
    try:
        text = path.read_text(encoding="utf-8")
        loaded = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        problem = ImportProblem("", f"{path}: {exc}", ImportProblemCode.UNREADABLE)
        raise LibraryFormatError([problem]) from exc
    if not isinstance(loaded, Mapping):
        problem = ImportProblem("", f"{path} holds no mapping", ImportProblemCode.WRONG_TYPE)
        raise LibraryFormatError([problem])
    return loaded


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__
