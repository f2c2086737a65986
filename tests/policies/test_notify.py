"""Policy changes reach every process within a second (LISTEN/NOTIFY on accord_policies).

Two engines, each with its own listener and LISTEN connection, stand for two API
processes; a change imported through one process's session flips the other's decision.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from accord.platform.runtime import Runtime
from accord.policies import service
from accord.policies.engine import PolicyEngine
from accord.policies.notify import PolicyListener, stale_domains
from accord.policies.schemas import Decision, Principal, Resource
from tests.policies.conftest import Partners, supplier_quality


@pytest.fixture
async def two_processes(runtime: Runtime) -> AsyncIterator[tuple[PolicyEngine, PolicyEngine]]:
    engines = (PolicyEngine(), PolicyEngine())
    listeners = [PolicyListener(runtime, engine) for engine in engines]
    for listener in listeners:
        await listener.start()
    yield engines
    for listener in listeners:
        await listener.stop()


async def _until(check: object, *, within: float) -> float:
    assert callable(check)
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > within:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(0.005)
    return time.perf_counter() - started


async def _import(runtime: Runtime, text: str) -> None:
    async with runtime.control_session() as session:
        await service.import_matrix(session=session, text=text, fmt="yaml")


async def test_a_change_in_one_process_flips_the_other_within_a_second(
    runtime: Runtime, partners: Partners, two_processes: tuple[PolicyEngine, PolicyEngine]
) -> None:
    first, second = two_processes
    northwind_qm = Principal.of(partners.northwind, "nils", "quality_manager")
    meridian_qm = Principal.of(partners.meridian, "mia", "quality_manager")
    finding = Resource(partners.globex, "finding", partners.process("supplier-quality-2027"))
    original = supplier_quality(partners)
    await _import(runtime, original)
    await _until(lambda: second.authorize(northwind_qm, "close", finding).allowed, within=1.0)

    request = second.for_request()  # a request in flight on the second process
    assert request.authorize(northwind_qm, "close", finding).allowed
    assert not request.authorize(meridian_qm, "close", finding).allowed
    cached = second.authorize(northwind_qm, "close", finding)
    assert second.authorize(northwind_qm, "close", finding) is cached  # memoised

    # The first process hands accountability for closure from northwind to meridian.
    n, m = partners.northwind, partners.meridian
    changed = original.replace(
        f"    role:{n}/quality_manager: A\n    user:{n}/nadia: C\n    role:{m}/quality_manager: I",
        f"    role:{n}/quality_manager: C\n    user:{n}/nadia: C\n    role:{m}/quality_manager: A",
    )
    assert changed != original
    await _import(runtime, changed)
    # Both sides of the hand-over must have flipped on the second process within a second.
    took = await _until(
        lambda: (
            not second.authorize(northwind_qm, "close", finding).allowed
            and second.authorize(meridian_qm, "close", finding).allowed
        ),
        within=1.0,
    )
    assert took < 1.0
    assert first.authorize(meridian_qm, "close", finding).allowed
    # The request's memo is keyed on the policy version: it sees the change too.
    flipped: Decision = request.authorize(northwind_qm, "close", finding)
    assert not flipped.allowed and "governed" in flipped.explain
    assert second.loaded_versions[partners.globex] == first.loaded_versions[partners.globex]

    await _import(runtime, original)  # and back, for the other tests
    await _until(lambda: second.authorize(northwind_qm, "close", finding).allowed, within=1.0)


async def test_a_rolled_back_change_is_never_announced(
    runtime: Runtime, partners: Partners, two_processes: tuple[PolicyEngine, PolicyEngine]
) -> None:
    _, second = two_processes
    version = second.version
    with pytest.raises(RuntimeError):
        async with runtime.control_session() as session:
            await service.import_matrix(
                session=session, text=supplier_quality(partners), fmt="yaml"
            )
            raise RuntimeError("the caller fails after the import")
    await asyncio.sleep(0.3)
    assert second.version == version


def test_notifications_name_only_newer_versions() -> None:
    engine = PolicyEngine()
    engine.load("acme", [], version=3)
    assert stale_domains(engine, '{"domains": {"acme": 3, "zenith": 1}}') == {"zenith"}
    assert stale_domains(engine, '{"domains": {"acme": 4}}') == {"acme"}
    assert stale_domains(engine, "not json") == set()
