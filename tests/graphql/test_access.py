"""Who may ask what: public fields, UNAUTHENTICATED for the rest, own-tenant-only fields."""

from __future__ import annotations

import pytest

from tests.conftest import TenantFactory
from tests.graphql.conftest import Api, raise_findings
from tests.graphql.test_ids_and_cursors import global_id

SOME_ID = global_id("Finding:someone:00000000-0000-0000-0000-000000000000")
PRIVATE = [
    "{ me { subject } }",
    "{ findings { edges { cursor } } }",
    f'{{ finding(id: "{SOME_ID}") {{ id }} }}',
    f'{{ node(id: "{SOME_ID}") {{ id }} }}',
    "{ findingAggregates { groups { count } } }",
    '{ clauses(standard: "iso9001:2015") { key } }',
    '{ gapAnalysis(tenant: "someone", standard: "iso9001:2015") { covered } }',
    f'{{ history(id: "{SOME_ID}") {{ seq }} }}',
    f'mutation {{ respondToFinding(id: "{SOME_ID}", response: "x") {{ errors {{ code }} }} }}',
]


@pytest.mark.parametrize("query", PRIVATE)
async def test_anonymous_callers_are_unauthenticated(api: Api, query: str) -> None:
    body = await api.post(query)
    assert body["data"] is None or set(body["data"].values()) == {None}
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_tenants_and_standards_are_public(api: Api) -> None:
    body = await api.post("{ tenants { slug } standards { id number } }")
    assert "errors" not in body
    assert {"id": "iso9001:2015", "number": "ISO 9001"} in body["data"]["standards"]


async def test_me_gap_analysis_and_history_for_the_own_tenant(
    api: Api, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="me")
    other = await make_tenant(label="oth")
    [finding] = await raise_findings(api.runtime, other.slug, 1)
    token = await api.sign_in(tenant, "qm", "quality_manager", "auditor")
    me = await api.post("{ me { tenant subject kind roles } }", token=token)
    assert me["data"]["me"] == {
        "tenant": tenant.slug,
        "subject": "qm",
        "kind": "USER",
        "roles": ["auditor", "quality_manager"],
    }
    gaps = """
    query($t: String!) {
      gapAnalysis(tenant: $t, standard: "iso9001:2015") { tenant assessable entries { clause } }
    }
    """
    own = await api.post(gaps, {"t": tenant.slug}, token=token)
    assert own["data"]["gapAnalysis"]["tenant"] == tenant.slug
    assert own["data"]["gapAnalysis"]["assessable"] > 0
    foreign = await api.post(gaps, {"t": other.slug}, token=token)
    assert foreign["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    history = "query($id: ID!) { history(id: $id) { seq } }"
    theirs = await api.post(
        history, {"id": global_id(f"Finding:{other.slug}:{finding}")}, token=token
    )
    assert theirs["errors"][0]["extensions"]["reason"] == "OWN_TENANT_ONLY"


async def test_a_mutation_never_rides_a_get(api: Api) -> None:
    mutation = f'mutation {{ respondToFinding(id: "{SOME_ID}", response: "x") {{ __typename }} }}'
    response = await api.client.get("/graphql", params={"query": mutation})
    assert response.status_code == 400
    assert "not allowed" in response.text
