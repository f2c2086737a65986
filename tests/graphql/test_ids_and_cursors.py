"""Global ids and cursors: forged, foreign, garbage and tampered ones get coded errors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import uuid
from pathlib import Path
from typing import Any

from accord.compliance.kpis import service as kpi_service
from accord.graphql.cursors import CURSOR_KEY_FILE, CURSOR_SECRET_ENV, cursor_key
from accord.platform.settings import Settings
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory
from tests.factories.api import FINDINGS, global_id
from tests.graphql.conftest import Api, Partners, raise_findings

FINDING = "query($id: ID!) { finding(id: $id) { id tenant level title } }"
NODE = "query($id: ID!) { node(id: $id) { id ... on Finding { reference } } }"
NODES = "query($ids: [ID!]!, $p: String) { nodes(ids: $ids, process: $p) { id } }"


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


async def test_node_is_null_for_what_there_is_none_of_or_you_may_not_see(
    api: Api, partners: Partners
) -> None:
    ours = global_id(f"Finding:{partners.initech.slug}:{uuid.uuid4()}")
    theirs = global_id(f"Finding:{partners.meridian.slug}:{partners.meridian_findings[0]}")
    unknown_type = global_id(f"Nothing:{partners.meridian.slug}:{uuid.uuid4()}")
    outsider = await api.sign_in(partners.initech, "ivan", "quality_manager")
    for missing in (ours, theirs, unknown_type):
        body = await api.post(NODE, {"id": missing}, token=outsider)
        assert body == {"data": {"node": None}}, missing
    malformed = await api.post(NODE, {"id": "garbage!!"}, token=outsider)
    assert error_of(malformed) == ("BAD_USER_INPUT", "BAD_ID")

    reader = await api.sign_in(partners.northwind, "nadia", "quality_manager")
    asked = {"ids": [theirs, ours, theirs], "p": partners.process}
    body = await api.post(NODES, asked, token=reader)
    assert body == {"data": {"nodes": [{"id": theirs}, None, {"id": theirs}]}}
    body = await api.post(NODES, {"ids": [theirs]}, token=outsider)
    assert body == {"data": {"nodes": [None]}}
    too_many = await api.post(NODES, {"ids": [theirs] * 101, "p": None}, token=reader)
    assert error_of(too_many) == ("BAD_USER_INPUT", "TOO_MANY")


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


KPIS = "query($after: String) { kpis(first: 1, after: $after) { pageInfo { endCursor } } }"


def signed(key: bytes, body: bytes) -> str:
    mac = hmac.new(key, body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")


async def test_cursors_signed_with_the_key_but_malformed_are_bad_cursors(
    api: Api, make_tenant: TenantFactory
) -> None:
    """Whoever holds the key (an operator, or anyone, were the key a published constant)
    can sign any body: its contents are still checked, never passed on to the database."""
    tenant = await make_tenant(label="forge")
    async with tenant_session(api.runtime, tenant.slug) as session:
        for n in range(2):
            data = {
                **{"key": f"kpi-{n}", "name": f"KPI {n}", "definition": "Monthly.", "unit": "%"},
                **{"direction": "higher_is_better", "owner": "user:qm"},
                **{"target": 98.0, "warning_threshold": 95.0, "breach_threshold": 90.0},
            }
            await kpi_service.create_kpi(session=session, actor="user:qm", data=data)
    token = await api.sign_in(tenant, "qm", "quality_manager")
    page = await api.post(KPIS, token=token)
    genuine = page["data"]["kpis"]["pageInfo"]["endCursor"]
    key = cursor_key(api.settings)
    raw = base64.urlsafe_b64decode(genuine + "=" * (-len(genuine) % 4))
    fingerprint, value, owner, record = json.loads(raw[: -hashlib.sha256().digest_size])
    assert isinstance(value, str)

    forged = [
        b"5",
        b"[]",
        b"not json",
        b'{"x":1}',
        b"\xff\xfe",
        b"[" * 5_000 + b"]" * 5_000,
        json.dumps([fingerprint]).encode(),
        json.dumps([fingerprint, 5, owner, record]).encode(),  # a number for a text key
        json.dumps([fingerprint, {"a": 1}, owner, record]).encode(),
        json.dumps([fingerprint, [value], owner, record]).encode(),
        json.dumps([fingerprint, value, 7, record]).encode(),
        json.dumps([fingerprint, value, owner, "not-a-uuid"]).encode(),
        json.dumps([fingerprint, value, owner, record, "extra"]).encode(),
    ]
    for body in forged:
        answer = await api.post(KPIS, {"after": signed(key, body)}, token=token)
        assert answer["data"] is None, body
        assert error_of(answer) == ("BAD_USER_INPUT", "BAD_CURSOR"), (body, answer)

    followed = await api.post(KPIS, {"after": signed(key, raw[:-32])}, token=token)
    assert followed["data"]["kpis"]["pageInfo"]["endCursor"] not in (None, genuine)


def test_each_data_directory_has_its_own_random_cursor_key(
    settings: Settings, tmp_path: Path
) -> None:
    first = settings.model_copy(update={"data_dir": tmp_path / "one"})
    second = settings.model_copy(update={"data_dir": tmp_path / "two"})
    key = cursor_key(first, environ={})
    assert len(key) == 32
    assert cursor_key(first, environ={}) == key  # kept: cursors survive a restart
    assert cursor_key(second, environ={}) != key
    path = first.data_dir / CURSOR_KEY_FILE
    assert path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The constant development key of earlier versions is not what signs cursors.
    assert key != hashlib.sha256(b"accord development cursor key - not a secret").digest()
    configured = cursor_key(first, environ={CURSOR_SECRET_ENV: "shared by every replica"})
    assert configured == hashlib.sha256(b"shared by every replica").digest()


def test_production_never_uses_a_data_directory_key(settings: Settings, tmp_path: Path) -> None:
    prod = settings.model_copy(update={"env": "prod", "data_dir": tmp_path})
    assert cursor_key(prod, environ={}) != cursor_key(prod, environ={})
    assert not (tmp_path / CURSOR_KEY_FILE).exists()


async def test_a_process_no_matrix_governs_is_refused_not_read_as_no_rights(
    api: Api, partners: Partners
) -> None:
    reader = await api.sign_in(partners.northwind, "nadia", "quality_manager")
    theirs = global_id(f"Finding:{partners.meridian.slug}:{partners.meridian_findings[0]}")
    misspelt = partners.process + "-typo"
    reads = (
        ("query($p: String) { findings(process: $p) { edges { cursor } } }", {}),
        ("query($p: String) { findingAggregates(process: $p) { groups { __typename } } }", {}),
        ("query($id: ID!, $p: String) { finding(id: $id, process: $p) { id } }", {"id": theirs}),
    )
    for query, variables in reads:
        known = await api.post(query, {**variables, "p": partners.process}, token=reader)
        assert "errors" not in known, known
        body = await api.post(query, {**variables, "p": misspelt}, token=reader)
        assert error_of(body) == ("BAD_USER_INPUT", "UNKNOWN_PROCESS"), query
