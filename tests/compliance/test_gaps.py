"""Gap analysis: direct results, the cross-walk, tenant mappings, ancestors, nonconformities."""

from __future__ import annotations

import pytest

from accord.compliance.evidence import service as evidence_service
from accord.compliance.gaps.service import analyse
from accord.compliance.mappings import service as mapping_service
from accord.compliance.vocab import Coverage, Relationship
from accord.compliance.workflow import service as finding_workflow
from accord.platform.errors import NotFound
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory
from tests.factories.records import evidence_input, finding_input

ISO45001 = "iso45001:2018"


async def _entry(runtime: Runtime, slug: str, clause: str, standard: str = ISO45001):  # type: ignore[no-untyped-def]
    async with tenant_session(runtime, slug) as session:
        result = await analyse(session=session, tenant_slug=slug, standard_id=standard)
    return result, {e.clause: e for e in result.report.entries}[clause]


async def test_evidence_on_one_standard_covers_its_harmonized_twin(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="gap")
    result, before = await _entry(runtime, tenant.slug, f"{ISO45001}/9.2.1")
    assert before.status == "no_evidence"
    assessable_before = result.report.assessable

    async with tenant_session(runtime, tenant.slug) as session:
        await evidence_service.add_evidence(
            session=session,
            data=evidence_input(clause_keys=["iso14001:2015/9.2.1"]),
            actor="user:anna",
        )
    result, entry = await _entry(runtime, tenant.slug, f"{ISO45001}/9.2.1")
    assert entry.status == "covered"
    assert entry.coverage == Coverage.FULL
    assert entry.direct is False
    assert entry.via == ("iso14001:2015/9.2.1", f"{ISO45001}/9.2.1")
    assert result.report.assessable == assessable_before
    assert result.report.covered == 1
    _, sibling = await _entry(runtime, tenant.slug, f"{ISO45001}/9.2.2")
    assert sibling.status == "no_evidence"


async def test_an_open_nonconformity_beats_inferred_coverage(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="gnc")
    async with tenant_session(runtime, tenant.slug) as session:
        await evidence_service.add_evidence(
            session=session, data=evidence_input(clause_keys=["iso14001:2015/8.1"]), actor="u"
        )
        await finding_workflow.raise_finding(
            session=session,
            data=finding_input(clause_keys=[f"{ISO45001}/8.1.1"], grade="minor_nonconformity"),
            actor="u",
        )
    result, entry = await _entry(runtime, tenant.slug, f"{ISO45001}/8.1.1")
    assert entry.status == "nonconforming"
    assert entry.direct is True
    assert result.report.open_nonconformity == {f"{ISO45001}/8.1.1": 1}
    assert f"{ISO45001}/8.1.1" in result.report.nonconforming


async def test_tenant_mappings_and_ancestors_give_partial_coverage(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="gpm")
    async with tenant_session(runtime, tenant.slug) as session:
        await mapping_service.add_tenant_mapping(
            session=session,
            actor="u",
            source_key="iso9001:2015/7.1.5.1",
            target_key=f"{ISO45001}/9.1.1",
            relationship=Relationship.INTERSECTS,
        )
        await evidence_service.add_evidence(
            session=session, data=evidence_input(clause_keys=["iso9001:2015/7.1.5.1"]), actor="u"
        )
        # 9001's 9.2 has no sub-clauses; 45001's has 9.2.1 and 9.2.2.
        await evidence_service.add_evidence(
            session=session, data=evidence_input(clause_keys=["iso9001:2015/9.2"]), actor="u"
        )
    result, mapped = await _entry(runtime, tenant.slug, f"{ISO45001}/9.1.1")
    assert mapped.status == "partial_only"
    assert mapped.coverage == Coverage.PARTIAL
    entries = {e.clause: e for e in result.report.entries}
    for leaf in (f"{ISO45001}/9.2.1", f"{ISO45001}/9.2.2"):
        assert entries[leaf].coverage == Coverage.PARTIAL
        assert entries[leaf].via[-2:] == (f"{ISO45001}/9.2", leaf)
    assert set(result.report.partial_only) >= {
        f"{ISO45001}/9.1.1",
        f"{ISO45001}/9.2.1",
        f"{ISO45001}/9.2.2",
    }


async def test_unknown_standard_is_an_error(runtime: Runtime, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant(label="gun")
    with pytest.raises(NotFound) as info:
        async with tenant_session(runtime, tenant.slug) as session:
            await analyse(session=session, tenant_slug=tenant.slug, standard_id="iso9999:2020")
    assert info.value.reason == "UNKNOWN_STANDARD"
