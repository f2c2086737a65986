"""Stores: the named PostgreSQL servers tenants are pinned to, registered in the control plane.

A store URL is a ``postgresql://`` URL or ``embedded:<name>``, an embedded cluster under
the data directory (used by the demo and the tests for a second server on one machine).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Text, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from accord.platform.db import ControlBase

EMBEDDED_PREFIX = "embedded:"


class Store(ControlBase):
    __tablename__ = "stores"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    region: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    is_home: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


async def upsert_store(
    session: AsyncSession, *, name: str, region: str, url: str, is_home: bool = False
) -> None:
    stmt = insert(Store).values(name=name, region=region, url=url, is_home=is_home)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Store.name],
            set_={"region": stmt.excluded.region, "url": stmt.excluded.url},
        )
    )


async def list_stores(session: AsyncSession) -> list[Store]:
    return list((await session.scalars(select(Store).order_by(Store.name))).all())
