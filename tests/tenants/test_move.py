"""Moving a tenant between stores (the home store and a second, separate server): nothing
lost or doubled, writes during the move kept or refused with a retry hint, partners' reads
and the access log still working, interrupted moves finished or rolled back."""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from accord.compliance.workflow import service as finding_service
from accord.compliance.findings.models import Finding
from accord.compliance.sharing.reads import read_records
from accord.platform.db import TenantScope
from accord.platform.errors import AccordError, ErrorCode
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.runtime import Runtime
from accord.policies.compile import compile_matrix
from accord.policies.engine import PolicyEngine
from accord.policies.raci import Activity, Matrix, Party
from accord.policies.schemas import Principal
from accord.policies.vocab import Letter
from accord.tenants.agreements.access import read_access_log
from accord.tenants.archive import export_tenant
from accord.tenants.moves import MOVED_ACTION, _create_copy_objects, move_tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, TenantFactory, subprocess_env, unique_slug
from tests.factories.cli import accord
from tests.factories.records import finding_input, new_capa
from tests.factories.sharing import grant, raise_findings, report_incidents
from tests.factories.tenants import control_row, role_exists, schema_exists

PROCESS = f"supplier-quality-{secrets.token_hex(3)}"


def _informed(reader: str, owner: str) -> PolicyEngine:
    """``reader``'s quality managers are Informed on ``owner``'s findings in PROCESS."""
    informed, accountable = Party(reader, role="quality_manager"), Party(owner, role="admin")
    matrix = Matrix(
        name=f"matrix {PROCESS}",
        process=PROCESS,
        owners=(owner,),
        parties=(informed, accountable),
        activities=(Activity(name="Follow findings", record_type="finding", actions=()),),
        cells={
            "Follow findings": {
                informed.key: frozenset({Letter.INFORMED}),
                accountable.key: frozenset({Letter.ACCOUNTABLE}),
            }
        },
    )
    engine = PolicyEngine()
    engine.load_all(compile_matrix(matrix), {})
    return engine


async def _partner_reads(runtime: Runtime, reader: str, owner: str) -> set[str]:
    read = await read_records(
        runtime,
        authorizer=_informed(reader, owner),
        principal=Principal.of(reader, "nadia", "quality_manager"),
        record_type="finding",
        process=PROCESS,
    )
    assert read.errors == []
    seen = {str(r["fields"]["id"]) for r in read.records if r["owner"] == owner}
    assert seen
    return seen


async def _findings_by_reference(runtime: Runtime, slug: str) -> dict[str, int]:
    async with tenant_session(runtime, slug) as session:
        rows = await session.execute(
            select(Finding.reference, func.count()).group_by(Finding.reference)
        )
        return {reference: count for reference, count in rows.all()}


async def test_a_moved_tenant_keeps_every_record_and_its_partners_reads(
    runtime: Runtime, make_tenant: TenantFactory, tmp_path: Path
) -> None:
    owner, reader = await make_tenant(label="mv"), await make_tenant(label="rd")
    await raise_findings(runtime, owner.slug, ("major_nonconformity", 2), ("observation", 1))
    await report_incidents(runtime, owner.slug, 2)
    await new_capa(runtime, owner.slug)
    await grant(runtime, owner.slug, reader.slug, "full")
    seen_before = await _partner_reads(runtime, reader.slug, owner.slug)
    before = await export_tenant(runtime, slug=owner.slug, directory=tmp_path / "before")

    result = await move_tenant(
        runtime, slug=owner.slug, store=SECOND_STORE, work_root=tmp_path / "work"
    )

    assert (result.source, result.target, result.moved) == ("home", SECOND_STORE, True)
    assert result.rows == before.rows
    assert result.content_hash == before.content_hash
    row = await control_row(runtime, owner.slug)
    assert row is not None and row.store == SECOND_STORE
    assert not await schema_exists(runtime, "home", owner.scope.schema)
    assert not await role_exists(runtime, "home", owner.scope.role)
    assert not any((tmp_path / "work").iterdir())
    # Every table holds what it held; the event log one entry more: the move itself.
    after = await export_tenant(runtime, slug=owner.slug, directory=tmp_path / "after")
    assert {t: n for t, n in after.rows.items() if t != "event_log"} == {
        t: n for t, n in before.rows.items() if t != "event_log"
    }
    assert after.rows["event_log"] == before.rows["event_log"] + 1
    async with tenant_session(runtime, owner.slug) as session:
        verdict = await verify_chain(session)
        last = await session.scalar(select(EventLogEntry).order_by(EventLogEntry.seq.desc()))
    assert verdict.ok and verdict.entries == after.rows["event_log"]
    assert last is not None and last.action == MOVED_ACTION
    assert last.change["from"] == "home" and last.change["to"] == SECOND_STORE
    # The partner still reads the same findings, and the owner's log (moved with it) grows.
    assert await _partner_reads(runtime, reader.slug, owner.slug) == seen_before
    async with tenant_session(runtime, owner.slug) as session:
        log = await read_access_log(session=session)
    assert len(log) == before.rows["access_log"] + 1
    assert {entry.grantee for entry in log} == {reader.slug}
    # And it moves back.
    back = await move_tenant(runtime, slug=owner.slug, store="home", work_root=tmp_path / "work")
    assert (back.source, back.target) == (SECOND_STORE, "home")
    assert not await schema_exists(runtime, SECOND_STORE, owner.scope.schema)
    assert await _partner_reads(runtime, reader.slug, owner.slug) == seen_before


async def test_writes_during_a_move_are_kept_or_refused_with_a_retry_hint_never_lost(
    runtime: Runtime, make_tenant: TenantFactory, tmp_path: Path
) -> None:
    owner = await make_tenant(label="mw")
    await raise_findings(runtime, owner.slug, ("observation", 20))
    acknowledged: list[str] = []
    refused: list[AccordError] = []
    moving = asyncio.Event()
    done = asyncio.Event()

    async def write_one() -> None:
        reference = f"W-{secrets.token_hex(4)}"
        try:
            async with tenant_session(runtime, owner.slug) as session:
                await finding_service.raise_finding(
                    session=session, data=finding_input(reference=reference), actor="user:w"
                )
        except AccordError as exc:
            refused.append(exc)
            return
        acknowledged.append(reference)

    async def writer() -> None:
        while not done.is_set():
            await write_one()
            await asyncio.sleep(0.005)

    waiting: list[asyncio.Task[None]] = []

    def step(line: str) -> None:
        if line.startswith("verifying"):
            # Writers that start now wait on the source's lock until the switch.
            waiting.extend(asyncio.create_task(write_one()) for _ in range(3))
            moving.set()

    writers = [asyncio.create_task(writer()) for _ in range(2)]
    await asyncio.sleep(0.2)
    await move_tenant(
        runtime, slug=owner.slug, store=SECOND_STORE, work_root=tmp_path, on_step=step
    )
    assert moving.is_set()
    await asyncio.gather(*waiting)
    await asyncio.sleep(0.2)
    done.set()
    await asyncio.gather(*writers)

    # The writes that started while the copy was verified waited, then were refused.
    assert refused
    for exc in refused:
        assert exc.code == ErrorCode.TENANT_UNAVAILABLE
        assert exc.reason == "TENANT_MOVED"
        assert "Retry in" in exc.message
    stored = await _findings_by_reference(runtime, owner.slug)
    # Every acknowledged write is on the new store, once; nothing else was written.
    assert {ref: stored.get(ref) for ref in acknowledged} == dict.fromkeys(acknowledged, 1)
    assert sum(stored.values()) == 20 + len(acknowledged)
    assert len(acknowledged) > 3  # writes went on before and after the move
    async with tenant_session(runtime, owner.slug) as session:
        assert (await verify_chain(session)).ok


async def test_a_move_interrupted_after_the_switch_is_finished_by_the_next(
    runtime: Runtime, make_tenant: TenantFactory, tmp_path: Path
) -> None:
    owner = await make_tenant(label="ma")
    await raise_findings(runtime, owner.slug, ("observation", 3))

    def crash(line: str) -> None:
        if line.startswith("switched"):
            raise KeyboardInterrupt  # the process dies between the switch and the drop

    with pytest.raises(KeyboardInterrupt):
        await move_tenant(
            runtime, slug=owner.slug, store=SECOND_STORE, work_root=tmp_path, on_step=crash
        )
    row = await control_row(runtime, owner.slug)
    assert row is not None and row.store == SECOND_STORE
    assert await schema_exists(runtime, "home", owner.scope.schema)  # the old copy is left
    assert len(await _findings_by_reference(runtime, owner.slug)) == 3

    again = await move_tenant(runtime, slug=owner.slug, store=SECOND_STORE, work_root=tmp_path)
    assert (again.moved, again.cleaned) == (False, ["home"])
    assert not await schema_exists(runtime, "home", owner.scope.schema)


async def test_an_old_copy_that_changed_after_the_switch_is_kept_and_reported(
    runtime: Runtime, make_tenant: TenantFactory, tmp_path: Path
) -> None:
    owner = await make_tenant(label="md")
    await raise_findings(runtime, owner.slug, ("observation", 2))

    def crash(line: str) -> None:
        if line.startswith("switched"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await move_tenant(
            runtime, slug=owner.slug, store=SECOND_STORE, work_root=tmp_path, on_step=crash
        )
    # A write that reached the old copy in that instant.
    async with runtime.stores.migrator_engine("home").begin() as conn:
        await conn.execute(text(f"update \"{owner.scope.schema}\".findings set title = 'late'"))
    with pytest.raises(AccordError) as refused:
        await move_tenant(runtime, slug=owner.slug, store=SECOND_STORE, work_root=tmp_path)
    assert refused.value.reason == "MOVE_DIVERGED"
    assert owner.scope.schema in refused.value.message
    assert await schema_exists(runtime, "home", owner.scope.schema)


async def test_a_move_interrupted_before_the_switch_is_rolled_back(
    runtime: Runtime, make_tenant: TenantFactory, tmp_path: Path
) -> None:
    owner = await make_tenant(label="mb")
    await raise_findings(runtime, owner.slug, ("observation", 2))

    def fail(line: str) -> None:
        if line.startswith("verifying"):
            raise RuntimeError("target went away")

    with pytest.raises(RuntimeError):
        await move_tenant(
            runtime, slug=owner.slug, store=SECOND_STORE, work_root=tmp_path, on_step=fail
        )
    row = await control_row(runtime, owner.slug)
    assert row is not None and row.store == "home"
    assert not await schema_exists(runtime, SECOND_STORE, owner.scope.schema)
    await raise_findings(runtime, owner.slug, ("observation", 1))  # still writable
    # A killed process leaves a committed copy on the target: the next move drops it first.
    async with runtime.stores.migrator_engine(SECOND_STORE).begin() as conn:
        await _create_copy_objects(conn, TenantScope(slug=owner.slug, store=SECOND_STORE))
    result = await move_tenant(runtime, slug=owner.slug, store=SECOND_STORE, work_root=tmp_path)
    assert result.cleaned == [SECOND_STORE] and result.moved
    assert len(await _findings_by_reference(runtime, owner.slug)) == 3


async def test_a_move_nowhere_or_of_no_one_changes_nothing(
    runtime: Runtime, make_tenant: TenantFactory, tmp_path: Path
) -> None:
    owner = await make_tenant(label="mn")
    with pytest.raises(AccordError) as unknown_store:
        await move_tenant(runtime, slug=owner.slug, store="atlantis", work_root=tmp_path)
    assert (unknown_store.value.code, unknown_store.value.reason) == (
        ErrorCode.NOT_FOUND,
        "UNKNOWN_STORE",
    )
    with pytest.raises(AccordError) as unknown_tenant:
        await move_tenant(runtime, slug="tst_nobody_here", store=SECOND_STORE, work_root=tmp_path)
    assert unknown_tenant.value.reason == "UNKNOWN_TENANT"
    same = await move_tenant(runtime, slug=owner.slug, store="home", work_root=tmp_path)
    assert (same.moved, same.cleaned) == (False, [])
    row = await control_row(runtime, owner.slug)
    assert row is not None and row.store == "home"
    assert not await schema_exists(runtime, SECOND_STORE, owner.scope.schema)


@pytest.mark.slow
def test_the_command_moves_a_tenant_and_says_what_it_did(runtime: Runtime) -> None:
    slug = unique_slug("mc")
    created = accord("tenant", "create", slug, "--name", "Move Ltd", "--jurisdiction", "DE")
    assert created.returncode == 0, created.stderr
    nowhere = accord("tenant", "move", slug, "--store", "atlantis")
    assert nowhere.returncode == 2
    assert "NOT_FOUND/UNKNOWN_STORE" in nowhere.stderr
    moved = accord("tenant", "move", slug, "--store", SECOND_STORE)
    assert moved.returncode == 0, moved.stderr
    assert f"moved {slug} from home to {SECOND_STORE}" in moved.stdout
    assert "event-log entries verified" in moved.stdout
    assert "switched" in moved.stderr  # the steps, as they happen
    shown = json.loads(accord("tenant", "show", slug, "--json").stdout)
    assert shown["store"] == SECOND_STORE
    again = json.loads(accord("tenant", "move", slug, "--store", SECOND_STORE, "--json").stdout)
    assert (again["moved"], again["target"], again["cleaned"]) == (False, SECOND_STORE, [])
    verified = accord("eventlog", "verify", "--tenant", slug)
    assert verified.returncode == 0, verified.stderr


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", ["copying", "verifying", "switched"])
async def test_a_killed_move_is_rolled_back_or_finished_by_the_next(
    runtime: Runtime, make_tenant: TenantFactory, tmp_path: Path, kill_at: str
) -> None:
    owner = await make_tenant(label="mk")
    await raise_findings(runtime, owner.slug, ("observation", 4))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "accord",
        "tenant",
        "move",
        owner.slug,
        "--store",
        SECOND_STORE,
        env=subprocess_env(COLUMNS="200"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    async with asyncio.timeout(180):
        while not (line := (await process.stderr.readline()).decode()).startswith(kill_at):
            assert line, "the move ended before the step it was to be killed at"
        process.kill()  # SIGKILL: no clean-up of any kind
        await process.wait()

    # Whatever it held was released with its connections: the tenant takes writes at once.
    await raise_findings(runtime, owner.slug, ("observation", 1))
    # Run again: rolled back (then moved now) or switched (then the old copy is dropped).
    await move_tenant(runtime, slug=owner.slug, store=SECOND_STORE, work_root=tmp_path)
    row = await control_row(runtime, owner.slug)
    assert row is not None and row.store == SECOND_STORE
    assert not await schema_exists(runtime, "home", owner.scope.schema)
    assert sum((await _findings_by_reference(runtime, owner.slug)).values()) == 5
    async with tenant_session(runtime, owner.slug) as session:
        assert (await verify_chain(session)).ok
