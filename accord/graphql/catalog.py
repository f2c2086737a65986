"""The standards catalog: standards are public reference data, clauses need a sign-in."""

from __future__ import annotations

import strawberry

from accord.compliance.catalog import service as catalog_service
from accord.compliance.catalog.models import Clause, Standard
from accord.graphql.auth import require_principal
from accord.graphql.context import Context


@strawberry.type(name="Standard", description="A management-system standard of the catalog.")
class StandardType:
    id: str = strawberry.field(description="Catalog id, e.g. 'iso9001:2015'.")
    number: str
    title: str
    year: int
    kind: str
    version: int

    @classmethod
    def from_model(cls, standard: Standard) -> StandardType:
        return cls(
            id=standard.id,
            number=standard.number,
            title=standard.title,
            year=standard.year,
            kind=standard.kind,
            version=standard.version,
        )


@strawberry.type(
    name="Clause", description="A clause: number and title only, never requirement text."
)
class ClauseType:
    key: str = strawberry.field(description="Stable key, e.g. 'iso9001:2015/9.2'.")
    standard_id: str
    number: str
    title: str
    parent_key: str | None
    depth: int
    harmonized_structure: bool
    harmonized_ref: str | None = strawberry.field(
        description="The Harmonized Structure clause this one is (its number in the 2021 "
        "HS, which may differ from its own), or null if it is none."
    )

    @classmethod
    def from_model(cls, clause: Clause) -> ClauseType:
        return cls(
            key=clause.key,
            standard_id=clause.standard_id,
            number=clause.number,
            title=clause.title,
            parent_key=clause.parent_key,
            depth=clause.depth,
            harmonized_structure=clause.hs,
            harmonized_ref=clause.hs_ref,
        )


@strawberry.type
class CatalogQueries:
    @strawberry.field(description="The standards of the catalog.")
    async def standards(self, info: strawberry.Info[Context, None]) -> list[StandardType]:
        require_principal(info.context)
        async with info.context.runtime.control_session() as session:
            standards = await catalog_service.list_standards(session=session)
        return [StandardType.from_model(s) for s in standards]

    @strawberry.field(description="A standard's clauses in document order.")
    async def clauses(
        self, info: strawberry.Info[Context, None], standard: str
    ) -> list[ClauseType]:
        require_principal(info.context)
        async with info.context.runtime.control_session() as session:
            clauses = await catalog_service.list_clauses(session=session, standard_id=standard)
        return [ClauseType.from_model(c) for c in clauses]
