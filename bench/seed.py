"""Bench data: tenants over two stores, findings loaded with COPY, CAPA actions, and a
sharing network in which one reader may read every other tenant in one shared process.

    python bench/seed.py [--tenants 100] [--findings 10000] [--summary-every 5] [--clauses 8]
    python bench/seed.py --extra 900     # tiny tenants (no records), e.g. for memory benches
    python bench/seed.py --drop          # remove every tenant, agreement and matrix made here

Stores: ``home`` is ACCORD_BENCH_DATABASE_URL (default the local accord_bench) and
``second`` is ACCORD_BENCH_SECOND_DATABASE_URL (default: the same server, database name
plus ``_b``); both databases are created if missing. Tenants are named ``<prefix>_reader``
(home store), ``<prefix>_o001`` … (alternating stores) and ``<prefix>_x0001`` … (extras,
home store), so that a later run finds them again: seeding is idempotent (a tenant whose
findings table already holds the requested number of rows is left alone) and
``describe()`` rebuilds the network from the control plane without seeding.

Findings go straight into each tenant schema's ``findings`` table with ``COPY`` as
Accord's own login (valid rows: the CHECK constraints of t0002, real catalog clause keys,
unique references and external ids, due dates over ±60 days, a few undated). The tally
triggers of t0009 are statement-level with transition tables, and PostgreSQL fires them
for ``COPY FROM`` too; every loaded tenant's tallies are compared with a recount and
rebuilt with ``recount_tallies()`` if they differ (reported).

The network: every other tenant grants the reader ``full`` on finding and capa (every
``--summary-every``-th one ``summary``), and one RACI matrix (process
``<prefix>-network``) makes the reader's quality managers Informed on every owner's
findings and CAPAs. The reader has a member ``rita`` and the first owner a member
``otto`` (both quality_manager), both trusting the development issuer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import delete, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.catalog.service import sync_catalog
from accord.platform.db import ensure_database, quote_ident
from accord.platform.migrations.runner import lock_shared_objects
from accord.platform.runtime import Runtime
from accord.platform.settings import Settings, StoreConfig
from accord.policies import service as policy_service
from accord.policies.models import PolicyDomain, RaciMatrix
from accord.tenants import service as tenant_service
from accord.tenants.agreements import service as agreements
from accord.tenants.agreements.models import Agreement, AgreementState
from accord.tenants.identity.devissuer import register_dev_issuer
from accord.tenants.models import Member, Tenant
from accord.tenants.provisioning import create_tenant
from tests.cleanup import delete_cascading

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / ".accord" / "bench"
HOME, SECOND = "home", "second"
PREFIX = "gw"
READER_SUBJECT = "rita"
OWNER_SUBJECT = "otto"
ROLE = "quality_manager"

console = Console()

# ------------------------------------------------------------------------------ settings


def home_url() -> str:
    return os.environ.get(
        "ACCORD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/accord_bench"
    )


def second_url() -> str:
    configured = os.environ.get("ACCORD_BENCH_SECOND_DATABASE_URL")
    if configured:
        return configured
    url = make_url(home_url())
    return url.set(database=f"{url.database}_b").render_as_string(hide_password=False)


def libpq(url: str) -> str:
    """A SQLAlchemy-style URL as a libpq connection string (for bare psycopg)."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def bench_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": home_url(),
        "data_dir": DATA_DIR,
        "home_store": HOME,
        "home_region": "bench-1",
        "stores": [StoreConfig(name=SECOND, region="bench-2", url=second_url())],  # type: ignore[arg-type]
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def ensure_databases() -> None:
    await ensure_database(home_url())
    await ensure_database(second_url())


# ------------------------------------------------------------------------------ the plan


@dataclass
class SeedConfig:
    #: tenants with records: the reader and tenants - 1 owners
    tenants: int = 100
    findings: int = 10_000
    capas: int = 3
    actions_per_capa: int = 4
    #: every n-th owner grants ``summary`` instead of ``full`` (0: all full)
    summary_every: int = 5
    #: how many distinct clause keys findings are raised against (per tenant, same pool)
    clauses: int = 8
    #: tiny tenants (no records, not in the network), e.g. to measure memory
    extra: int = 0
    prefix: str = PREFIX
    #: concurrent provisioning and loading jobs
    jobs: int = 2
    seed: int = 42

    def reader(self) -> str:
        return f"{self.prefix}_reader"

    def owners(self) -> list[str]:
        return [f"{self.prefix}_o{i:03d}" for i in range(1, self.tenants)]

    def extras(self) -> list[str]:
        return [f"{self.prefix}_x{i:04d}" for i in range(1, self.extra + 1)]

    def process(self) -> str:
        return f"{self.prefix}-network"

    def matrix(self) -> str:
        return f"Bench network {self.prefix}"

    def store_of(self, index: int) -> str:
        """Owner ``index`` (1-based): odd ones on the home store, even ones on the second."""
        return HOME if index % 2 else SECOND

    def level_of(self, index: int) -> str:
        return "summary" if self.summary_every and index % self.summary_every == 0 else "full"


@dataclass
class Network:
    """What a benchmark needs to know about a seeded network."""

    reader: str
    owner: str  # the owner whose member ``otto`` reads its own findings
    #: every tenant in the network (reader included) → store
    stores: dict[str, str]
    #: every tenant in the network → the level the reader sees it at ("full" for itself)
    levels: dict[str, str]
    process: str
    findings: dict[str, int] = field(default_factory=dict)
    extras: int = 0

    @property
    def visible(self) -> list[str]:
        return sorted(self.stores)


# ------------------------------------------------------------------------------ rows

GRADES = (
    ("major_nonconformity", 10),
    ("minor_nonconformity", 35),
    ("observation", 35),
    ("opportunity_for_improvement", 20),
)
SEVERITIES = (("low", 30), ("medium", 40), ("high", 22), ("critical", 8))
STATES = (
    ("open", 30),
    ("responded", 15),
    ("capa_planned", 12),
    ("capa_implemented", 8),
    ("verification", 5),
    ("closed", 25),
    ("reopened", 5),
)
PEOPLE = tuple(
    f"user:{n}"
    for n in (
        "li.wei",
        "anna.keller",
        "nadia.said",
        "otto.berg",
        "rita.gomez",
        "jon.park",
        "mia.rossi",
        "sven.lund",
        "ada.okafor",
        "tom.wright",
        "yuki.sato",
        "ines.costa",
        "lars.holm",
        "eva.novak",
        "raj.patel",
    )
)
TITLES = (
    "Supplier monitoring records missing",
    "Calibration overdue on torque wrench",
    "Training records incomplete for new operators",
    "Nonconforming product released without concession",
    "Document revision not controlled at the line",
    "Customer complaint not analysed for root cause",
    "Incoming inspection skipped for critical part",
    "Internal audit programme behind schedule",
)
FINDING_COLUMNS = (
    "id",
    "source_system",
    "external_id",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "reference",
    "title",
    "grade",
    "severity",
    "clause_keys",
    "criteria",
    "condition",
    "raised_at",
    "raised_by",
    "owner",
    "response_due_at",
    "response",
    "state",
    "closed_at",
    "closed_by",
)
CAPA_COLUMNS = (
    "id",
    "source_system",
    "external_id",
    "created_by",
    "updated_by",
    "reference",
    "title",
    "clause_keys",
    "state",
)
ACTION_COLUMNS = (
    "id",
    "source_system",
    "external_id",
    "created_by",
    "updated_by",
    "capa_id",
    "title",
    "owner",
    "owner_tenant",
    "due_at",
    "status",
    "completed_at",
    "completed_by",
)
SOURCE = "bench"


def _weighted(rng: random.Random, table: Sequence[tuple[str, int]], n: int) -> list[str]:
    values = [v for v, _ in table]
    weights = [w for _, w in table]
    return rng.choices(values, weights=weights, k=n)


def finding_rows(
    slug: str, count: int, clause_pool: Sequence[str], today: date, rng: random.Random
) -> list[tuple[Any, ...]]:
    grades = _weighted(rng, GRADES, count)
    severities = _weighted(rng, SEVERITIES, count)
    states = _weighted(rng, STATES, count)
    rows = []
    midnight = datetime(today.year, today.month, today.day, tzinfo=UTC)
    for i in range(count):
        if rng.random() < 0.03:
            due = None
            raised = midnight - timedelta(days=rng.randint(0, 120), minutes=rng.randint(0, 1439))
        else:
            due = today + timedelta(days=rng.randint(-60, 60))
            raised = datetime(due.year, due.month, due.day, tzinfo=UTC) - timedelta(
                days=rng.randint(14, 60), minutes=rng.randint(0, 1439)
            )
        keys = (
            rng.sample(clause_pool, 2)
            if len(clause_pool) > 1 and rng.random() < 0.3
            else [rng.choice(clause_pool)]
        )
        state = states[i]
        created = raised + timedelta(minutes=rng.randint(1, 600))
        author = rng.choice(PEOPLE)
        closed = state == "closed"
        rows.append(
            (
                uuid.uuid4(),
                SOURCE,
                f"{slug}-{i}",
                created,
                author,
                created,
                author,
                f"F-{i + 1:07d}",
                f"{TITLES[i % len(TITLES)]} ({i + 1})",
                grades[i],
                severities[i],
                keys,
                f"{keys[0]}: requirement not met",
                "Objective evidence shows the requirement is not met in the sampled records.",
                raised,
                author,
                rng.choice(PEOPLE),
                due,
                None if state == "open" else "Containment in place; cause being analysed.",
                state,
                created + timedelta(days=rng.randint(5, 40)) if closed else None,
                rng.choice(PEOPLE) if closed else None,
            )
        )
    return rows


def capa_rows(
    slug: str,
    capas: int,
    per_capa: int,
    clause_pool: Sequence[str],
    today: date,
    rng: random.Random,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    capa_out, action_out = [], []
    for c in range(capas):
        capa_id = uuid.uuid4()
        author = rng.choice(PEOPLE)
        capa_out.append(
            (
                capa_id,
                SOURCE,
                f"{slug}-capa-{c}",
                author,
                author,
                f"CAPA-{c + 1:04d}",
                f"Corrective action plan {c + 1}",
                [rng.choice(clause_pool)],
                "in_progress",
            )
        )
        for a in range(per_capa):
            done = rng.random() < 0.3
            action_out.append(
                (
                    uuid.uuid4(),
                    SOURCE,
                    f"{slug}-action-{c}-{a}",
                    author,
                    author,
                    capa_id,
                    f"Action {a + 1} of plan {c + 1}",
                    rng.choice(PEOPLE),
                    slug,
                    today + timedelta(days=rng.randint(-30, 30)),
                    "done" if done else "open",
                    datetime.now(UTC) if done else None,
                    author if done else None,
                )
            )
    return capa_out, action_out


# ------------------------------------------------------------------------------ loading

#: The maintained tallies of a tenant schema (those present are compared with a recount).
TALLY_TABLES = ("finding_tallies", "finding_counts", "capa_action_tallies")


async def _tally_snapshot(conn: psycopg.AsyncConnection[Any], schema: str) -> dict[str, list[str]]:
    cur = await conn.execute(
        "select tablename from pg_tables where schemaname = %s and tablename = any(%s)",
        (schema, list(TALLY_TABLES)),
    )
    snapshot = {}
    for (table,) in await cur.fetchall():
        rows = await conn.execute(
            sql.SQL(
                "select coalesce(array_agg(t::text order by t::text), '{{}}') from {}.{} t"
            ).format(sql.Identifier(schema), sql.Identifier(table))
        )
        snapshot[table] = (await rows.fetchone() or [[]])[0]
    return snapshot


async def _copy(
    conn: psycopg.AsyncConnection[Any],
    schema: str,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    statement = sql.SQL("COPY {}.{} ({}) FROM STDIN").format(
        sql.Identifier(schema),
        sql.Identifier(table),
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
    )
    async with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            await copy.write_row(row)


async def load_tenant(
    conn: psycopg.AsyncConnection[Any],
    slug: str,
    config: SeedConfig,
    clause_pool: Sequence[str],
    index: int,
) -> tuple[bool, float]:
    """Replace ``slug``'s findings, CAPAs and actions; (tallies kept by triggers, seconds)."""
    schema = f"t_{slug}"
    s = sql.Identifier(schema)
    rng = random.Random(config.seed * 100_003 + index)
    today = date.today()
    rows = finding_rows(slug, config.findings, clause_pool, today, rng)
    capas, actions = capa_rows(slug, config.capas, config.actions_per_capa, clause_pool, today, rng)
    started = time.perf_counter()
    async with conn.transaction():
        await conn.execute(
            sql.SQL("TRUNCATE {s}.capa_actions, {s}.capas, {s}.findings CASCADE").format(s=s)
        )
        # TRUNCATE fires no row or statement triggers: start the tallies from zero.
        await conn.execute(sql.SQL("SELECT {}.recount_tallies()").format(s))
        await _copy(conn, schema, "findings", FINDING_COLUMNS, rows)
        await _copy(conn, schema, "capas", CAPA_COLUMNS, capas)
        await _copy(conn, schema, "capa_actions", ACTION_COLUMNS, actions)
        # What the COPY's statement triggers left, against a rebuild from the records.
        kept = await _tally_snapshot(conn, schema)
        await conn.execute(sql.SQL("SELECT {}.recount_tallies()").format(s))
        same = kept == await _tally_snapshot(conn, schema)
    elapsed = time.perf_counter() - started
    for table in ("findings", "capas", "capa_actions", *TALLY_TABLES):
        await conn.execute(sql.SQL("VACUUM (ANALYZE) {}.{}").format(s, sql.Identifier(table)))
    return same, elapsed


async def _counts(runtime: Runtime, slugs: Sequence[str], stores: dict[str, str]) -> dict[str, int]:
    """Findings per tenant (−1 where the schema is missing)."""
    counts: dict[str, int] = {}
    for store in sorted(set(stores.values())):
        mine = [s for s in slugs if stores[s] == store]
        if not mine:
            continue
        async with runtime.stores.engine(store).connect() as conn:
            present = set(
                await conn.scalars(
                    text("select nspname from pg_namespace where nspname = any(:s)"),
                    {"s": [f"t_{s}" for s in mine]},
                )
            )
            for slug in mine:
                if f"t_{slug}" not in present:
                    counts[slug] = -1
                    continue
                counts[slug] = int(
                    await conn.scalar(
                        text(f"select count(*) from {quote_ident(conn, f't_{slug}')}.findings")
                    )
                    or 0
                )
    return counts


async def clause_pool(runtime: Runtime, count: int) -> list[str]:
    """``count`` real, assessable ISO 9001:2015 clause keys, spread over the standard."""
    async with runtime.stores.engine(HOME).connect() as conn:
        keys = list(
            await conn.scalars(
                text(
                    "select key from catalog.clauses where standard_id = 'iso9001:2015' "
                    "and assessable order by key"
                )
            )
        )
    if not keys:
        raise SystemExit("The catalog is empty: sync_catalog did not load ISO 9001:2015.")
    if "iso9001:2015/8.4" in keys:  # the supplier-quality clause leads
        keys.remove("iso9001:2015/8.4")
        keys.insert(0, "iso9001:2015/8.4")
    step = max(1, len(keys) // max(count, 1))
    picked = [keys[0], *keys[1::step]][:count]
    return picked


# ------------------------------------------------------------------------------ tenants


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


async def _existing(runtime: Runtime, slugs: Sequence[str]) -> dict[str, Tenant]:
    async with runtime.control_session() as session:
        rows = await session.scalars(select(Tenant).where(Tenant.slug.in_(list(slugs))))
        return {t.slug: t for t in rows}


async def provision(
    runtime: Runtime, wanted: Sequence[tuple[str, str]], *, jobs: int, label: str
) -> int:
    """Create the (slug, store) tenants that do not exist yet; how many were created."""
    existing = await _existing(runtime, [s for s, _ in wanted])
    missing = [(s, st) for s, st in wanted if s not in existing]
    if not missing:
        return 0
    gate = asyncio.Semaphore(max(1, jobs))
    with _progress() as progress:
        task = progress.add_task(f"provisioning {label}", total=len(missing))

        async def one(slug: str, store: str) -> None:
            async with gate:
                await create_tenant(
                    runtime,
                    slug=slug,
                    legal_name="Bench Partner GmbH",
                    jurisdiction="DE",
                    store=store,
                )
            progress.advance(task)

        # The first one alone: it creates the server-wide groups the others then find.
        await one(*missing[0])
        await asyncio.gather(*(one(s, st) for s, st in missing[1:]))
    return len(missing)


async def ensure_member(
    session: AsyncSession, runtime: Runtime, tenant: Tenant, subject: str
) -> None:
    found = await session.scalar(
        select(Member).where(Member.tenant == tenant.slug, Member.subject == subject)
    )
    if found is None:
        await tenant_service.add_member(
            session=session, tenant=tenant, subject=subject, display_name=subject, roles=[ROLE]
        )
    await register_dev_issuer(session=session, tenant=tenant, settings=runtime.settings)


async def ensure_members(runtime: Runtime, pairs: Sequence[tuple[str, str]]) -> None:
    """(slug, subject): a quality manager trusting the development issuer, once."""
    async with runtime.control_session() as session:
        tenants = {
            t.slug: t
            for t in await session.scalars(
                select(Tenant).where(Tenant.slug.in_([s for s, _ in pairs]))
            )
        }
        for slug, subject in pairs:
            await ensure_member(session, runtime, tenants[slug], subject)


def network_matrix(config: SeedConfig) -> str:
    owners = config.owners()
    reader = config.reader()
    parties = ", ".join(f"role:{t}/{ROLE}" for t in (*owners, reader))
    return f"""
name: {config.matrix()}
process: {config.process()}
owners: [{", ".join(owners)}]
parties: [{parties}]
activities:
  - {{name: Follow findings, record_type: finding, actions: [close]}}
  - {{name: Follow CAPA, record_type: capa, actions: [close]}}
raci:
  Follow findings:
    role:{owners[0]}/{ROLE}: A
    role:{reader}/{ROLE}: I
  Follow CAPA:
    role:{owners[0]}/{ROLE}: A
    role:{reader}/{ROLE}: I
"""


async def ensure_agreements(runtime: Runtime, config: SeedConfig) -> int:
    """Every owner grants the reader its level on finding and capa; how many were made."""
    reader = config.reader()
    made = 0
    async with runtime.control_session() as session:
        active = {
            (a.grantor, a.level)
            for a in await session.scalars(
                select(Agreement).where(
                    Agreement.grantee == reader, Agreement.state == AgreementState.ACTIVE
                )
            )
        }
        for i, owner in enumerate(config.owners(), start=1):
            level = config.level_of(i)
            if (owner, level) in active:
                continue
            proposed = await agreements.propose(
                session=session,
                grantor=owner,
                grantee=reader,
                record_types=["finding", "capa"],
                level=level,
                purpose="Supplier quality network (benchmark)",
                proposed_by="user:bench",
            )
            await agreements.accept(
                session=session, agreement_id=proposed.id, tenant=reader, actor="user:bench"
            )
            await agreements.activate(
                session=session, agreement_id=proposed.id, tenant=owner, actor="user:bench"
            )
            made += 1
    return made


async def ensure_matrix(runtime: Runtime, config: SeedConfig) -> bool:
    """Import the network's RACI matrix unless the same text is stored; whether imported."""
    source = network_matrix(config)
    async with runtime.control_session() as session:
        row = await session.get(RaciMatrix, config.matrix())
        if row is not None and row.source == source:
            return False
        await policy_service.import_matrix(session=session, text=source, fmt="yaml")
    return True


async def upgrade_schemas(runtime: Runtime, slugs: Sequence[str]) -> int:
    """Bring the given tenants' schemas to head (the code may have moved since seeding)."""
    from accord.platform.migrations.runner import upgrade_tenant

    existing = await _existing(runtime, slugs)
    applied = 0
    with _progress() as progress:
        task = progress.add_task("tenant schemas at head", total=len(existing))
        for slug in sorted(existing):
            scope = existing[slug].scope
            async with runtime.stores.engine(scope.store).begin() as conn:
                applied += await upgrade_tenant(conn, schema=scope.schema, role=scope.role)
            progress.advance(task)
    return applied


async def load_all(
    runtime: Runtime, config: SeedConfig, stores: dict[str, str], pool: Sequence[str]
) -> dict[str, Any]:
    """Load findings into every network tenant that does not hold ``config.findings``."""
    slugs = [config.reader(), *config.owners()]
    counts = await _counts(runtime, slugs, stores)
    todo = [(i, s) for i, s in enumerate(slugs) if counts.get(s) != config.findings]
    report: dict[str, Any] = {"loaded": len(todo), "tallies_by_trigger": True, "seconds": 0.0}
    if not todo:
        return report
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for item in todo:
        queue.put_nowait(item)
    urls = {HOME: libpq(runtime.stores.url(HOME)), SECOND: libpq(runtime.stores.url(SECOND))}
    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task(
            f"COPY {config.findings:,} findings × {len(todo)} tenants", total=len(todo)
        )

        async def worker() -> None:
            conns: dict[str, psycopg.AsyncConnection[Any]] = {}
            try:
                while not queue.empty():
                    index, slug = queue.get_nowait()
                    store = stores[slug]
                    if store not in conns:
                        conns[store] = await psycopg.AsyncConnection.connect(
                            urls[store], autocommit=True
                        )
                    ok, _ = await load_tenant(conns[store], slug, config, pool, index)
                    report["tallies_by_trigger"] = report["tallies_by_trigger"] and ok
                    progress.advance(task)
            finally:
                for conn in conns.values():
                    await conn.close()

        await asyncio.gather(*(worker() for _ in range(max(1, config.jobs))))
    report["seconds"] = time.perf_counter() - started
    return report


async def seed(runtime: Runtime, config: SeedConfig) -> Network:
    """Make (or complete) the network ``config`` describes; returns it."""
    started = time.perf_counter()
    await sync_catalog(runtime)
    wanted = [(config.reader(), HOME)] + [
        (o, config.store_of(i)) for i, o in enumerate(config.owners(), start=1)
    ]
    made = await provision(runtime, wanted, jobs=config.jobs, label="network tenants")
    upgraded = await upgrade_schemas(runtime, [s for s, _ in wanted])
    stores = dict(wanted)
    pool = await clause_pool(runtime, config.clauses)
    loaded = await load_all(runtime, config, stores, pool)
    await ensure_members(
        runtime, [(config.reader(), READER_SUBJECT), (config.owners()[0], OWNER_SUBJECT)]
    )
    agreed = await ensure_agreements(runtime, config)
    imported = await ensure_matrix(runtime, config)
    extras = await provision(
        runtime, [(x, HOME) for x in config.extras()], jobs=config.jobs, label="extra tenants"
    )
    console.print(
        f"seeded in {time.perf_counter() - started:.1f} s: {made} tenants provisioned, "
        f"{upgraded} schemas migrated, "
        f"{loaded['loaded']} loaded ({loaded['seconds']:.1f} s of COPY), clause pool "
        f"{len(pool)}, tallies maintained by the COPY's statement triggers: "
        f"{'yes' if loaded['tallies_by_trigger'] else 'NO (recounted)'}, "
        f"{agreed} agreements made, matrix {'imported' if imported else 'current'}, "
        f"{extras} extra tenants"
    )
    return await describe(runtime, config)


async def describe(runtime: Runtime, config: SeedConfig, *, upgrade: bool = False) -> Network:
    """The network as the control plane holds it (fails if it was not seeded)."""
    reader = config.reader()
    async with runtime.control_session() as session:
        tenants = {
            t.slug: t
            for t in await session.scalars(
                select(Tenant).where(Tenant.slug.like(f"{config.prefix}\\_%"))
            )
        }
        grants = await agreements.grants_for(session=session, grantee=reader, record_type="finding")
    if reader not in tenants:
        raise SystemExit(f"No tenant {reader}: seed first (python bench/seed.py).")
    if upgrade:
        await upgrade_schemas(runtime, sorted(tenants))
    levels = {reader: "full", **{g.grantor: g.level.value for g in grants}}
    stores = {slug: tenants[slug].store for slug in levels}
    extras = sum(1 for s in tenants if s.startswith(f"{config.prefix}_x"))
    counts = await _counts(runtime, list(stores), stores)
    owner = min(s for s in levels if s != reader)
    return Network(
        reader=reader,
        owner=owner,
        stores=stores,
        levels=levels,
        process=config.process(),
        findings=counts,
        extras=extras,
    )


# ------------------------------------------------------------------------------ cleanup


async def drop(runtime: Runtime, prefix: str = PREFIX) -> int:
    """Remove every ``<prefix>_`` tenant (schemas, roles, control rows) and its matrix."""
    pattern = f"{prefix}\\_%"
    async with runtime.control_session() as session:
        names = list(
            await session.scalars(
                select(RaciMatrix.name).where(RaciMatrix.name.like(f"Bench network {prefix}"))
            )
        )
        for name in names:
            await policy_service.delete_matrix(session=session, name=name)
    dropped = 0
    for store in runtime.stores.names():
        async with runtime.stores.engine(store).connect() as conn:
            schemas = list(
                await conn.scalars(
                    text("select nspname from pg_namespace where nspname like :p"),
                    {"p": f"t\\_{prefix}\\_%"},
                )
            )
        with _progress() as progress:
            task = progress.add_task(f"dropping schemas ({store})", total=len(schemas))
            for schema in schemas:
                role = f"accord_{schema}"
                async with runtime.stores.engine(store).begin() as conn:
                    await conn.exec_driver_sql(f"DROP SCHEMA {quote_ident(conn, schema)} CASCADE")
                    exists = await conn.scalar(
                        text("select exists (select 1 from pg_roles where rolname = :r)"),
                        {"r": role},
                    )
                    if exists:
                        await lock_shared_objects(conn)
                        await conn.exec_driver_sql(f"DROP OWNED BY {quote_ident(conn, role)}")
                        await conn.exec_driver_sql(f"DROP ROLE {quote_ident(conn, role)}")
                dropped += 1
                progress.advance(task)
    async with runtime.control_session() as session:
        await delete_cascading(session, "tenants", '"slug" like :p', pattern)
        # Policy versions are kept per domain (a tenant slug) without a foreign key.
        await session.execute(delete(PolicyDomain).where(PolicyDomain.domain.like(pattern)))
    return dropped


# ------------------------------------------------------------------------------ CLI


def add_arguments(parser: argparse.ArgumentParser, defaults: SeedConfig | None = None) -> None:
    d = defaults or SeedConfig()
    parser.add_argument("--tenants", type=int, default=d.tenants, help="tenants with records")
    parser.add_argument("--findings", type=int, default=d.findings, help="findings per tenant")
    parser.add_argument("--capas", type=int, default=d.capas, help="CAPAs per tenant")
    parser.add_argument("--actions-per-capa", type=int, default=d.actions_per_capa)
    parser.add_argument(
        "--summary-every", type=int, default=d.summary_every, help="every n-th owner: summary"
    )
    parser.add_argument("--clauses", type=int, default=d.clauses, help="clause keys in use")
    parser.add_argument("--extra", type=int, default=d.extra, help="tiny extra tenants")
    parser.add_argument("--prefix", default=d.prefix, help="tenant slug prefix")
    parser.add_argument("--jobs", type=int, default=d.jobs, help="concurrent jobs")


def config_from(args: argparse.Namespace) -> SeedConfig:
    return SeedConfig(
        tenants=args.tenants,
        findings=args.findings,
        capas=args.capas,
        actions_per_capa=args.actions_per_capa,
        summary_every=args.summary_every,
        clauses=args.clauses,
        extra=args.extra,
        prefix=args.prefix,
        jobs=args.jobs,
    )


async def main() -> None:
    from accord.platform.runtime import open_runtime

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--drop", action="store_true", help="remove what this script made")
    args = parser.parse_args()
    config = config_from(args)
    await ensure_databases()
    async with open_runtime(bench_settings()) as runtime:
        if args.drop:
            dropped = await drop(runtime, config.prefix)
            console.print(f"dropped {dropped} tenant schemas")
            return
        network = await seed(runtime, config)
    total = sum(n for n in network.findings.values() if n > 0)
    console.print(
        f"network: reader {network.reader}, {len(network.visible)} visible tenants, "
        f"{total:,} findings, process {network.process}, {network.extras} extra tenants"
    )


if __name__ == "__main__":
    asyncio.run(main())
