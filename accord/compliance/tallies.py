"""Counts kept current by the database as records change (tenant migration t0009).

Statement-level triggers add each statement's new rows and subtract its old ones, so a
dashboard reads a few hundred tally rows per tenant instead of scanning every record.
``recount`` computes the same numbers from the records; the two must always agree.
Records deleted at their source are not counted.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, Text, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from accord.compliance.capa.models import CapaAction
from accord.compliance.findings.models import Finding
from accord.platform.db import TenantBase

TallyRows = set[tuple[str, str, str, int]]
ActionRows = set[tuple[str, date, int]]
CountRows = set[tuple[str, str, int]]


class FindingTally(TenantBase):
    """Findings per (grade, state, clause): a finding naming three clauses counts thrice."""

    __tablename__ = "finding_tallies"

    grade: Mapped[str] = mapped_column(Text, primary_key=True)
    state: Mapped[str] = mapped_column(Text, primary_key=True)
    clause_key: Mapped[str] = mapped_column(Text, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class FindingCount(TenantBase):
    """Findings per (grade, state), each counted once (tenant migration t0015)."""

    __tablename__ = "finding_counts"

    grade: Mapped[str] = mapped_column(Text, primary_key=True)
    state: Mapped[str] = mapped_column(Text, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class CapaActionTally(TenantBase):
    """CAPA actions per (status, due date)."""

    __tablename__ = "capa_action_tallies"

    status: Mapped[str] = mapped_column(Text, primary_key=True)
    due_at: Mapped[date] = mapped_column(Date, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


async def read_tallies(*, session: AsyncSession) -> tuple[TallyRows, ActionRows]:
    findings = await session.execute(
        select(FindingTally.grade, FindingTally.state, FindingTally.clause_key, FindingTally.n)
    )
    actions = await session.execute(
        select(CapaActionTally.status, CapaActionTally.due_at, CapaActionTally.n)
    )
    return (
        {(g, s, k, int(n)) for g, s, k, n in findings.all()},
        {(s, d, int(n)) for s, d, n in actions.all()},
    )


async def recount(*, session: AsyncSession) -> tuple[TallyRows, ActionRows]:
    """The tallies as a full scan of the records computes them."""
    clause = func.unnest(Finding.clause_keys).table_valued("k").render_derived()
    findings = await session.execute(
        select(Finding.grade, Finding.state, clause.c.k, func.count())
        .select_from(Finding)
        .join(clause, clause.c.k.isnot(None))
        .where(Finding.deleted_at.is_(None))
        .group_by(Finding.grade, Finding.state, clause.c.k)
    )
    actions = await session.execute(
        select(CapaAction.status, CapaAction.due_at, func.count())
        .where(CapaAction.deleted_at.is_(None))
        .group_by(CapaAction.status, CapaAction.due_at)
    )
    return (
        {(str(g), str(s), k, int(n)) for g, s, k, n in findings.all()},
        {(str(s), d, int(n)) for s, d, n in actions.all()},
    )


async def read_counts(*, session: AsyncSession) -> CountRows:
    rows = await session.execute(select(FindingCount.grade, FindingCount.state, FindingCount.n))
    return {(g, s, int(n)) for g, s, n in rows.all()}


async def recount_counts(*, session: AsyncSession) -> CountRows:
    rows = await session.execute(
        select(Finding.grade, Finding.state, func.count())
        .where(Finding.deleted_at.is_(None))
        .group_by(Finding.grade, Finding.state)
    )
    return {(str(g), str(s), int(n)) for g, s, n in rows.all()}
