"""Bad matrices: every problem is reported at once and nothing is stored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from accord.platform.runtime import Runtime
from accord.policies import service
from accord.policies.compile import CompiledRule, cycle_problems
from accord.policies.models import PolicyDomain, PolicyRule, RaciMatrix
from accord.policies.raci import RaciInvalid, find_cycles
from tests.factories.policies import bad_yaml
from tests.policies.conftest import Partners, supplier_quality


def bad_csv(p: Partners) -> str:
    g, n = p.globex, p.northwind
    return (
        f"matrix,Broken spreadsheet {p.tag}\n"
        f"process,{p.process('broken-csv')}\n"
        f"owners,{g}\n"
        f"activity,record_type,actions,owners,role:{g}/quality_manager,"
        f"role:{n}/quality_manager,role:{n}/quality_manager,role:nobody_inc/viewer,"
        f"role:{g}/janitor\n"
        "Respond,finding,respond,,R,A,,A,\n"
        "Close,finding,close,,C,,,I,R\n"
    )


async def _stored(runtime: Runtime, name: str) -> tuple[int, int]:
    async with runtime.control_session() as session:
        matrices = await session.scalar(
            select(func.count()).select_from(RaciMatrix).where(RaciMatrix.name == name)
        )
        rules = await session.scalar(
            select(func.count()).select_from(PolicyRule).where(PolicyRule.matrix == name)
        )
        return matrices or 0, rules or 0


async def _import_fails(runtime: Runtime, text: str, fmt: str) -> list[tuple[str, str]]:
    async with runtime.control_session() as session:
        _, _, problems = await service.check(session=session, text=text, fmt=fmt)
    with pytest.raises(RaciInvalid) as caught:
        async with runtime.control_session() as session:
            await service.import_matrix(session=session, text=text, fmt=fmt)
    assert [(p.code, p.where) for p in caught.value.problems] == [
        (p.code, p.where) for p in problems
    ]
    return [(p.code, p.where) for p in problems]


async def test_bad_yaml_reports_every_problem_and_stores_nothing(
    runtime: Runtime, partners: Partners
) -> None:
    g, n = partners.globex, partners.northwind
    async with runtime.control_session() as session:
        versions_before = dict(
            (await session.execute(select(PolicyDomain.domain, PolicyDomain.version))).all()
        )
    found = await _import_fails(runtime, bad_yaml(partners), "yaml")
    expected = {
        ("UNKNOWN_TENANT", "owners"),
        ("DUPLICATE_PARTY", f"role:{n}/quality_manager"),
        ("UNKNOWN_ROLE", f"role:{n}/chief_wizard"),
        ("UNKNOWN_TENANT", "user:ghost_corp/casper"),
        ("MULTIPLE_ACCOUNTABLE", "activity 'Two accountables'"),
        ("NO_ACCOUNTABLE", "activity 'No accountable'"),
        ("BAD_LETTER", f"raci 'No accountable' / role:{n}/quality_manager"),
        ("UNKNOWN_RECORD_TYPE", "activity 'Odd type'"),
        ("UNKNOWN_ACTION", "activity 'Odd type'"),
        ("UNKNOWN_ACTIVITY", "Not an activity"),
        ("UNKNOWN_PARTY", "Not an activity"),
    }
    assert expected <= set(found), sorted(expected - set(found))
    assert f"role:{g}/quality_manager" not in {w for _, w in found}
    assert await _stored(runtime, f"Broken matrix {partners.tag}") == (0, 0)
    async with runtime.control_session() as session:
        versions_after = dict(
            (await session.execute(select(PolicyDomain.domain, PolicyDomain.version))).all()
        )
    assert {d: v for d, v in versions_after.items() if d in versions_before} == versions_before


async def test_bad_csv_reports_every_problem_and_stores_nothing(
    runtime: Runtime, partners: Partners
) -> None:
    n = partners.northwind
    found = await _import_fails(runtime, bad_csv(partners), "csv")
    codes = [c for c, _ in found]
    assert ("DUPLICATE_PARTY", f"role:{n}/quality_manager") in found
    assert ("UNKNOWN_TENANT", "role:nobody_inc/viewer") in found
    assert ("UNKNOWN_ROLE", f"role:{partners.globex}/janitor") in found
    assert ("MULTIPLE_ACCOUNTABLE", "activity 'Respond'") in found
    assert ("NO_ACCOUNTABLE", "activity 'Close'") in found
    assert len(codes) == 5, found
    assert await _stored(runtime, f"Broken spreadsheet {partners.tag}") == (0, 0)


async def test_invalid_replacement_keeps_the_stored_matrix(
    runtime: Runtime, partners: Partners
) -> None:
    good = supplier_quality(partners)
    name = f"Supplier quality 2027 {partners.tag}"
    async with runtime.control_session() as session:
        first = await service.import_matrix(session=session, text=good, fmt="yaml")
    broken = good.replace(f"role:{partners.meridian}/quality_manager: I", "role:x/y: A")
    with pytest.raises(RaciInvalid):
        async with runtime.control_session() as session:
            await service.import_matrix(session=session, text=broken, fmt="yaml")
    async with runtime.control_session() as session:
        row = await service.get_matrix(session=session, name=name)
        assert row.source == good and row.version == first.version
    assert await _stored(runtime, name) == (1, first.rules)


async def test_a_process_belongs_to_one_matrix(runtime: Runtime, partners: Partners) -> None:
    good = supplier_quality(partners)
    async with runtime.control_session() as session:
        await service.import_matrix(session=session, text=good, fmt="yaml")
    clash = good.replace("name: Supplier quality 2027", "name: Another name for")
    async with runtime.control_session() as session:
        _, _, problems = await service.check(session=session, text=clash, fmt="yaml")
    assert [p.code for p in problems] == ["PROCESS_TAKEN"]


def test_role_inheritance_cycles_are_found() -> None:
    assert find_cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c", "a"]]
    assert find_cycles({"r": ["c"], "a": ["c"], "c": ["i"]}) == []
    rules = [
        CompiledRule("g", ("role:t/x", "role:t/y", "t"), "t", "m"),
        CompiledRule("g", ("role:t/y", "role:t/x", "t"), "t", "m"),
        CompiledRule("g", ("role:u/x", "role:u/y", "u"), "u", "m"),
    ]
    problems = cycle_problems(rules)
    assert [(p.code, p.where, p.message) for p in problems] == [
        ("ROLE_CYCLE", "domain t", "role:t/x → role:t/y → role:t/x")
    ]


async def test_deleting_a_matrix_removes_its_lines_and_bumps_its_domains(
    runtime: Runtime, partners: Partners
) -> None:
    text = supplier_quality(partners).replace("Supplier quality 2027", "Short-lived")
    text = text.replace("supplier-quality-2027", "short-lived")
    async with runtime.control_session() as session:
        imported = await service.import_matrix(session=session, text=text, fmt="yaml")
    name = imported.matrix.name
    async with runtime.control_session() as session:
        bumped = await service.delete_matrix(session=session, name=name)
    assert bumped == {partners.globex: imported.domains[partners.globex] + 1}
    assert await _stored(runtime, name) == (0, 0)
