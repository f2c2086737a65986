"""RACI matrices in the control plane: check, import, export, delete, load into an engine.

The caller owns the transaction. An import validates everything first (every problem,
nothing stored), then replaces the matrix's compiled lines, bumps the version of every
domain it touches (old and new owners) and announces those versions with ``pg_notify`` on
``accord_policies`` — delivered when the caller commits, so listeners never see a change
that was rolled back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from accord.platform import clock
from accord.platform.errors import BadInput, NotFound
from accord.policies import formats
from accord.policies.compile import CompiledRule, compile_matrix, cycle_problems
from accord.policies.engine import PolicyEngine
from accord.policies.models import PolicyDomain, PolicyRule, RaciMatrix
from accord.policies.raci import Matrix, Problem, RaciInvalid, validate
from accord.tenants.models import Tenant, TenantStatus

CHANNEL = "accord_policies"
FORMATS = ("yaml", "csv")


@dataclass(frozen=True, slots=True)
class ImportResult:
    matrix: Matrix
    version: int
    rules: int
    domains: dict[str, int]


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise BadInput(
            f"Format is one of {', '.join(FORMATS)}.", reason="BAD_FORMAT", field="format"
        )
    return fmt


async def known_tenants(*, session: AsyncSession) -> set[str]:
    """Tenants a matrix may name: those that exist and are not offboarded."""
    live = (TenantStatus.ACTIVE, TenantStatus.SUSPENDED)
    return set(await session.scalars(select(Tenant.slug).where(Tenant.status.in_(live))))


async def check(
    *, session: AsyncSession, text: str, fmt: str
) -> tuple[Matrix, list[CompiledRule], list[Problem]]:
    """Parse, validate and compile without storing; every problem is returned."""
    matrix, problems = formats.parse(text, _check_format(fmt))
    problems = validate(matrix, known_tenants=await known_tenants(session=session), prior=problems)
    rules = compile_matrix(matrix) if not problems else []
    problems.extend(cycle_problems(rules))
    taken = await session.scalar(
        select(RaciMatrix.name).where(
            RaciMatrix.process == matrix.process, RaciMatrix.name != matrix.name
        )
    )
    if taken is not None:
        problems.append(
            Problem(
                "PROCESS_TAKEN",
                f"Process '{matrix.process}' is governed by matrix '{taken}' already.",
                "process",
            )
        )
    return matrix, rules, problems


async def import_matrix(
    *, session: AsyncSession, text: str, fmt: str, actor: str | None = None
) -> ImportResult:
    """Store a matrix (new or replacing the one of the same name) and its compiled lines."""
    matrix, rules, problems = await check(session=session, text=text, fmt=fmt)
    if problems:
        raise RaciInvalid(problems)
    row = await session.get(RaciMatrix, matrix.name, with_for_update=True)
    touched = {r.domain for r in rules} | set(matrix.owners) | set(row.owners if row else ())
    if row is None:
        row = RaciMatrix(name=matrix.name, version=1)
        session.add(row)
    else:
        row.version += 1
        row.updated_at = clock.now()
    row.process, row.owners = matrix.process, list(matrix.owners)
    row.source_format, row.source, row.imported_by = fmt, text, actor
    await session.flush()
    await session.execute(delete(PolicyRule).where(PolicyRule.matrix == matrix.name))
    if rules:
        await session.execute(insert(PolicyRule), [_row(matrix.name, r) for r in rules])
    domains = await _bump(session, touched, matrix=matrix.name)
    return ImportResult(matrix=matrix, version=row.version, rules=len(rules), domains=domains)


async def delete_matrix(*, session: AsyncSession, name: str) -> dict[str, int]:
    row = await get_matrix(session=session, name=name)
    touched = set(
        await session.scalars(select(PolicyRule.domain).where(PolicyRule.matrix == name))
    ) | set(row.owners)
    await session.delete(row)
    await session.flush()
    return await _bump(session, touched, matrix=name)


async def get_matrix(*, session: AsyncSession, name: str) -> RaciMatrix:
    row = await session.get(RaciMatrix, name)
    if row is None:
        raise NotFound(f"No RACI matrix '{name}'.", reason="UNKNOWN_MATRIX", field="name")
    return row


async def governs(*, session: AsyncSession, process: str) -> bool:
    """Whether a RACI matrix governs ``process``."""
    found = await session.scalar(select(RaciMatrix.name).where(RaciMatrix.process == process))
    return found is not None


async def list_matrices(*, session: AsyncSession) -> Sequence[RaciMatrix]:
    return (await session.scalars(select(RaciMatrix).order_by(RaciMatrix.name))).all()


async def export_matrix(*, session: AsyncSession, name: str, fmt: str) -> str:
    """The stored matrix in ``fmt`` (its source as written when the format matches)."""
    row = await get_matrix(session=session, name=name)
    if row.source_format == _check_format(fmt):
        return row.source
    matrix, _ = formats.parse(row.source, row.source_format)
    return formats.dump_csv(matrix) if fmt == "csv" else formats.dump_yaml(matrix)


async def load_rules(
    *, session: AsyncSession, domains: Iterable[str] | None = None
) -> tuple[list[CompiledRule], dict[str, int]]:
    """Compiled lines (in load order) and versions of ``domains`` (all when None)."""
    rules_q = select(PolicyRule).order_by(PolicyRule.domain, PolicyRule.id)
    versions_q = select(PolicyDomain.domain, PolicyDomain.version)
    if domains is not None:
        wanted = sorted(set(domains))
        rules_q = rules_q.where(PolicyRule.domain.in_(wanted))
        versions_q = versions_q.where(PolicyDomain.domain.in_(wanted))
    versions = {d: v for d, v in await session.execute(versions_q)}
    rules = [
        CompiledRule(
            ptype=r.ptype,
            values=tuple(v for v in (r.v0, r.v1, r.v2, r.v3, r.v4, r.v5) if v is not None),
            domain=r.domain,
            matrix=r.matrix,
            activity=r.activity,
            party=r.party,
            letter=r.letter,
        )
        for r in await session.scalars(rules_q)
    ]
    return rules, versions


async def reload(
    *, session: AsyncSession, engine: PolicyEngine, domains: Iterable[str] | None = None
) -> None:
    """Rebuild ``domains``' partitions (every stored domain when None) from the database."""
    wanted = None if domains is None else set(domains)
    rules, versions = await load_rules(session=session, domains=wanted)
    if wanted is None:
        engine.load_all(rules, versions)
        return
    for domain in sorted(wanted):
        engine.load(
            domain, [r for r in rules if r.domain == domain], version=versions.get(domain, 0)
        )


def _row(matrix: str, rule: CompiledRule) -> dict[str, str | None]:
    values: list[str | None] = [*rule.values, None, None, None][:6]
    return {
        "matrix": matrix,
        "domain": rule.domain,
        "ptype": rule.ptype,
        **{f"v{i}": v for i, v in enumerate(values)},
        "activity": rule.activity,
        "party": rule.party,
        "letter": rule.letter,
    }


async def _bump(session: AsyncSession, domains: set[str], *, matrix: str) -> dict[str, int]:
    if not domains:
        return {}
    rows = pg_insert(PolicyDomain).values([{"domain": d, "version": 1} for d in sorted(domains)])
    stmt = rows.on_conflict_do_update(
        index_elements=[PolicyDomain.domain],
        set_={"version": PolicyDomain.version + 1, "updated_at": func.now()},
    ).returning(PolicyDomain.domain, PolicyDomain.version)
    versions = {d: v for d, v in await session.execute(stmt)}
    payload = json.dumps({"matrix": matrix, "domains": versions}, sort_keys=True)
    await session.execute(select(func.pg_notify(CHANNEL, payload)))
    return versions
