"""Clause mappings a tenant owns (tenant schema); global ones are `catalog.models.CatalogMapping`.

A tenant mapping is a record like any other: provenance, authorship, and every change in
the tenant's event log. Its clause keys are checked against the catalog when written.
"""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import Index, Integer, SmallInteger, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from accord.compliance.records.models import RecordMixin
from accord.platform.db import TenantBase

#: The set that mappings a tenant adds one by one belong to.
OWN_MAPPING_SET = "accord:own"


class TenantClauseMapping(RecordMixin, TenantBase):
    __tablename__ = "clause_mappings"
    __table_args__ = (
        UniqueConstraint("mapping_set", "position"),
        UniqueConstraint("source_system", "external_id"),
        Index("ix_clause_mappings_source_key", "source_key"),
        Index("ix_clause_mappings_target_key", "target_key"),
    )
    record_type: ClassVar[str] = "clause_mapping"

    mapping_set: Mapped[str] = mapped_column(Text)
    mapping_set_name: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)
    source_key: Mapped[str] = mapped_column(Text)
    target_key: Mapped[str] = mapped_column(Text)
    relationship: Mapped[str] = mapped_column(Text)
    rationale: Mapped[str | None] = mapped_column(Text)
    strength: Mapped[int | None] = mapped_column(SmallInteger)
    method: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
