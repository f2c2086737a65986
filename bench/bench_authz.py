"""Action-gate benchmark: partitioned Casbin engine vs plain ``casbin.Enforcer``, same policies.

    python bench/bench_authz.py [--scales 100,1000] [--processes 25] [--plain-iterations 15]

For each scale (number of tenants) it generates, through the real compiler, one RACI
matrix per (tenant, process): an activity covering ``respond`` and ``close`` on one record
type, with four parties — the owner's quality manager Responsible, a partner's quality
manager Accountable, a partner's auditor Consulted, a partner's viewer Informed. That is
one grant line per RACI role: tenants × processes × 4 grant lines, plus the process's
governance denials, the letter-role and party links, each tenant's baseline rules and the
members' role links. It then measures, in the same run:

* a decision with nothing cached (the partition's decision memo cleared before each);
* the same decision repeated (memoised at policy granularity, never per record);
* every decision of realistic requests: 50-item pages over 10 tenants, three decisions
  per item (read, comment, close), a fresh request memo per page, engine memo cleared
  before each page (cold) — p50/p99 per decision;
* rebuilding one tenant's partition after a RACI change, and loading everything;
* memory held by the loaded policies (tracemalloc);
* plain ``casbin.Enforcer`` (same model.conf, same lines in priority order, same domain
  matching; fewer iterations) on the same uncached requests, checking identical answers.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import casbin  # type: ignore[import-untyped]
from casbin.model import Model  # type: ignore[import-untyped]
from rich.console import Console
from rich.table import Table

from accord.policies.baseline import baseline_rules, hierarchy_links
from accord.policies.compile import CompiledRule, compile_matrix
from accord.policies.enforcer import MODEL_TEXT, domain_matches
from accord.policies.engine import PolicyEngine
from accord.policies.raci import Activity, Matrix, Party
from accord.policies.schemas import Principal, Resource
from accord.policies.vocab import ACTIONS, RECORD_TYPES, Letter, role_subject, user_subject

console = Console()
MEMBER_ROLES = ("quality_manager", "auditor", "viewer", "executive")


@dataclass
class World:
    tenants: list[str]
    processes: list[str]
    rules: list[CompiledRule]
    record_type: dict[tuple[str, str], str]  # (owner, process) → record type
    partners: dict[str, list[str]]  # owner → partner tenants named in its matrices


def generate(n_tenants: int, n_processes: int, seed: int = 7) -> World:
    rng = random.Random(seed)
    tenants = [f"t{i:04d}" for i in range(n_tenants)]
    processes = [f"proc-{j:02d}" for j in range(n_processes)]
    rules: list[CompiledRule] = []
    kinds: dict[tuple[str, str], str] = {}
    partners: dict[str, list[str]] = {}
    for t in tenants:
        others = rng.sample([x for x in tenants if x != t], k=min(3, len(tenants) - 1))
        partners[t] = others
        for j, proc in enumerate(processes):
            a, c, i = (others * 3)[j % len(others)], others[1 % len(others)], others[-1]
            kind = RECORD_TYPES[j % len(RECORD_TYPES)]
            kinds[(t, proc)] = kind
            parties = (Party(t, "quality_manager"), Party(a, "quality_manager"))
            parties += (Party(c, "auditor"), Party(i, "viewer"))
            keys = [p.key for p in parties]
            cells = [frozenset({x}) for x in Letter]  # R, A, C, I in that order
            matrix = Matrix(
                name=f"{t} {proc}",
                process=f"{t}-{proc}",
                owners=(t,),
                parties=tuple(dict.fromkeys(parties)),
                activities=(Activity("Work", kind, ("respond", "close")),),
                cells={"Work": dict(zip(keys, cells, strict=True))},
            )
            rules.extend(compile_matrix(matrix))
    return World(tenants, processes, rules, kinds, partners)


def principals_of(tenant: str) -> list[Principal]:
    return [Principal.of(tenant, f"{r}-1", r) for r in MEMBER_ROLES]


def requests(world: World, n: int, seed: int = 11) -> list[tuple[Principal, str, Resource]]:
    """A mix: partners acting on an owner's process records, own members, strangers."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        owner = rng.choice(world.tenants)
        proc = rng.choice(world.processes)
        who_tenant = rng.choice([owner, *world.partners[owner], rng.choice(world.tenants)])
        who = rng.choice(principals_of(who_tenant))
        resource = Resource(owner, world.record_type[(owner, proc)], f"{owner}-{proc}")
        if rng.random() < 0.2:
            resource = Resource(owner, rng.choice(RECORD_TYPES))
        out.append((who, rng.choice(ACTIONS), resource))
    return out


def load_engine(world: World) -> PolicyEngine:
    engine = PolicyEngine()
    engine.load_all(world.rules, dict.fromkeys(world.tenants, 1))
    return engine


def plain_enforcer(world: World) -> casbin.Enforcer:
    """All lines in one ``casbin.Enforcer``: grants, then denials, then baselines (the order
    that keeps each request's priority), members and hierarchies as in the engine."""
    model = Model()
    model.load_model_from_text(MODEL_TEXT)
    enforcer = casbin.Enforcer(model)
    enforcer.add_named_domain_matching_func("g", domain_matches)
    enforcer.add_named_matching_func("g", None)
    p = [list(r.values) for r in world.rules if r.ptype == "p" and r.values[5] == "allow"]
    p += [list(r.values) for r in world.rules if r.ptype == "p" and r.values[5] == "deny"]
    p += [rule for t in world.tenants for rule in baseline_rules(t)]
    g = [list(r.values) for r in world.rules if r.ptype == "g"]
    g += [link for t in world.tenants for link in hierarchy_links(t)]
    g += [
        [user_subject(t, who.subject), role_subject(t, role), "*"]
        for t in world.tenants
        for who in principals_of(t)
        for role in who.roles
    ]
    enforcer.model.model["p"]["p"].policy = p
    enforcer.model.model["g"]["g"].policy = g
    enforcer.build_role_links()
    return enforcer


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - started) / 1000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def held_bytes(build: Callable[[], object]) -> tuple[int, object]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, kept


def bench_scale(n_tenants: int, n_processes: int, plain_iterations: int) -> dict[str, str]:
    console.print(f"[bold]{n_tenants} tenants × {n_processes} processes[/bold]")
    world = generate(n_tenants, n_processes)
    grants = sum(1 for r in world.rules if r.ptype == "p" and r.values[5] == "allow")
    denials = sum(1 for r in world.rules if r.ptype == "p" and r.values[5] == "deny")
    links = sum(1 for r in world.rules if r.ptype == "g")
    engine_bytes, _ = held_bytes(lambda: load_engine(world))
    load_s = timed(lambda: load_engine(world)) / 1e6
    engine = load_engine(world)
    # Every bench principal signs in once: its role links are added to the partitions it asks.
    sample = requests(world, 4000)
    for who, action, res in sample:
        engine.authorize(who, action, res)
    gc.collect()
    gc.freeze()  # what a server does after start-up: the loaded policies leave the GC's scans

    def cold(req: tuple[Principal, str, Resource]) -> float:
        who, action, res = req
        partition = engine.partition(res.owner)
        assert partition is not None
        partition.decisions.clear()
        return timed(lambda: engine.authorize(who, action, res))

    uncached = [cold(r) for r in sample]
    first_sight = [
        timed(
            partial(engine.authorize, Principal.of(who.tenant or "", f"new-{i}", *who.roles), a, r)
        )
        for i, (who, a, r) in enumerate(sample[:1000])
    ]
    cached = [repeated(engine, r) for r in sample]
    page_decisions(world, engine, pages=200)  # the same pages once: their users sign in
    page = page_decisions(world, engine, pages=200)
    domain = world.tenants[len(world.tenants) // 2]
    mine = [r for r in world.rules if r.domain == domain]
    reload_us = [timed(partial(engine.load, domain, mine, version=2)) for _ in range(5)]
    reload_ms = statistics.median(reload_us) / 1000

    console.print("  plain casbin.Enforcer …")
    plain_bytes, plain = held_bytes(lambda: plain_enforcer(world))
    plain_times, mismatches = [], 0
    for who, action, res in sample[: plain_iterations + 1]:
        sub = user_subject(str(who.tenant), who.subject)
        args = (sub, res.owner, res.record_type, res.process_value, action)
        started = time.perf_counter_ns()
        allowed = plain.enforce(*args)  # type: ignore[attr-defined]
        plain_times.append((time.perf_counter_ns() - started) / 1000)
        mismatches += allowed != engine.authorize(who, action, res).allowed
    plain_times = plain_times[1:]  # the first call builds Casbin's role graph of its domain
    gc.unfreeze()
    plain_p50 = statistics.median(plain_times)
    return {
        "tenants": f"{n_tenants}",
        "lines": f"{grants:,} grants + {denials:,} denials + {links:,} links (+ baseline)",
        "load": f"{load_s:.2f} s",
        "memory": f"{engine_bytes / 2**20:.0f} MiB (plain {plain_bytes / 2**20:.0f} MiB)",
        "uncached": f"{statistics.median(uncached):.1f} / {pct(uncached, 0.99):.0f} µs",
        "cached": f"{statistics.median(cached):.2f} µs",
        "first": f"{statistics.median(first_sight):.0f} / {pct(first_sight, 0.99):.0f} µs",
        "page": f"{statistics.median(page):.1f} / {pct(page, 0.99):.0f} µs",
        "reload": f"{reload_ms:.1f} ms",
        "plain": f"{plain_p50 / 1000:.1f} ms (n={len(plain_times)})",
        "ratio": f"{plain_p50 / statistics.median(uncached):,.0f}×",
        "same answers": "yes" if mismatches == 0 else f"NO ({mismatches} differ)",
    }


def repeated(engine: PolicyEngine, req: tuple[Principal, str, Resource]) -> float:
    engine.authorize(*req)
    return timed(lambda: engine.authorize(*req))


def page_decisions(world: World, engine: PolicyEngine, *, pages: int) -> list[float]:
    """Per-decision times of 50-item federated pages over 10 tenants (cold engine memo)."""
    rng = random.Random(3)
    times: list[float] = []
    for _ in range(pages):
        viewer = rng.choice(principals_of(rng.choice(world.tenants)))
        owners = rng.sample(world.tenants, 10)
        for owner in owners:
            partition = engine.partition(owner)
            if partition is not None:
                partition.decisions.clear()
        request = engine.for_request()
        for _ in range(50):
            owner = rng.choice(owners)
            proc = rng.choice(world.processes[:5])
            res = Resource(owner, world.record_type[(owner, proc)], f"{owner}-{proc}")
            for action in ("read", "comment", "close"):
                times.append(timed(partial(request.authorize, viewer, action, res)))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="100,1000", help="tenant counts, comma-separated")
    parser.add_argument("--processes", type=int, default=25)
    parser.add_argument("--plain-iterations", type=int, default=15)
    args = parser.parse_args()
    rows = [
        bench_scale(int(n), args.processes, args.plain_iterations) for n in args.scales.split(",")
    ]
    table = Table(title="Action gate: partitioned Casbin vs plain casbin.Enforcer")
    table.add_column("metric")
    for row in rows:
        table.add_column(f"{row['tenants']} tenants", justify="right")
    labels = {
        "lines": "policy lines",
        "load": "load all partitions",
        "memory": "memory of loaded policies",
        "uncached": "decision, nothing cached p50 / p99",
        "cached": "repeated decision (memo) p50",
        "first": "a user's first decision in a tenant (adds role links) p50 / p99",
        "page": "50-item page over 10 tenants, per decision p50 / p99",
        "reload": "rebuild one tenant after a RACI change",
        "plain": "plain casbin.Enforcer, p50 per decision",
        "ratio": "plain / partitioned (uncached p50)",
        "same answers": "same answers as plain",
    }
    for key, label in labels.items():
        table.add_row(label, *(row[key] for row in rows))
    console.print(table)
    console.print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, casbin {casbin_version()}"
    )


def casbin_version() -> str:
    from importlib.metadata import version

    return version("casbin")


if __name__ == "__main__":
    main()
