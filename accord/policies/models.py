"""Control-plane tables of the policies domain (schema ``accord`` on the home store)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from accord.platform.db import ControlBase


class RaciMatrix(ControlBase):
    """An imported RACI matrix, kept as the document its authors wrote."""

    __tablename__ = "raci_matrices"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    process: Mapped[str] = mapped_column(Text, unique=True)
    owners: Mapped[list[str]] = mapped_column(ARRAY(Text))
    source_format: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(BigInteger, default=1)
    imported_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PolicyRule(ControlBase):
    """A compiled Casbin line: ``p`` sub, dom, obj, proc, act, eft; ``g`` child, parent, dom."""

    __tablename__ = "policy_rules"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    matrix: Mapped[str] = mapped_column(
        Text, ForeignKey("accord.raci_matrices.name", ondelete="CASCADE")
    )
    domain: Mapped[str] = mapped_column(Text)
    ptype: Mapped[str] = mapped_column(Text)
    v0: Mapped[str] = mapped_column(Text)
    v1: Mapped[str] = mapped_column(Text)
    v2: Mapped[str] = mapped_column(Text)
    v3: Mapped[str | None] = mapped_column(Text)
    v4: Mapped[str | None] = mapped_column(Text)
    v5: Mapped[str | None] = mapped_column(Text)
    activity: Mapped[str] = mapped_column(Text, default="")
    party: Mapped[str] = mapped_column(Text, default="")
    letter: Mapped[str] = mapped_column(Text, default="")


class PolicyDomain(ControlBase):
    """The policy version of one Casbin domain (owning tenant)."""

    __tablename__ = "policy_domains"

    domain: Mapped[str] = mapped_column(Text, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
