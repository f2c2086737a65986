"""Global ids and cursors: forged, foreign, garbage and tampered ones get coded errors."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from tests.conftest import TenantFactory
from tests.graphql.conftest import Api, Partners, raise_findings
from tests.graphql.test_reads import FINDINGS

FINDING = "query($id: ID!) { finding(id: $id) { id tenant level title } }"
NODE = "query($id: ID!) { node(id: $id) { id ... on Finding { reference } } }"


def global_id(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def error_of(body: dict[str, Any]) -> tuple[str, str]:
    [error] = body["errors"]
    return error["extensions"]["code"], error["extensions"]["reason"]


async def test_bad_ids_are_bad_input_and_unknown_ones_not_found(
    api: Api, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="ids")
    [real] = await raise_findings(api.runtime, tenant.slug, 1)
    token = await api.sign_in(tenant, "qm", "quality_manager")
    cases = {
        "garbage!!": ("BAD_USER_INPUT", "BAD_ID"),
        global_id("Finding:only-two"): ("BAD_USER_INPUT", "BAD_ID"),
        global_id(f"Finding:{tenant.slug}:not-a-uuid"): ("BAD_USER_INPUT", "BAD_ID"),
        global_id(f"Finding:Robert'); DROP TABLE x;--:{uuid.uuid4()}"): (
            "BAD_USER_INPUT",
            "BAD_ID",
        ),
        global_id(f"Tenant:{tenant.slug}:{real}"): ("BAD_USER_INPUT", "WRONG_ID_TYPE"),
        global_id(f"Finding:{tenant.slug}:{uuid.uuid4()}"): ("NOT_FOUND", "FINDING_NOT_FOUND"),
        global_id(f"Finding:no_such_tenant:{real}"): ("NOT_FOUND", "FINDING_NOT_FOUND"),
    }
    for bad, expected in cases.items():
        body = await api.post(FINDING, {"id": bad}, token=token)
        assert body["data"] == {"finding": None}, bad
        assert error_of(body) == expected, bad

    good = global_id(f"Finding:{tenant.slug}:{real}")
    body = await api.post(FINDING, {"id": good}, token=token)
    assert body["data"]["finding"]["id"] == good and body["data"]["finding"]["level"] == "FULL"
    node = await api.post(NODE, {"id": good}, token=token)
    assert node["data"]["node"]["id"] == good


async def test_a_foreign_finding_is_not_found_without_an_agreement(
    api: Api, partners: Partners
) -> None:
    theirs = global_id(f"Finding:{partners.meridian.slug}:{partners.meridian_findings[0]}")
    outsider = await api.sign_in(partners.initech, "ivan", "quality_manager")
    body = await api.post(FINDING, {"id": theirs}, token=outsider)
    assert error_of(body) == ("NOT_FOUND", "FINDING_NOT_FOUND")

    reader = await api.sign_in(partners.northwind, "nadia", "quality_manager")
    query = "query($id: ID!, $p: String) { finding(id: $id, process: $p) { level title } }"
    body = await api.post(query, {"id": theirs, "p": partners.process}, token=reader)
    assert body["data"]["finding"] == {"level": "SUMMARY", "title": None}


async def test_tampered_and_foreign_cursors_are_refused(
    api: Api, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="cur")
    await raise_findings(api.runtime, tenant.slug, 3)
    token = await api.sign_in(tenant, "qm", "quality_manager")
    other = await api.sign_in(tenant, "qm2", "quality_manager")
    graded = {"grade": ["MAJOR_NONCONFORMITY"]}
    first = await api.post(FINDINGS, {"first": 1, "filter": graded}, token=token)
    cursor = first["data"]["findings"]["pageInfo"]["endCursor"]
    flipped = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]

    cases: list[tuple[dict[str, Any], str, tuple[str, str]]] = [
        ({"after": flipped, "filter": graded}, token, ("BAD_USER_INPUT", "BAD_CURSOR")),
        ({"after": "not a cursor", "filter": graded}, token, ("BAD_USER_INPUT", "BAD_CURSOR")),
        ({"after": cursor}, token, ("BAD_USER_INPUT", "CURSOR_FOR_ANOTHER_QUERY")),
        (
            {"after": cursor, "filter": graded},
            other,
            ("BAD_USER_INPUT", "CURSOR_FOR_ANOTHER_QUERY"),
        ),
        ({"first": 0}, token, ("BAD_USER_INPUT", "BAD_PAGE_SIZE")),
    ]
    for variables, caller, expected in cases:
        body = await api.post(FINDINGS, {"first": 1, **variables}, token=caller)
        assert body["data"] is None
        assert error_of(body) == expected, variables
        assert body["errors"][0]["extensions"]["field"] in ("after", "first")

    ok = await api.post(FINDINGS, {"first": 5, "after": cursor, "filter": graded}, token=token)
    assert len(ok["data"]["findings"]["edges"]) == 2
