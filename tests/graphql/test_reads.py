"""Finding reads over HTTP: keyset pages, both gates, redaction, revocation, partial data."""

from __future__ import annotations

from typing import Any

from accord.platform.runtime import Runtime
from accord.policies import service as policy_service
from accord.tenants.agreements import service as agreements
from tests.conftest import TenantFactory
from tests.factories.api import FINDINGS
from tests.factories.sharing import grant
from tests.graphql.conftest import Api, Partners, follow_findings, new_process, raise_findings


def nodes(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["node"] for e in body["data"]["findings"]["edges"]]


def owners(body: dict[str, Any]) -> set[str]:
    return {n["tenant"] for n in nodes(body)}


async def test_own_findings_come_in_keyset_pages(api: Api, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant(label="own")
    await raise_findings(api.runtime, tenant.slug, 3)
    token = await api.sign_in(tenant, "qm", "quality_manager")

    first = await api.post(FINDINGS, {"first": 2}, token=token)
    assert "errors" not in first, first
    info = first["data"]["findings"]["pageInfo"]
    assert (info["hasNextPage"], info["hasPreviousPage"]) == (True, False)
    second = await api.post(FINDINGS, {"first": 2, "after": info["endCursor"]}, token=token)
    assert "errors" not in second, second
    info = second["data"]["findings"]["pageInfo"]
    assert (info["hasNextPage"], info["hasPreviousPage"]) == (False, True)

    one, two = nodes(first), nodes(second)
    assert (len(one), len(two)) == (2, 1)
    assert not {n["id"] for n in one} & {n["id"] for n in two}
    for node in one + two:
        assert (node["tenant"], node["level"]) == (tenant.slug, "FULL")
        assert node["title"] and node["raisedBy"] == "user:anna.keller"
        assert node["owningTenant"] == {"slug": tenant.slug}


async def test_a_summary_partner_with_a_raci_role_sees_redacted_findings(
    api: Api, partners: Partners
) -> None:
    token = await api.sign_in(partners.northwind, "nadia", "quality_manager")
    body = await api.post(FINDINGS, {"first": 50, "process": partners.process}, token=token)
    assert "errors" not in body, body
    theirs = [n for n in nodes(body) if n["tenant"] == partners.meridian.slug]
    assert sorted(n["id"] for n in theirs) == sorted(
        n["id"] for n in nodes(body) if n["tenant"] != partners.northwind.slug
    )
    assert len(theirs) == 2
    for node in theirs:
        assert node["level"] == "SUMMARY"
        assert node["grade"] == "MAJOR_NONCONFORMITY" and node["reference"]
        assert node["clauseKeys"] == ["iso9001:2015/8.4"]
        assert (node["title"], node["condition"], node["raisedBy"], node["owner"]) == (
            None,
            None,
            None,
            None,
        )
    # Own findings come at full level next to them.
    assert partners.northwind.slug in owners(body)

    # RACI rights hold only inside their process: outside it, meridian shows nothing.
    outside = await api.post(FINDINGS, {"first": 50}, token=token)
    assert owners(outside) == {partners.northwind.slug}


async def test_partners_without_agreement_or_role_get_nothing(api: Api, partners: Partners) -> None:
    variables = {"first": 50, "process": partners.process}
    informed_only = await api.sign_in(partners.initech, "ivan", "quality_manager")
    agreement_only = await api.sign_in(partners.globex, "gina", "quality_manager")
    for token, own in ((informed_only, partners.initech), (agreement_only, partners.globex)):
        body = await api.post(FINDINGS, variables, token=token)
        assert "errors" not in body, body
        assert owners(body) <= {own.slug}


async def test_a_revocation_holds_from_the_next_request(api: Api, partners: Partners) -> None:
    token = await api.sign_in(partners.northwind, "nadia", "quality_manager")
    variables = {"first": 50, "process": partners.process}
    before = await api.post(FINDINGS, variables, token=token)
    assert partners.meridian.slug in owners(before)
    async with api.runtime.control_session() as session:
        await agreements.revoke(
            session=session,
            agreement_id=partners.agreement,
            tenant=partners.meridian.slug,
            actor="user:anna",
            reason="contract ended",
        )
    after = await api.post(FINDINGS, variables, token=token)
    assert owners(after) == {partners.northwind.slug}


async def test_an_unreachable_owner_is_an_error_next_to_the_data(
    api: Api, runtime: Runtime, make_tenant: TenantFactory, dead_tenant: str
) -> None:
    reader = await make_tenant(label="rd")
    await raise_findings(runtime, reader.slug, 1)
    await grant(runtime, dead_tenant, reader.slug, "full")
    process = new_process()
    name = await api.import_matrix(follow_findings(process, dead_tenant, reader.slug))
    try:
        token = await api.sign_in(reader, "rita", "quality_manager")
        body = await api.post(FINDINGS, {"first": 10, "process": process}, token=token)
    finally:
        async with runtime.control_session() as session:
            await policy_service.delete_matrix(session=session, name=name)
    assert owners(body) == {reader.slug}
    [error] = body["errors"]
    assert error["extensions"] == {"code": "TENANT_UNAVAILABLE", "tenant": dead_tenant}
    assert dead_tenant in error["message"]
    assert error["path"] == ["findings"]


AGGREGATES = """
query($process: String) {
  findingAggregates(process: $process) { groups { tenant grade state count } }
}
"""


async def test_aggregate_partners_get_counts_only(
    api: Api, runtime: Runtime, partners: Partners
) -> None:
    await grant(
        runtime, partners.initech.slug, partners.northwind.slug, "aggregate", min_group_size=3
    )
    await raise_findings(runtime, partners.initech.slug, 3, grade="observation", criteria=None)
    process = new_process()
    name = await api.import_matrix(
        follow_findings(process, partners.initech.slug, partners.northwind.slug)
    )
    token = await api.sign_in(partners.northwind, "nadia", "quality_manager")
    try:
        body = await api.post(AGGREGATES, {"process": process}, token=token)
        listed = await api.post(FINDINGS, {"first": 50, "process": process}, token=token)
    finally:
        async with runtime.control_session() as session:
            await policy_service.delete_matrix(session=session, name=name)
    assert "errors" not in body, body
    assert body["data"]["findingAggregates"]["groups"] == [
        {"tenant": partners.initech.slug, "grade": "OBSERVATION", "state": "OPEN", "count": 3}
    ]
    assert partners.initech.slug not in owners(listed)
