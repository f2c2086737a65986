"""``raciMatrices``: the RACI matrices of the shared processes your organisation is in."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from accord.graphql.context import Context
from accord.graphql.records.common import require_own_gate
from accord.policies import formats
from accord.policies import service as policy_service
from accord.policies.models import RaciMatrix
from accord.policies.raci import LETTER_ORDER, Matrix
from accord.policies.vocab import RECORD_TYPES, Letter


@strawberry.enum(name="RaciLetter")
class RaciLetterEnum(Enum):
    RESPONSIBLE = Letter.RESPONSIBLE.value
    ACCOUNTABLE = Letter.ACCOUNTABLE.value
    CONSULTED = Letter.CONSULTED.value
    INFORMED = Letter.INFORMED.value


@strawberry.type(name="RaciParty", description="A role or a person of one tenant.")
class RaciPartyType:
    key: str = strawberry.field(description="e.g. 'role:globex/quality_manager'.")
    tenant: str
    role: str | None
    subject: str | None


@strawberry.type(name="RaciActivity")
class RaciActivityType:
    name: str
    record_type: str
    actions: list[str]
    owners: list[str] = strawberry.field(description="Whose records it covers.")


@strawberry.type(name="RaciCell", description="The letters one party holds on one activity.")
class RaciCellType:
    activity: str
    party: str = strawberry.field(description="The party's key.")
    letters: list[RaciLetterEnum]


@strawberry.type(name="RaciMatrix", description="Who does what in one shared process.")
class RaciMatrixType:
    name: str
    process: str
    description: str
    owners: list[str]
    version: int
    imported_by: str | None
    created_at: datetime
    updated_at: datetime
    parties: list[RaciPartyType]
    activities: list[RaciActivityType]
    cells: list[RaciCellType] = strawberry.field(description="Non-empty cells, row by row.")

    @classmethod
    def from_model(cls, row: RaciMatrix, matrix: Matrix) -> RaciMatrixType:
        return cls(
            name=row.name,
            process=row.process,
            description=matrix.description,
            owners=list(row.owners),
            version=row.version,
            imported_by=row.imported_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
            parties=[
                RaciPartyType(key=p.key, tenant=p.tenant, role=p.role, subject=p.subject)
                for p in matrix.parties
            ],
            activities=[
                RaciActivityType(
                    name=a.name,
                    record_type=a.record_type,
                    actions=list(a.actions),
                    owners=list(matrix.activity_owners(a)),
                )
                for a in matrix.activities
            ],
            cells=[
                RaciCellType(
                    activity=a.name,
                    party=p.key,
                    letters=[
                        RaciLetterEnum(x.value)
                        for x in LETTER_ORDER
                        if x in matrix.letters(a.name, p.key)
                    ],
                )
                for a in matrix.activities
                for p in matrix.parties
                if matrix.letters(a.name, p.key)
            ],
        )


@strawberry.type
class RaciQueries:
    @strawberry.field(
        description="The RACI matrices naming your organisation as an owner or a party, by name."
    )
    async def raci_matrices(self, info: strawberry.Info[Context, None]) -> list[RaciMatrixType]:
        context = info.context
        _, own, _ = require_own_gate(
            context, "read", RECORD_TYPES, what="read your organisation's RACI matrices"
        )
        async with context.runtime.control_session() as session:
            rows = await policy_service.list_matrices(session=session)
        found: list[RaciMatrixType] = []
        for row in rows:
            matrix, _ = formats.parse(row.source, row.source_format)
            if own in matrix.tenants() or own in row.owners:
                found.append(RaciMatrixType.from_model(row, matrix))
        return found
