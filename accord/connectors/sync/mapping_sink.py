"""Clause mappings from a source into the tenant's own mappings (``clause_mappings``).

One record is one mapping of a set, keyed ``<set urn>#<position>`` as the library import
(``writer.replace_tenant_set``) keys them, so a set's order is its order in the source.
Both clause keys must be in the catalog (``UNKNOWN_CLAUSE`` names the side). A set's
positions belong to one writer: a set imported from a file (``accord mappings import``)
or by another connector is not overwritten; its mappings are quarantined as
``MAPPING_SET_TAKEN`` until that set is removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field
from sqlalchemy import Table, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.mappings.models import TenantClauseMapping
from accord.compliance.records.inputs import NonEmpty, clause_keys
from accord.compliance.records.provenance import ProvenanceIn
from accord.compliance.vocab import MappingMethod, MappingStatus, Rationale, Relationship
from accord.connectors.sync.sinks import Candidate, Sink, reason, unknown_clauses


def _clause_key(value: str) -> str:
    return clause_keys([value])[0]


ClauseKeyText = Annotated[str, AfterValidator(_clause_key)]


class ClauseMappingIn(ProvenanceIn):
    mapping_set: NonEmpty
    mapping_set_name: NonEmpty
    position: int = Field(ge=0)
    source_key: ClauseKeyText
    target_key: ClauseKeyText
    relationship: Relationship
    rationale: Rationale | None = None
    strength: int | None = Field(default=None, ge=0, le=10)
    method: MappingMethod = MappingMethod.HUMAN
    status: MappingStatus = MappingStatus.DRAFT
    author: str | None = None


class ClauseMappingSink(Sink):
    record_type = "clause_mapping"
    schema = ClauseMappingIn
    table: ClassVar[Table] = TenantClauseMapping.__table__  # type: ignore[assignment]

    def __init__(self, source_system: str) -> None:
        self.source_system = source_system

    async def check(self, session: AsyncSession, candidates: Sequence[Candidate]) -> None:
        models: list[Any] = [c.model for c in candidates]
        keys = {k for m in models for k in (m.source_key, m.target_key)}
        unknown = await unknown_clauses(session, keys)
        t = TenantClauseMapping
        holders = {
            (row.mapping_set, row.position): (row.source_system, row.external_id)
            for row in (
                await session.execute(
                    select(t.mapping_set, t.position, t.source_system, t.external_id).where(
                        tuple_(t.mapping_set, t.position).in_(
                            [(m.mapping_set, m.position) for m in models]
                        )
                    )
                )
            ).all()
        }
        for data, c in zip(models, candidates, strict=True):
            for side in ("source_key", "target_key"):
                key = getattr(data, side)
                if key in unknown:
                    c.reasons.append(reason(side, "UNKNOWN_CLAUSE", f"not in the catalog: {key}"))
            holder = holders.get((data.mapping_set, data.position))
            if holder is not None and holder != (self.source_system, c.external_id):
                c.reasons.append(
                    reason(
                        "mapping_set",
                        "MAPPING_SET_TAKEN",
                        f"position {data.position} of {data.mapping_set} is held by "
                        f"{holder[0]}/{holder[1]}; remove that set to sync it from here",
                    )
                )

    def row(self, candidate: Candidate, *, actor: str, now: datetime) -> dict[str, Any]:
        data: Any = candidate.model
        return {
            "source_system": data.source_system,
            "external_id": data.external_id,
            "fetched_at": data.fetched_at,
            "content_hash": data.content_hash,
            "created_by": actor,
            "updated_by": actor,
            "mapping_set": data.mapping_set,
            "mapping_set_name": data.mapping_set_name,
            "position": data.position,
            "source_key": data.source_key,
            "target_key": data.target_key,
            "relationship": data.relationship.value,
            "rationale": None if data.rationale is None else data.rationale.value,
            "strength": data.strength,
            "method": data.method.value,
            "author": data.author,
            "status": data.status.value,
        }
