"""GraphQL gateway benchmark: federated listing, network dashboard, reads by id, memory.

    python bench/bench_gateway.py [--tenants 100] [--findings 10000] [--keep]
    python bench/bench_gateway.py --skip-seed --only listing,dashboard [--profile]

The network comes from ``bench/seed.py`` (two stores, one reader that may read every other
tenant in one shared process). The gateway is the real app: ``create_app`` under uvicorn
on loopback, in a child process, called over HTTP with httpx and development-issuer
tokens. Each part is compared, in the same run, with what it would cost by hand:

* ``listing``: ``findings(first: 50, orderBy: DUE_AT, process: P)`` as the reader, over
  every visible tenant, against one hand-written ``UNION ALL`` per store on bare psycopg
  (each branch ``ORDER BY coalesce(response_due_at, 'infinity'), id LIMIT 51``), merged
  in Python; the two pages must hold the same ids.
* ``dashboard``: ``networkDashboard(process: P)`` (maintained tallies) against a full scan
  of every findings table; the counts must be equal.
* ``byid``: ``finding(id)`` of one's own tenant, and a 50-item page of one's own findings
  (8 fields), at ``--concurrency`` clients, against bare Starlette endpoints added to the
  same app in the same server process (same authentication middleware, a tenant session,
  the same rows as JSON). Requests/s, and the server's CPU time per request (the client
  shares the 2 cores, so the server's CPU per request is the steadier ratio).
* ``telemetry``: the listing with telemetry on (OTLP over HTTP to a collector stand-in on
  loopback in this process, which reads and drops what it is sent) against the same
  listing without it, two server processes, blocks of requests interleaved round by
  round; the overhead is the difference in p50 latency and in server CPU per request.
* ``memory``: the server's RSS with ``--memory-tenants`` registered tenants (tiny extra
  ones are provisioned, ~0.3 s each), each of which signs in and reads, measured in a
  fresh server process after each phase (sign-in only, own findings page, tenants list,
  the reader's federated reads, everything again); ``bench/results/memory-diagnosis.txt``
  (next to ``--out``) lists the per-tenant caches and the RSS given back as each is dropped
  (``--trace-memory``: the server also runs under tracemalloc, slowly).

The raw listing orders and limits each store's ``UNION ALL`` again (as the gateway's own
statement does) so that each store returns one page, not a page per owner.

Results go to a table and to ``bench/results/gateway.json`` (``--out``). Without ``--keep``
(or ``--skip-seed``) the seeded tenants are dropped at the end; ``python bench/seed.py
--drop`` drops them any time. ``--profile`` samples the server during extra passes of the
slow parts into ``bench/results/profile-*.txt``: pyinstrument when the server can import
it (``ACCORD_BENCH_PROFILER_PATH`` is put on its ``PYTHONPATH``, e.g. a ``pip install
--target`` directory), else cProfile. The machine has 2 cores shared by client, server and
PostgreSQL: the server's CPU time per request is reported next to wall-clock figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
from psycopg import sql
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import seed as seeding  # noqa: E402

RESULTS = REPO / "bench" / "results"
console = seeding.console

LISTING = """
query($first: Int!, $process: String) {
  findings(first: $first, orderBy: DUE_AT, process: $process) {
    edges { cursor node { id tenant level reference responseDueAt createdAt title owner } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
DASHBOARD = """
query($p: String) {
  networkDashboard(process: $p) {
    tenants {
      tenant openByGrade openByState openByClause overdueCapaActions suppressedGroups
    }
  }
}
"""
BY_ID = """
query($id: ID!) {
  finding(id: $id) { id reference title grade severity state responseDueAt owner }
}
"""
OWN_PAGE = """
query {
  findings(first: 50, orderBy: DUE_AT) {
    edges { node { id reference title grade severity state responseDueAt owner } }
  }
}
"""
TOUCH = """
query { tenants { slug } findings(first: 20) { edges { node { id reference } } } }
"""
ME = "query { me { subject } }"
OWN_FINDINGS = "query { findings(first: 20) { edges { node { id reference } } } }"
TENANTS = "query { tenants { slug } }"
EIGHT = (
    "id",
    "reference",
    "title",
    "grade",
    "severity",
    "state",
    "response_due_at",
    "owner",
)
PARTS = ("listing", "dashboard", "byid", "telemetry", "memory")
#: Telemetry's overhead on the listing may cost at most this (p50 latency, server CPU).
TELEMETRY_BUDGET = 0.10


# ============================================================================ the server


def build_app(profile: bool) -> Any:
    """``create_app`` with bare endpoints (and profiling switches) for this benchmark only."""
    from sqlalchemy import func, literal_column, select
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    from accord.app import create_app
    from accord.compliance.findings.models import Finding
    from accord.tenants.identity.middleware import principal_of
    from accord.tenants.sessions import tenant_session

    # The per-tenant rate limit (50/s by default) would turn a throughput run into 429s.
    app = create_app(
        seeding.bench_settings(rate_limit_per_second=1_000_000.0, rate_limit_burst=1_000_000)
    )
    columns = [Finding.__table__.c[n] for n in EIGHT]
    due = func.coalesce(Finding.__table__.c.response_due_at, literal_column("'infinity'::date"))

    def _row(r: Any) -> dict[str, Any]:
        return {
            "id": str(r["id"]),
            "reference": r["reference"],
            "title": r["title"],
            "grade": r["grade"],
            "severity": r["severity"],
            "state": r["state"],
            "responseDueAt": r["response_due_at"].isoformat() if r["response_due_at"] else None,
            "owner": r["owner"],
        }

    def _mine(request: Request) -> str | None:
        principal = principal_of(request.scope)
        tenant = request.path_params["tenant"]
        if principal is None or principal.tenant != tenant:
            return None
        return tenant

    async def bare_finding(request: Request) -> Response:
        tenant = _mine(request)
        if tenant is None:
            return JSONResponse({"error": "unauthenticated"}, status_code=401)
        try:
            wanted = uuid.UUID(request.path_params["id"])
        except ValueError:
            return JSONResponse({"error": "not found"}, status_code=404)
        async with tenant_session(request.app.state.runtime, tenant) as session:
            row = (
                (await session.execute(select(*columns).where(Finding.id == wanted)))
                .mappings()
                .one_or_none()
            )
        if row is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse({"finding": _row(row)})

    async def bare_page(request: Request) -> Response:
        tenant = _mine(request)
        if tenant is None:
            return JSONResponse({"error": "unauthenticated"}, status_code=401)
        first = min(int(request.query_params.get("first", "50")), 100)
        stmt = select(*columns).order_by(due, Finding.id).limit(first)
        async with tenant_session(request.app.state.runtime, tenant) as session:
            rows = (await session.execute(stmt)).mappings().all()
        return JSONResponse({"findings": [_row(r) for r in rows]})

    async def diagnose_memory(request: Request) -> Response:
        """Where the memory is, at the end of a run: the sizes of the per-tenant caches, and
        the RSS given back as each is dropped in turn (gc + malloc_trim after each step);
        tracemalloc's top lines too when the server runs under it."""
        import ctypes
        import functools
        import gc
        import tracemalloc
        from collections import Counter

        from accord.compliance.sharing import dashboard, federation
        from accord.platform import db

        me = psutil.Process()
        trim = ctypes.CDLL("libc.so.6").malloc_trim
        lines: list[str] = []

        def settle() -> float:
            gc.collect()
            trim(0)
            return me.memory_info().rss / 2**20

        if tracemalloc.is_tracing():
            snapshot = tracemalloc.take_snapshot()
            lines.append("== tracemalloc, top lines")
            lines += [str(st) for st in snapshot.statistics("lineno")[:40]]
            tracemalloc.stop()
        runtime = request.app.state.runtime
        stores = runtime.stores
        engine = request.app.state.policy_engine
        caches = [
            (f"{m.__name__}.{n}", getattr(m, n))
            for m in (federation, dashboard, db)
            for n in dir(m)
            if isinstance(getattr(m, n), functools._lru_cache_wrapper)
        ]
        lines.append("== sizes")
        lines += [f"{name}: {fn.cache_info()}" for name, fn in caches]
        lines.append(f"policy partitions: {len(engine._partitions)}")
        lines.append(
            "policy decisions memoised: "
            f"{sum(len(p.decisions) for p in engine._partitions.values())}"
        )
        lines.append(f"scoped tenant engines: {len(stores._scoped)}")
        all_engines = [*stores._engines.items(), *stores._tenant_engines.items()]
        for name, e in all_engines:
            cache = e.sync_engine._compiled_cache
            lines.append(f"compiled cache {name}: {len(cache) if cache is not None else 0}")
        counts = Counter(type(o).__qualname__ for o in gc.get_objects())
        lines.append("== objects by type (gc-tracked)")
        lines += [f"{n:9d} {t}" for t, n in counts.most_common(25)]
        lines.append("== RSS as per-tenant state is dropped (MB)")
        before = settle()
        lines.append(f"{before:8.1f}  after gc + malloc_trim")
        steps = (
            ("policy engine partitions", lambda: engine._partitions.clear()),
            (
                "Accord lru caches (tables, statements)",
                lambda: [f.cache_clear() for _, f in caches],
            ),
            (
                "SQLAlchemy compiled caches",
                lambda: [
                    e.sync_engine._compiled_cache.clear()
                    for _, e in all_engines
                    if e.sync_engine._compiled_cache is not None
                ],
            ),
            ("scoped tenant engines", lambda: stores._scoped.clear()),
        )
        for label, drop in steps:
            drop()
            after = settle()
            lines.append(f"{after:8.1f}  {label} dropped: {before - after:+.1f}")
            before = after
        return PlainTextResponse("\n".join(lines) + "\n")

    routes = [
        Route("/bare/finding/{tenant}/{id}", bare_finding),
        Route("/bare/findings/{tenant}", bare_page),
        Route("/bare/memory", diagnose_memory),
    ]
    if profile:
        state: dict[str, Any] = {}

        async def start(request: Request) -> Response:
            try:
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.0005, async_mode="disabled")
                profiler.start()
                state["p"] = ("pyinstrument", profiler)
            except ImportError:
                import cProfile

                prof = cProfile.Profile()
                prof.enable()
                state["p"] = ("cprofile", prof)
            return PlainTextResponse("started")

        async def stop(request: Request) -> Response:
            kind, prof = state.pop("p")
            name = request.query_params.get("name", "profile")
            if kind == "pyinstrument":
                prof.stop()
                report = prof.output_text(unicode=False, color=False, show_all=False)
                # Library frames too (the default view folds them away).
                (RESULTS / f"profile-{name}-all.txt").write_text(
                    prof.output_text(unicode=False, color=False, show_all=True)
                )
            else:
                import io
                import pstats

                prof.disable()
                out = io.StringIO()
                stats = pstats.Stats(prof, stream=out)
                stats.sort_stats("tottime").print_stats(40)
                stats.sort_stats("cumulative").print_stats(60)
                report = out.getvalue()
            path = RESULTS / f"profile-{name}.txt"
            path.write_text(f"# {kind}\n{report}")
            return PlainTextResponse(str(path))

        routes += [Route("/bare/profile/start", start), Route("/bare/profile/stop", stop)]
    # Before the GraphQL routes: the bench's own paths are matched first.
    app.router.routes[:0] = routes
    return app


def serve(port: int, profile: bool, trace_memory: bool = False) -> None:
    import logging

    import uvicorn

    logging.basicConfig(level=logging.WARNING)
    if trace_memory:
        import tracemalloc

        tracemalloc.start(1)
    app = build_app(profile)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        # The client keeps its pool between phases: a connection the server drops after
        # uvicorn's default 5 s idle can race the client's reuse of it (ReadError).
        timeout_keep_alive=600,
    )
    uvicorn.Server(config).run()


class Server:
    """The app in a child process on a free loopback port."""

    def __init__(
        self,
        profile: bool = False,
        trace_memory: bool = False,
        telemetry_endpoint: str | None = None,
    ) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        env = {
            k: v
            for k, v in os.environ.items()
            if k != "ACCORD_TELEMETRY_ENDPOINT" and not k.startswith("OTEL_")
        }
        if telemetry_endpoint:
            env["ACCORD_TELEMETRY_ENDPOINT"] = telemetry_endpoint
        extra = os.environ.get("ACCORD_BENCH_PROFILER_PATH")  # e.g. a private pyinstrument
        if profile and extra:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (extra, env.get("PYTHONPATH")) if p)
        args = [sys.executable, str(Path(__file__)), "--serve", str(self.port)]
        if profile:
            args.append("--profile")
        if trace_memory:
            args.append("--trace-memory")
        self.proc = subprocess.Popen(args, cwd=REPO, env=env)
        self.url = f"http://127.0.0.1:{self.port}"
        self.ps = psutil.Process(self.proc.pid)

    async def ready(self, within: float = 180.0) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=self.url) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise SystemExit(f"the server exited with {self.proc.returncode}")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise SystemExit("the server did not start")

    def cpu(self) -> float:
        times = self.ps.cpu_times()
        return times.user + times.system

    def rss_mb(self) -> tuple[float, float]:
        """(current RSS, peak RSS) in MB."""
        current = self.ps.memory_info().rss / 2**20
        peak = current
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024
        return current, peak

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ============================================================================ helpers


def quantiles(samples: Sequence[float]) -> dict[str, float]:
    """p50/p95/mean/min in milliseconds."""
    ms = sorted(s * 1000 for s in samples)
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "p50": round(cuts[49], 3),
        "p95": round(cuts[94], 3),
        "mean": round(statistics.fmean(ms), 3),
        "min": round(ms[0], 3),
        "n": len(ms),
    }


async def timed(
    call: Callable[[], Awaitable[Any]], warmup: int, count: int
) -> tuple[list[float], Any]:
    last: Any = None
    for _ in range(warmup):
        last = await call()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        last = await call()
        samples.append(time.perf_counter() - started)
    return samples, last


async def gql(
    client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {token}"},
    )
    if response.status_code != 200:
        raise SystemExit(f"HTTP {response.status_code}: {response.text[:500]}")
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        raise SystemExit(f"GraphQL errors: {json.dumps(body['errors'])[:1000]}")
    return body


def token_for(settings: Any, tenant: str, subject: str) -> str:
    from accord.tenants.identity.devissuer import mint_token

    return mint_token(tenant, subject, ttl=timedelta(hours=6), settings=settings)


async def profile_pass(
    server: Server, client: httpx.AsyncClient, name: str, call: Callable[[], Awaitable[Any]], n: int
) -> str:
    await client.get("/bare/profile/start")
    for _ in range(n):
        await call()
    response = await client.get("/bare/profile/stop", params={"name": name})
    return response.text


# ============================================================================ listing


def _owner_of(gid: str) -> tuple[str, str]:
    from accord.graphql.relay import GlobalId

    decoded = GlobalId.decode(gid, expected="Finding")
    return decoded.tenant, str(decoded.record_id)


def raw_listing_statements(network: seeding.Network, limit: int) -> dict[str, sql.Composed]:
    """One UNION ALL per store, a branch per owner (as the gateway's federated listing)."""
    key = sql.SQL("coalesce(response_due_at, 'infinity'::date)")
    by_store: dict[str, list[sql.Composed]] = {}
    for owner in network.visible:
        branch = sql.SQL(
            "(SELECT {o} AS _owner, f.* FROM {s}.findings AS f WHERE f.deleted_at IS NULL"
            " ORDER BY {k}, f.id LIMIT {n})"
        ).format(o=sql.Literal(owner), s=sql.Identifier(f"t_{owner}"), k=key, n=sql.Literal(limit))
        by_store.setdefault(network.stores[owner], []).append(branch)
    return {
        store: sql.SQL(
            'SELECT * FROM ({u}) AS m ORDER BY {k}, _owner COLLATE "C", id LIMIT {n}'
        ).format(u=sql.SQL(" UNION ALL ").join(branches), k=key, n=sql.Literal(limit))
        for store, branches in by_store.items()
    }


def _raw_key(row: dict[str, Any]) -> tuple[Any, ...]:
    due = row["response_due_at"]
    return (due is None, due or date.min, row["_owner"], str(row["id"]))


async def bench_listing(
    args: argparse.Namespace,
    network: seeding.Network,
    client: httpx.AsyncClient,
    reader_token: str,
    conns: dict[str, psycopg.AsyncConnection[Any]],
    server: Server,
) -> dict[str, Any]:
    first = 50
    variables = {"first": first, "process": network.process}

    async def gateway() -> dict[str, Any]:
        return await gql(client, reader_token, LISTING, variables)

    statements = raw_listing_statements(network, first + 1)
    stores = sorted(statements)

    async def one_store(store: str) -> list[dict[str, Any]]:
        async with conns[store].cursor(row_factory=psycopg.rows.dict_row) as cur:
            await cur.execute(statements[store])
            return await cur.fetchall()

    async def raw() -> list[dict[str, Any]]:
        parts = await asyncio.gather(*(one_store(s) for s in stores))
        merged = sorted((r for rows in parts for r in rows), key=_raw_key)
        return merged[: first + 1]

    console.print(f"listing: {args.warmup} warm-up + {args.requests} requests each way …")
    cpu0 = server.cpu()
    g_samples, body = await timed(gateway, args.warmup, args.requests)
    g_cpu = (server.cpu() - cpu0) / (args.warmup + args.requests)
    r_samples, page = await timed(raw, args.warmup, args.requests)
    edges = body["data"]["findings"]["edges"]
    gateway_ids = [_owner_of(e["node"]["id"]) for e in edges]
    raw_ids = [(r["_owner"], str(r["id"])) for r in page[:first]]
    owners_on_page = len({o for o, _ in gateway_ids})
    result: dict[str, Any] = {
        "visible_tenants": len(network.visible),
        "stores": len(stores),
        "gateway_ms": quantiles(g_samples),
        "raw_ms": quantiles(r_samples),
        "server_cpu_ms_per_request": round(g_cpu * 1000, 2),
        "same_page": gateway_ids == raw_ids,
        "owners_on_page": owners_on_page,
        "has_next": body["data"]["findings"]["pageInfo"]["hasNextPage"],
    }
    result["ratio_p95"] = round(result["gateway_ms"]["p95"] / result["raw_ms"]["p95"], 2)
    result["ratio_p50"] = round(result["gateway_ms"]["p50"] / result["raw_ms"]["p50"], 2)
    if args.profile:
        result["profile"] = await profile_pass(server, client, "listing", gateway, args.requests)
    return result


# ============================================================================ telemetry


class Collector:
    """An OTLP/HTTP receiver stand-in on loopback: reads each export, answers 200, counts."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        counts = self.counts = {"/v1/traces": 0, "/v1/metrics": 0, "bytes": 0}

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(size)
                counts[self.path] = counts.get(self.path, 0) + 1
                counts["bytes"] += size
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def bench_telemetry(
    args: argparse.Namespace,
    network: seeding.Network,
    plain: tuple[Server, httpx.AsyncClient],
    traced: tuple[Server, httpx.AsyncClient],
    collector: Collector,
) -> dict[str, Any]:
    variables = {"first": 50, "process": network.process}
    token = token_for(seeding.bench_settings(), network.reader, seeding.READER_SUBJECT)
    sides = {"off": plain, "on": traced}
    rounds = max(2, args.telemetry_rounds)
    per_round = max(5, args.requests // rounds)
    console.print(
        f"telemetry: listing without / with, {rounds} interleaved rounds of "
        f"{per_round} requests each way …"
    )
    samples: dict[str, list[float]] = {"off": [], "on": []}
    cpu = {"off": 0.0, "on": 0.0}
    round_ratios = []
    for _, client in sides.values():
        for _ in range(args.warmup):
            await gql(client, token, LISTING, variables)
    for i in range(rounds):
        order = ["off", "on"] if i % 2 == 0 else ["on", "off"]
        this_round: dict[str, list[float]] = {}
        for side in order:
            server, client = sides[side]
            cpu0 = server.cpu()
            got, body = await timed(
                lambda c=client: gql(c, token, LISTING, variables), 0, per_round
            )
            cpu[side] += server.cpu() - cpu0
            assert len(body["data"]["findings"]["edges"]) == 50
            samples[side].extend(got)
            this_round[side] = got
        round_ratios.append(
            statistics.median(this_round["on"]) / statistics.median(this_round["off"])
        )
    # The traced server flushes what it buffered on shutdown; what arrived so far counts.
    total = rounds * per_round
    result: dict[str, Any] = {
        "off_ms": quantiles(samples["off"]),
        "on_ms": quantiles(samples["on"]),
        "off_cpu_ms_per_request": round(cpu["off"] / total * 1000, 2),
        "on_cpu_ms_per_request": round(cpu["on"] / total * 1000, 2),
        "rounds": rounds,
        "requests_per_round": per_round,
        "round_p50_ratios": [round(r, 3) for r in round_ratios],
        "collector": dict(collector.counts),
    }
    result["overhead_p50"] = round(result["on_ms"]["p50"] / result["off_ms"]["p50"] - 1, 3)
    result["overhead_p95"] = round(result["on_ms"]["p95"] / result["off_ms"]["p95"] - 1, 3)
    result["overhead_cpu"] = round(
        result["on_cpu_ms_per_request"] / result["off_cpu_ms_per_request"] - 1, 3
    )
    return result


# ============================================================================ dashboard


def raw_dashboard_statements(
    network: seeding.Network, today: date
) -> dict[str, tuple[sql.Composed, sql.Composed]]:
    """Per store: open findings by grade, by state and by clause (a finding once per clause
    it names), and overdue CAPA actions, all counted from the records themselves."""
    findings: dict[str, list[sql.Composed]] = {}
    overdue: dict[str, list[sql.Composed]] = {}
    for owner in network.visible:
        s = sql.Identifier(f"t_{owner}")
        store = network.stores[owner]
        findings.setdefault(store, []).append(
            sql.SQL(
                "(SELECT {o} AS owner, d.dimension, d.value, count(*) AS n "
                "FROM {s}.findings AS f CROSS JOIN LATERAL ("
                "  VALUES ('grade', f.grade), ('state', f.state)"
                "  UNION ALL SELECT 'clause', k FROM unnest(f.clause_keys) AS k"
                ") AS d(dimension, value) "
                "WHERE f.state <> 'closed' AND f.deleted_at IS NULL "
                "GROUP BY d.dimension, d.value)"
            ).format(o=sql.Literal(owner), s=s)
        )
        overdue.setdefault(store, []).append(
            sql.SQL(
                "(SELECT {o} AS owner, count(*) AS n FROM {s}.capa_actions "
                "WHERE status <> 'done' AND due_at < {d} AND deleted_at IS NULL)"
            ).format(o=sql.Literal(owner), s=s, d=sql.Literal(today))
        )
    return {
        store: (
            sql.SQL(" UNION ALL ").join(findings[store]),
            sql.SQL(" UNION ALL ").join(overdue[store]),
        )
        for store in findings
    }


async def bench_dashboard(
    args: argparse.Namespace,
    network: seeding.Network,
    client: httpx.AsyncClient,
    reader_token: str,
    conns: dict[str, psycopg.AsyncConnection[Any]],
    server: Server,
) -> dict[str, Any]:
    variables = {"p": network.process}

    async def gateway() -> dict[str, Any]:
        return await gql(client, reader_token, DASHBOARD, variables)

    today = datetime.now(UTC).date()
    statements = raw_dashboard_statements(network, today)
    stores = sorted(statements)

    async def one_store(store: str) -> tuple[list[Any], list[Any]]:
        counts, late = statements[store]
        async with conns[store].cursor() as cur:
            await cur.execute(counts)
            found = await cur.fetchall()
            await cur.execute(late)
            return found, await cur.fetchall()

    async def raw() -> list[tuple[list[Any], list[Any]]]:
        return list(await asyncio.gather(*(one_store(s) for s in stores)))

    console.print(f"dashboard: {args.warmup} warm-up + {args.requests} requests each way …")
    cpu0 = server.cpu()
    g_samples, body = await timed(gateway, args.warmup, args.requests)
    g_cpu = (server.cpu() - cpu0) / (args.warmup + args.requests)
    r_samples, scanned = await timed(raw, min(args.warmup, 3), max(10, args.requests // 10))
    # A network that changes: before each request one owner's event log "commits" (the
    # notification its trigger sends), so the API re-reads that owner's tallies.
    owners = sorted(o for o in network.stores if o != network.reader)
    c_samples: list[float] = []
    for i in range(args.warmup + args.requests):
        owner = owners[i % len(owners)]
        payload = json.dumps({"schema": f"t_{owner}", "first": 0, "last": 0})
        async with conns[network.stores[owner]].cursor() as cur:
            await cur.execute("SELECT pg_notify('accord_events', %s)", (payload,))
        await asyncio.sleep(0.005)  # the notification reaches the API's listener
        started = time.perf_counter()
        await gateway()
        if i >= args.warmup:
            c_samples.append(time.perf_counter() - started)
    board = body["data"]["networkDashboard"]
    got = {
        (t["tenant"], dimension, value, count)
        for t in board["tenants"]
        for dimension, key in (
            ("grade", "openByGrade"),
            ("state", "openByState"),
            ("clause", "openByClause"),
        )
        for value, count in t[key].items()
    }
    expected = {(o, d, v, int(n)) for found, _ in scanned for o, d, v, n in found}
    got_late = {
        (t["tenant"], t["overdueCapaActions"])
        for t in board["tenants"]
        if t["overdueCapaActions"] is not None
    }
    expected_late = {(o, int(n)) for _, late in scanned for o, n in late}
    body_bytes = len(json.dumps(body))
    result: dict[str, Any] = {
        "gateway_ms": quantiles(g_samples),
        "changing_ms": quantiles(c_samples),
        "raw_scan_ms": quantiles(r_samples),
        "server_cpu_ms_per_request": round(g_cpu * 1000, 2),
        "groups": len(got),
        "owners": len({c[0] for c in got}),
        "response_bytes": body_bytes,
        "counts_equal": got == expected,
        "overdue_equal": got_late == expected_late,
        "overdue_actions": sum(n for _, n in got_late),
    }
    if got != expected:
        result["mismatch"] = {
            "missing": sorted(expected - got)[:10],
            "extra": sorted(got - expected)[:10],
        }
    if args.profile:
        result["profile"] = await profile_pass(server, client, "dashboard", gateway, args.requests)
    return result


# ============================================================================ by id


async def load(
    client: httpx.AsyncClient,
    make: Callable[[int], Awaitable[httpx.Response]],
    total: int,
    concurrency: int,
    server: Server,
) -> dict[str, float]:
    """``total`` requests from ``concurrency`` workers: rps and server CPU per request."""
    counter = iter(range(total))
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for i in counter:
            response = await make(i)
            if response.status_code != 200 or b'"errors"' in response.content[:200]:
                failures += 1

    cpu0 = server.cpu()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu = server.cpu() - cpu0
    if failures:
        raise SystemExit(f"{failures} of {total} requests failed")
    return {
        "rps": round(total / elapsed, 1),
        "server_cpu_ms_per_request": round(cpu / total * 1000, 3),
        "seconds": round(elapsed, 2),
    }


def _sum_rounds(rounds: list[dict[str, float]], total: int) -> dict[str, Any]:
    seconds = sum(r["seconds"] for r in rounds)
    return {
        "rps": round(total * len(rounds) / seconds, 1),
        "rps_rounds": [r["rps"] for r in rounds],
        "server_cpu_ms_per_request": round(
            statistics.fmean(r["server_cpu_ms_per_request"] for r in rounds), 3
        ),
    }


async def bench_byid(
    args: argparse.Namespace,
    network: seeding.Network,
    client: httpx.AsyncClient,
    owner_token: str,
    conns: dict[str, psycopg.AsyncConnection[Any]],
    server: Server,
) -> dict[str, Any]:
    from accord.graphql.relay import GlobalId

    owner = network.owner
    async with conns[network.stores[owner]].cursor() as cur:
        await cur.execute(
            sql.SQL("SELECT id FROM {}.findings ORDER BY random() LIMIT 500").format(
                sql.Identifier(f"t_{owner}")
            )
        )
        ids = [r[0] for r in await cur.fetchall()]
    gids = [GlobalId("Finding", owner, i).encode() for i in ids]
    headers = {"authorization": f"Bearer {owner_token}"}

    async def gateway(i: int) -> httpx.Response:
        return await client.post(
            "/graphql",
            json={"query": BY_ID, "variables": {"id": gids[i % len(gids)]}},
            headers=headers,
        )

    async def bare(i: int) -> httpx.Response:
        return await client.get(f"/bare/finding/{owner}/{ids[i % len(ids)]}", headers=headers)

    async def gateway_page(i: int) -> httpx.Response:
        return await client.post("/graphql", json={"query": OWN_PAGE}, headers=headers)

    async def bare_page(i: int) -> httpx.Response:
        return await client.get(f"/bare/findings/{owner}", params={"first": 50}, headers=headers)

    # Same answers?
    check = (await gateway(0)).json()["data"]["finding"]
    plain = (await bare(0)).json()["finding"]
    same_row = check["reference"] == plain["reference"] and check["title"] == plain["title"]
    page_g = (await gateway_page(0)).json()["data"]["findings"]["edges"]
    page_b = (await bare_page(0)).json()["findings"]
    same_page = [e["node"]["reference"] for e in page_g] == [r["reference"] for r in page_b]

    n, c = args.byid_requests, args.concurrency
    out: dict[str, Any] = {"concurrency": c, "requests_per_round": n, "rounds": args.rounds}
    for label, g_call, b_call, count in (
        ("byid", gateway, bare, n),
        ("page", gateway_page, bare_page, max(200, n // 4)),
    ):
        console.print(f"{label}: {args.rounds} rounds × {count} requests × 2 at {c} clients …")
        await load(client, g_call, c * 4, c, server)  # warm-up
        await load(client, b_call, c * 4, c, server)
        g_rounds, b_rounds = [], []
        for _ in range(args.rounds):  # alternating, so drift hits both
            g_rounds.append(await load(client, g_call, count, c, server))
            b_rounds.append(await load(client, b_call, count, c, server))
        g, b = _sum_rounds(g_rounds, count), _sum_rounds(b_rounds, count)
        out[label] = {
            "gateway": g,
            "bare": b,
            "ratio_rps": round(g["rps"] / b["rps"], 3),
            "ratio_server_cpu": round(
                b["server_cpu_ms_per_request"] / g["server_cpu_ms_per_request"], 3
            ),
            "same_answer": same_row if label == "byid" else same_page,
        }
        if args.profile:
            out[label]["profile"] = await profile_pass(
                server, client, label, lambda call=g_call: call(0), 300
            )
    return out


# ============================================================================ memory


async def bench_memory(args: argparse.Namespace, runtime: Any, config: Any) -> dict[str, Any]:
    """Register tenants up to ``--memory-tenants``, then sign in to and read from each."""
    from sqlalchemy import func, select

    from accord.tenants.models import Tenant

    async with runtime.control_session() as session:
        network_count = int(
            await session.scalar(
                select(func.count())
                .select_from(Tenant)
                .where(
                    Tenant.slug.like(f"{config.prefix}\\_%"),
                    ~Tenant.slug.like(f"{config.prefix}\\_x%"),
                )
            )
            or 0
        )
    config.extra = max(0, args.memory_tenants - network_count)
    started = time.perf_counter()
    made = await seeding.provision(
        runtime, [(x, seeding.HOME) for x in config.extras()], jobs=config.jobs, label="extra"
    )
    provision_s = time.perf_counter() - started
    async with runtime.control_session() as session:
        slugs = sorted(
            await session.scalars(
                select(Tenant.slug).where(Tenant.slug.like(f"{config.prefix}\\_%"))
            )
        )
        registered = int(await session.scalar(select(func.count()).select_from(Tenant)) or 0)
    await seeding.ensure_members(runtime, [(s, "mona") for s in slugs])
    settings = runtime.settings
    tokens = [(s, token_for(settings, s, "mona")) for s in slugs]

    server = Server(trace_memory=args.trace_memory)
    diagnosis = None
    phases: dict[str, float] = {}
    try:
        await server.ready()
        async with httpx.AsyncClient(base_url=server.url, timeout=600) as client:
            await client.get("/healthz")
            idle, _ = server.rss_mb()
            gate = asyncio.Semaphore(4)
            phases: dict[str, float] = {"idle": round(idle, 1)}

            async def each(query: str) -> float:
                async def one(token: str) -> None:
                    async with gate:
                        await gql(client, token, query)

                t0 = time.perf_counter()
                await asyncio.gather(*(one(t) for _, t in tokens))
                return time.perf_counter() - t0

            # One subsystem at a time, so the RSS each adds per tenant can be told apart.
            console.print(f"memory: {len(tokens)} tenants sign in and read …")
            for phase, query in (
                ("signed in (me)", ME),
                ("own findings page", OWN_FINDINGS),
                ("tenants list", TENANTS),
            ):
                seconds = await each(query)
                phases[phase] = round(server.rss_mb()[0], 1)
                console.print(f"  {phase}: {phases[phase]} MB ({seconds:.0f} s)")
            after = phases["tenants list"]
            # The reader's federated reads over the network, then every tenant once more.
            reader = seeding.SeedConfig(prefix=config.prefix).reader()
            reader_token = token_for(settings, reader, seeding.READER_SUBJECT)
            for _ in range(3):
                await gql(client, reader_token, LISTING, {"first": 50, "process": config.process()})
                await gql(client, reader_token, DASHBOARD, {"p": config.process()})
            phases["reader's listing and dashboard"] = round(server.rss_mb()[0], 1)
            touched_s = await each(TOUCH)
            final, peak = server.rss_mb()
            phases["all tenants again"] = round(final, 1)
            diagnosis = (await client.get("/bare/memory")).text
            Path(args.out).with_name("memory-diagnosis.txt").write_text(diagnosis)
    finally:
        server.stop()
    return {
        "tenants_registered": registered,
        "tenants_signed_in": len(tokens),
        "extra_provisioned": made,
        "provision_seconds": round(provision_s, 1),
        "rss_idle_mb": round(idle, 1),
        "rss_after_touch_mb": round(after, 1),
        "rss_final_mb": round(final, 1),
        "rss_peak_mb": round(peak, 1),
        "touch_seconds": round(touched_s, 1),
        "phases_mb": phases,
        "tracemalloc": args.trace_memory,
        "diagnosis": diagnosis,
    }


# ============================================================================ main


def _fmt_ms(q: dict[str, float]) -> str:
    return f"{q['p50']:.1f} / {q['p95']:.1f} ms"


def _mark(ok: bool) -> str:
    return "✅" if ok else "❌"


def report(results: dict[str, Any]) -> Table:
    table = Table("measurement", "result", "target", title="Accord gateway benchmark")
    listing = results.get("listing")
    if listing:
        n = listing["visible_tenants"]
        table.add_row(
            f"findings(first: 50, DUE_AT, process) over {n} tenants, 2 stores (p50 / p95)",
            _fmt_ms(listing["gateway_ms"]),
            f"p95 ≤ 100 ms {_mark(listing['gateway_ms']['p95'] <= 100)}",
        )
        table.add_row(
            "  bare psycopg UNION ALL per store, merged in Python (p50 / p95)",
            _fmt_ms(listing["raw_ms"]),
            "",
        )
        table.add_row(
            "  gateway ÷ raw (p95; p50)",
            f"{listing['ratio_p95']:.2f}×; {listing['ratio_p50']:.2f}×",
            f"≤ 3× {_mark(listing['ratio_p95'] <= 3)}",
        )
        table.add_row(
            "  server CPU per request; same page",
            f"{listing['server_cpu_ms_per_request']:.1f} ms; "
            f"{'OK' if listing['same_page'] else 'MISMATCH'}",
            "",
        )
    dash = results.get("dashboard")
    if dash:
        table.add_row(
            f"networkDashboard(process) — {dash['groups']:,} groups, {dash['owners']} owners, "
            f"{dash['response_bytes'] / 1024:.0f} KiB (p50 / p95)",
            _fmt_ms(dash["gateway_ms"]),
            f"p95 ≤ 50 ms {_mark(dash['gateway_ms']['p95'] <= 50)}",
        )
        table.add_row(
            "  the same, one owner changed before each request (p50 / p95)",
            _fmt_ms(dash["changing_ms"]),
            f"p95 ≤ 50 ms {_mark(dash['changing_ms']['p95'] <= 50)}",
        )
        table.add_row(
            "  raw full scan of every findings table (p50 / p95)", _fmt_ms(dash["raw_scan_ms"]), ""
        )
        table.add_row(
            "  server CPU per request; counts equal raw scan",
            f"{dash['server_cpu_ms_per_request']:.1f} ms; "
            f"{'OK' if dash['counts_equal'] and dash['overdue_equal'] else 'MISMATCH'}",
            "",
        )
    byid = results.get("byid")
    if byid:
        for label, title, goal in (
            ("byid", "finding(id), own tenant", 0.6),
            ("page", "50 own findings × 8 fields", 0.35),
        ):
            part = byid[label]
            table.add_row(
                f"{title} at {byid['concurrency']} clients: gateway / bare req/s",
                f"{part['gateway']['rps']:,.0f} / {part['bare']['rps']:,.0f}",
                "",
            )
            table.add_row(
                "  ratio req/s; ratio by server CPU per request",
                f"{part['ratio_rps']:.2f}; {part['ratio_server_cpu']:.2f} "
                f"({part['gateway']['server_cpu_ms_per_request']:.2f} vs "
                f"{part['bare']['server_cpu_ms_per_request']:.2f} ms)",
                f"≥ {goal} {_mark(part['ratio_rps'] >= goal)}",
            )
    otel = results.get("telemetry")
    if otel:
        budget = f"≤ {TELEMETRY_BUDGET:.0%}"
        table.add_row(
            "listing without telemetry (p50 / p95), interleaved with the next",
            _fmt_ms(otel["off_ms"]),
            "",
        )
        table.add_row(
            "listing with telemetry, OTLP/HTTP to a loopback collector (p50 / p95)",
            _fmt_ms(otel["on_ms"]),
            "",
        )
        ratios = otel["round_p50_ratios"]
        table.add_row(
            "  tracing overhead, p50 (p95); per-round p50 ratios min–max",
            f"{otel['overhead_p50']:+.1%} ({otel['overhead_p95']:+.1%}); "
            f"{min(ratios):.3f}–{max(ratios):.3f}",
            f"{budget} {_mark(otel['overhead_p50'] <= TELEMETRY_BUDGET)}",
        )
        table.add_row(
            "  server CPU per request without / with",
            f"{otel['off_cpu_ms_per_request']:.1f} / {otel['on_cpu_ms_per_request']:.1f} ms "
            f"({otel['overhead_cpu']:+.1%})",
            f"{budget} {_mark(otel['overhead_cpu'] <= TELEMETRY_BUDGET)}",
        )
    memory = results.get("memory")
    if memory:
        table.add_row(
            f"API RSS, {memory['tenants_registered']:,} tenants registered, "
            f"{memory['tenants_signed_in']:,} signed in and read (idle → after → final)",
            f"{memory['rss_idle_mb']:.0f} → {memory['rss_after_touch_mb']:.0f} → "
            f"{memory['rss_final_mb']:.0f} MB (peak {memory['rss_peak_mb']:.0f})",
            f"≤ 250 MB {_mark(memory['rss_peak_mb'] <= 250)}",
        )
    return table


async def run(args: argparse.Namespace) -> None:
    from sqlalchemy import text

    from accord.platform.runtime import open_runtime

    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"--only: unknown part(s) {sorted(unknown)}; known: {PARTS}")
    config = seeding.config_from(args)
    config.extra = 0
    await seeding.ensure_databases()
    settings = seeding.bench_settings()
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "arch": platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": os.getloadavg(),
        },
        "config": {
            "tenants": config.tenants,
            "findings_per_tenant": config.findings,
            "clauses": config.clauses,
            "summary_every": config.summary_every,
            "requests": args.requests,
            "warmup": args.warmup,
            "concurrency": args.concurrency,
            "only": parts,
        },
    }
    keep = args.keep or args.skip_seed
    async with open_runtime(settings) as runtime:
        async with runtime.stores.engine(seeding.HOME).connect() as conn:
            results["machine"]["postgresql"] = await conn.scalar(text("show server_version"))
        try:
            if args.skip_seed:
                network = await seeding.describe(runtime, config, upgrade=True)
            else:
                started = time.perf_counter()
                network = await seeding.seed(runtime, config)
                results["seed_seconds"] = round(time.perf_counter() - started, 1)
            results["network"] = {
                "reader": network.reader,
                "visible_tenants": len(network.visible),
                "findings": sum(n for n in network.findings.values() if n > 0),
                "summary_owners": sum(1 for v in network.levels.values() if v == "summary"),
                "stores": sorted(set(network.stores.values())),
            }
            console.print(results["network"])
            http_parts = [p for p in parts if p != "memory"]
            if http_parts:
                await _http_parts(args, network, settings, http_parts, results)
            if "memory" in parts:
                results["memory"] = await bench_memory(args, runtime, config)
        finally:
            results["machine"]["load_average_at_end"] = os.getloadavg()
            out = Path(args.out)
            out.write_text(json.dumps(results, indent=2, default=str) + "\n")
            console.print(report(results))
            console.print(
                f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
                f"{platform.python_version()}, PostgreSQL {results['machine'].get('postgresql')}; "
                f"load average {results['machine']['load_average_at_start']} → "
                f"{results['machine']['load_average_at_end']}; results in {out}"
            )
            if not keep:
                dropped = await seeding.drop(runtime, config.prefix)
                console.print(f"dropped {dropped} bench tenant schemas")


async def _http_parts(
    args: argparse.Namespace,
    network: seeding.Network,
    settings: Any,
    parts: list[str],
    results: dict[str, Any],
) -> None:
    reader_token = token_for(settings, network.reader, seeding.READER_SUBJECT)
    owner_token = token_for(settings, network.owner, seeding.OWNER_SUBJECT)
    urls = {
        seeding.HOME: seeding.libpq(seeding.home_url()),
        seeding.SECOND: seeding.libpq(seeding.second_url()),
    }
    conns = {
        name: await psycopg.AsyncConnection.connect(url, autocommit=True)
        for name, url in urls.items()
    }
    server = Server(profile=args.profile)
    try:
        await server.ready()
        limits = httpx.Limits(max_connections=args.concurrency * 2, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as client:
            if "listing" in parts:
                results["listing"] = await bench_listing(
                    args, network, client, reader_token, conns, server
                )
            if "dashboard" in parts:
                results["dashboard"] = await bench_dashboard(
                    args, network, client, reader_token, conns, server
                )
            if "byid" in parts:
                results["byid"] = await bench_byid(
                    args, network, client, owner_token, conns, server
                )
            if "telemetry" in parts:
                results["telemetry"] = await _telemetry_part(args, network, server, client)
            results["server_rss_mb"] = round(server.rss_mb()[0], 1)
    finally:
        server.stop()
        for conn in conns.values():
            await conn.close()


async def _telemetry_part(
    args: argparse.Namespace, network: seeding.Network, server: Server, client: httpx.AsyncClient
) -> dict[str, Any]:
    collector = Collector()
    traced = Server(telemetry_endpoint=collector.url)
    try:
        await traced.ready()
        async with httpx.AsyncClient(base_url=traced.url, timeout=120) as traced_client:
            return await bench_telemetry(
                args, network, (server, client), (traced, traced_client), collector
            )
    finally:
        traced.stop()
        collector.close()


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), "--profile" in sys.argv[3:], "--trace-memory" in sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    seeding.add_arguments(parser)
    parser.add_argument("--skip-seed", action="store_true", help="reuse a seeded database")
    parser.add_argument("--keep", action="store_true", help="keep the seeded tenants")
    parser.add_argument("--only", default=",".join(PARTS), help=f"subset of {','.join(PARTS)}")
    parser.add_argument("--requests", type=int, default=200, help="measured requests (latency)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--byid-requests", type=int, default=2000, help="per round (throughput)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating throughput rounds")
    parser.add_argument("--memory-tenants", type=int, default=1000)
    parser.add_argument(
        "--telemetry-rounds", type=int, default=10, help="interleaved rounds (telemetry)"
    )
    parser.add_argument("--out", default=str(RESULTS / "gateway.json"), help="results (JSON)")
    parser.add_argument("--profile", action="store_true", help="profile the server (slow parts)")
    parser.add_argument(
        "--trace-memory", action="store_true", help="memory: run the server under tracemalloc"
    )
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
