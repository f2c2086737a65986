"""The controlled vocabulary shared by the catalog, mappings and records.

Clause keys are stable strings ``<standard-id>/<clause-number>``, e.g. ``iso9001:2015/9.2``
or ``iso27001:2022/A.5.1``. A standard id is ``<family><number>:<year>`` in lower case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_STANDARD_ID = r"[a-z][a-z0-9-]*(?:[0-9]+)?:[0-9]{4}"
_CLAUSE_NUMBER = r"[A-Za-z0-9][A-Za-z0-9.\-_]*"
_CLAUSE_KEY_RE = re.compile(rf"^(?P<standard>{_STANDARD_ID})/(?P<number>{_CLAUSE_NUMBER})$")
_STANDARD_ID_RE = re.compile(rf"^{_STANDARD_ID}$")


class Relationship(StrEnum):
    """Set-theory relationships of NIST IR 8477 (source relative to target)."""

    EQUAL = "equal"
    SUBSET = "subset"
    SUPERSET = "superset"
    INTERSECTS = "intersects"
    NO_RELATIONSHIP = "no_relationship"


class Rationale(StrEnum):
    SYNTACTIC = "syntactic"
    SEMANTIC = "semantic"
    FUNCTIONAL = "functional"


class MappingMethod(StrEnum):
    HUMAN = "human"
    AUTOMATION = "automation"
    HYBRID = "hybrid"


class MappingStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"


class Coverage(StrEnum):
    """How well evidence against one clause covers another clause."""

    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"


class StandardKind(StrEnum):
    REQUIREMENTS = "requirements"
    GUIDANCE = "guidance"


def is_standard_id(value: str) -> bool:
    return bool(_STANDARD_ID_RE.match(value))


@dataclass(frozen=True, slots=True)
class ClauseKey:
    standard: str
    number: str

    @classmethod
    def parse(cls, value: str) -> ClauseKey:
        match = _CLAUSE_KEY_RE.match(value)
        if match is None:
            raise ValueError(
                f"{value!r} is not a clause key; expected '<standard>:<year>/<clause>', "
                "e.g. 'iso9001:2015/9.2'"
            )
        return cls(standard=match["standard"], number=match["number"])

    def __str__(self) -> str:
        return f"{self.standard}/{self.number}"
