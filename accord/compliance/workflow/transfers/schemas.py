"""What a transfer moves: the finding's content and the tables it lives in."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table

from accord.compliance.evidence.models import Evidence
from accord.compliance.findings.models import Finding
from accord.compliance.records.history import jsonable
from accord.platform.canonical import canonical_digest
from accord.platform.errors import (
    AccordError,
)

#: Logs a refused attempt: (acting tenant, actor, the refusal).
RefusalLogger = Callable[[str, str, AccordError], Awaitable[None]]

FINDINGS = cast(Table, Finding.__table__)
EVIDENCE = cast(Table, Evidence.__table__)
#: columns of the finding that refer to the sender's other records and do not travel
SENDER_REFERENCES = ("audit_id",)


# --------------------------------------------------------------------------- moved content


@dataclass(frozen=True, slots=True)
class MovedContent:
    """The rows that move: the finding and the metadata of its evidence (database values)."""

    finding: Mapping[str, Any]
    evidence: tuple[Mapping[str, Any], ...]

    @property
    def finding_id(self) -> uuid.UUID:
        value: uuid.UUID = self.finding["id"]
        return value

    @property
    def evidence_ids(self) -> list[uuid.UUID]:
        return [row["id"] for row in self.evidence]

    def canonical(self) -> dict[str, Any]:
        """What must be equal on both sides (the sender's references excepted)."""
        record = {k: v for k, v in self.finding.items() if k not in SENDER_REFERENCES}
        return {
            "finding": jsonable(record),
            "evidence": [jsonable(dict(row)) for row in self.evidence],
        }

    def digest(self) -> str:
        return canonical_digest(self.canonical())
