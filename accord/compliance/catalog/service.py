"""The standards catalog in the database: loading it from the data files, and reading it.

``sync_catalog`` brings every store's ``catalog`` schema up to the data files shipped with
Accord (one transaction per store, a no-op costing one query when the stored digest is
current) and regenerates the Harmonized Structure cross-walk. The reads take any session:
an admin session on a store, or a tenant session (tenant roles may SELECT the catalog).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.catalog.datafiles import CatalogStandard, catalog_digest, load_catalog
from accord.compliance.catalog.models import (
    ACCORD_ORIGIN,
    DATA_DIGEST_KEY,
    HS_CROSSWALK_SET,
    CatalogMapping,
    CatalogMeta,
    Clause,
    MappingSet,
    Standard,
)
from accord.compliance.crosswalk import HsClause, harmonized_crosswalk
from accord.compliance.vocab import ClauseKey
from accord.platform.errors import BadInput, NotFound
from accord.platform.runtime import Runtime

HS_SOURCE_DOCUMENT = "ISO/IEC Directives, Part 1, Annex SL, Appendix 2 (Harmonized Structure)"
# Concurrent syncs of one store (two processes starting) queue here, then re-check.
_SYNC_LOCK = 0x0ACC0D_CA7A


class UnknownClauses(BadInput):
    """Some clause keys are malformed or name clauses/standards the catalog lacks."""

    def __init__(
        self, *, malformed: list[str], unknown_standard: list[str], unknown_clause: list[str]
    ) -> None:
        self.malformed, self.unknown_standard = malformed, unknown_standard
        self.unknown_clause = unknown_clause
        self.problems = [
            *(f"{k!r} is not a clause key (e.g. 'iso9001:2015/9.2')" for k in malformed),
            *(
                f"{k!r}: standard {ClauseKey.parse(k).standard!r} is not in the catalog"
                for k in unknown_standard
            ),
            *(f"{k!r} is not a clause of the catalog" for k in unknown_clause),
        ]
        only_standards = not malformed and not unknown_clause
        super().__init__(
            "; ".join(self.problems),
            reason="UNKNOWN_STANDARD" if only_standards else "UNKNOWN_CLAUSE",
            field="clauses",
        )


@dataclass(frozen=True, slots=True)
class ClauseNode:
    clause: Clause
    children: tuple[ClauseNode, ...]


# --------------------------------------------------------------------------- sync


@cache
def _shipped_catalog() -> tuple[tuple[CatalogStandard, ...], str]:
    standards = load_catalog()
    return standards, catalog_digest(standards)


async def _stored_digest(session: AsyncSession) -> str | None:
    return await session.scalar(select(CatalogMeta.value).where(CatalogMeta.key == DATA_DIGEST_KEY))


async def sync_catalog(runtime: Runtime) -> dict[str, str]:
    """Load the shipped standards into every store; store → "updated" or "current"."""
    standards, digest = _shipped_catalog()
    outcome: dict[str, str] = {}
    for name in runtime.stores.names():
        async with runtime.stores.control_session(name) as session:
            if await _stored_digest(session) == digest:
                outcome[name] = "current"
                continue
        # The catalog is reference data every tenant reads: only the migrator writes it.
        async with runtime.stores.migrator_session(name) as session:
            if await _stored_digest(session) == digest:
                outcome[name] = "current"
                continue
            await session.execute(select(func.pg_advisory_xact_lock(_SYNC_LOCK)))
            if await _stored_digest(session) == digest:
                outcome[name] = "current"
                continue
            await load_shipped_catalog(session=session, standards=standards, digest=digest)
            outcome[name] = "updated"
    return outcome


async def load_shipped_catalog(
    *, session: AsyncSession, standards: Sequence[CatalogStandard], digest: str
) -> None:
    """Upsert Accord's standards and clauses, regenerate the HS cross-walk, store the digest."""
    standard_rows = [
        {
            "id": s.id,
            "number": s.number,
            "title": s.title,
            "year": s.year,
            "kind": s.kind.value,
            "version": s.version,
            "origin": ACCORD_ORIGIN,
        }
        for s in standards
    ]
    upsert_standard = insert(Standard)
    await session.execute(
        upsert_standard.on_conflict_do_update(
            index_elements=[Standard.id],
            set_={
                **{c: upsert_standard.excluded[c] for c in standard_rows[0] if c != "id"},
                "loaded_at": func.now(),
            },
        ),
        standard_rows,
    )
    clause_rows = [
        {
            "key": c.key,
            "standard_id": c.standard_id,
            "number": c.number,
            "title": c.title,
            "parent_key": None if c.parent_number is None else f"{s.id}/{c.parent_number}",
            "depth": c.depth,
            "position": c.position,
            "hs": c.hs,
            "hs_ref": c.hs_ref,
            "assessable": True,
        }
        for s in standards
        for c in s.clauses
    ]
    upsert_clause = insert(Clause)
    # ``urn`` is left alone: it links a clause to an imported library's requirement node.
    await session.execute(
        upsert_clause.on_conflict_do_update(
            index_elements=[Clause.key],
            set_={c: upsert_clause.excluded[c] for c in clause_rows[0] if c != "key"},
        ),
        clause_rows,
    )
    await _link_ciso_assistant(session, standards)
    await _regenerate_hs_crosswalk(session, standards)
    await _prune_vanished(session, {c.key for s in standards for c in s.clauses})
    meta = insert(CatalogMeta).values(key=DATA_DIGEST_KEY, value=digest)
    await session.execute(
        meta.on_conflict_do_update(index_elements=[CatalogMeta.key], set_={"value": digest})
    )


async def _link_ciso_assistant(session: AsyncSession, standards: Sequence[CatalogStandard]) -> None:
    """Give the standards CISO Assistant publishes its framework and requirement node urns.

    A mapping library naming those urns then resolves against the shipped clauses with no
    framework library imported first. Urns are unique: every one involved is released
    before it is set, so a link an earlier import made elsewhere moves here.
    """
    for standard in standards:
        if standard.ciso_framework is None:
            continue
        links = {c.key: standard.clause_urn(c.number) for c in standard.clauses}
        await session.execute(
            update(Clause)
            .where(or_(Clause.standard_id == standard.id, Clause.urn.in_(links.values())))
            .values(urn=None)
        )
        await session.execute(update(Clause), [{"key": k, "urn": u} for k, u in links.items()])
        await session.execute(
            update(Standard)
            .where(Standard.id == standard.id)
            .values(library_urn=standard.ciso_framework)
        )


async def _regenerate_hs_crosswalk(
    session: AsyncSession, standards: Sequence[CatalogStandard]
) -> None:
    hs_clauses = [
        HsClause(key=c.key, standard_id=s.id, hs_ref=c.hs_ref, kind=s.kind)
        for s in standards
        for c in s.clauses
        if c.hs and c.hs_ref is not None
    ]
    edges = harmonized_crosswalk(hs_clauses)
    await session.execute(delete(MappingSet).where(MappingSet.id == HS_CROSSWALK_SET))
    session.add(
        MappingSet(
            id=HS_CROSSWALK_SET,
            name="ISO Harmonized Structure cross-walk",
            source_standard=None,
            target_standard=None,
            source_document=HS_SOURCE_DOCUMENT,
            origin=ACCORD_ORIGIN,
            mapping_count=len(edges),
        )
    )
    await session.flush()
    if edges:
        await session.execute(
            insert(CatalogMapping),
            [
                {
                    "mapping_set": HS_CROSSWALK_SET,
                    "position": position,
                    "source_key": e.source,
                    "target_key": e.target,
                    "relationship": e.relationship.value,
                    "rationale": None if e.rationale is None else e.rationale.value,
                    "strength": e.strength,
                    "method": e.method.value,
                    "author": e.author,
                    "status": str(e.status),
                }
                for position, e in enumerate(edges)
            ],
        )


async def _prune_vanished(session: AsyncSession, shipped_keys: set[str]) -> None:
    """Drop Accord clauses gone from the data files, unless a mapping still names them."""
    accord_standards = select(Standard.id).where(Standard.origin == ACCORD_ORIGIN)
    referenced = select(CatalogMapping.id).where(
        or_(CatalogMapping.source_key == Clause.key, CatalogMapping.target_key == Clause.key)
    )
    await session.execute(
        delete(Clause).where(
            Clause.standard_id.in_(accord_standards),
            Clause.key.not_in(shipped_keys),
            ~referenced.exists(),
        )
    )
    await session.execute(
        delete(Standard).where(
            Standard.origin == ACCORD_ORIGIN,
            ~select(Clause.key).where(Clause.standard_id == Standard.id).exists(),
        )
    )


# --------------------------------------------------------------------------- reads


async def require_clauses(*, session: AsyncSession, keys: Sequence[str]) -> None:
    """Raise `UnknownClauses` (a BadInput) naming every malformed or unknown key."""
    wanted = list(dict.fromkeys(keys))
    malformed: list[str] = []
    parsed: dict[str, ClauseKey] = {}
    for key in wanted:
        try:
            parsed[key] = ClauseKey.parse(key)
        except ValueError:
            malformed.append(key)
    known: set[str] = set()
    if parsed:
        known = set(await session.scalars(select(Clause.key).where(Clause.key.in_(parsed))))
    missing = [key for key in parsed if key not in known]
    if not malformed and not missing:
        return
    standards: set[str] = set()
    if missing:
        wanted_standards = {parsed[key].standard for key in missing}
        standards = set(
            await session.scalars(select(Standard.id).where(Standard.id.in_(wanted_standards)))
        )
    raise UnknownClauses(
        malformed=malformed,
        unknown_standard=[k for k in missing if parsed[k].standard not in standards],
        unknown_clause=[k for k in missing if parsed[k].standard in standards],
    )


async def check_clauses(
    session: AsyncSession, keys: Sequence[str], *, field: str = "clause_keys"
) -> None:
    """``BadInput`` (UNKNOWN_CLAUSE / UNKNOWN_STANDARD) naming ``field`` unless the catalog
    has every key (what a record's services ask before writing its clause keys)."""
    if not keys:
        return
    try:
        await require_clauses(session=session, keys=keys)
    except UnknownClauses as exc:
        raise BadInput(exc.message, reason=exc.reason, field=field) from exc


async def get_clause(*, session: AsyncSession, key: str) -> Clause:
    clause = await session.get(Clause, key)
    if clause is None:
        raise NotFound(f"No clause {key!r} in the catalog.", reason="UNKNOWN_CLAUSE", field="key")
    return clause


async def get_standard(*, session: AsyncSession, standard_id: str) -> Standard:
    standard = await session.get(Standard, standard_id)
    if standard is None:
        raise NotFound(
            f"No standard {standard_id!r} in the catalog.",
            reason="UNKNOWN_STANDARD",
            field="standard",
        )
    return standard


async def list_standards(*, session: AsyncSession) -> list[Standard]:
    return list(await session.scalars(select(Standard).order_by(Standard.id)))


async def count_clauses(*, session: AsyncSession) -> dict[str, int]:
    """Number of clauses per standard id."""
    rows = await session.execute(
        select(Clause.standard_id, func.count()).group_by(Clause.standard_id)
    )
    return {standard: count for standard, count in rows.all()}


async def list_clauses(*, session: AsyncSession, standard_id: str) -> list[Clause]:
    """A standard's clauses in document order (raises NotFound for an unknown standard)."""
    await get_standard(session=session, standard_id=standard_id)
    return list(
        await session.scalars(
            select(Clause).where(Clause.standard_id == standard_id).order_by(Clause.position)
        )
    )


async def clause_tree(*, session: AsyncSession, standard_id: str) -> list[ClauseNode]:
    """The standard's top-level clauses, each with its sub-clauses, in document order."""
    clauses = await list_clauses(session=session, standard_id=standard_id)
    keys = {c.key for c in clauses}
    children: dict[str | None, list[Clause]] = {}
    for clause in clauses:
        parent = clause.parent_key if clause.parent_key in keys else None
        children.setdefault(parent, []).append(clause)

    def build(parent: str | None) -> tuple[ClauseNode, ...]:
        return tuple(ClauseNode(c, build(c.key)) for c in children.get(parent, []))

    return list(build(None))
