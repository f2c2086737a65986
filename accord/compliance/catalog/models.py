"""Catalog tables (schema ``catalog``, the same in every store): reference data.

Standards, their clause trees and the global clause mappings. Tenant roles may read them
(through the ``accord_tenant`` group) but never write them; Accord itself loads them, from
its data files (``sync_catalog``) and from imported libraries. The tables are created by
the catalog migrations; these models only read and write them.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

CATALOG_SCHEMA = "catalog"
ACCORD_ORIGIN = "accord"
CISO_ORIGIN = "ciso-assistant"
OSCAL_ORIGIN = "oscal"
HS_CROSSWALK_SET = "accord:hs-crosswalk"
DATA_DIGEST_KEY = "data_digest"


class CatalogBase(DeclarativeBase):
    metadata = MetaData(schema=CATALOG_SCHEMA)


class Standard(CatalogBase):
    __tablename__ = "standards"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    number: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    origin: Mapped[str] = mapped_column(Text)
    library_urn: Mapped[str | None] = mapped_column(Text)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Clause(CatalogBase):
    __tablename__ = "clauses"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    standard_id: Mapped[str] = mapped_column(Text, ForeignKey("catalog.standards.id"))
    number: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    parent_key: Mapped[str | None] = mapped_column(Text)
    depth: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    hs: Mapped[bool] = mapped_column(Boolean, default=False)
    hs_ref: Mapped[str | None] = mapped_column(Text)
    assessable: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The requirement node urn of the library the clause was imported from or linked to.
    urn: Mapped[str | None] = mapped_column(Text, unique=True)


class MappingSet(CatalogBase):
    __tablename__ = "mapping_sets"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    # None when the set spans several standards (the Harmonized Structure cross-walk).
    source_standard: Mapped[str | None] = mapped_column(Text, ForeignKey("catalog.standards.id"))
    target_standard: Mapped[str | None] = mapped_column(Text, ForeignKey("catalog.standards.id"))
    source_document: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    mapping_count: Mapped[int] = mapped_column(Integer)


class CatalogMapping(CatalogBase):
    __tablename__ = "mappings"
    __table_args__ = (UniqueConstraint("mapping_set", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    mapping_set: Mapped[str] = mapped_column(
        Text, ForeignKey("catalog.mapping_sets.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    source_key: Mapped[str] = mapped_column(Text, ForeignKey("catalog.clauses.key"), index=True)
    target_key: Mapped[str] = mapped_column(Text, ForeignKey("catalog.clauses.key"), index=True)
    relationship: Mapped[str] = mapped_column(Text)
    rationale: Mapped[str | None] = mapped_column(Text)
    strength: Mapped[int | None] = mapped_column(SmallInteger)
    method: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)


class CatalogMeta(CatalogBase):
    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text)
