"""Hardening: every abusive request is refused with a coded error, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from accord.app import create_app
from accord.graphql.limits import MAX_ALIASES, MAX_BODY_BYTES, MAX_COST, MAX_DEPTH, MAX_TOKENS
from accord.platform.runtime import Runtime
from accord.platform.settings import Settings
from tests.graphql.conftest import Api

INTROSPECTION = "{ __schema { queryType { name } } }"
TYPO = "{ tenants { slugg } }"


@pytest.fixture
async def prod(settings: Settings, runtime: Runtime, prod_secret_key: str) -> AsyncIterator[Api]:
    prod_settings = settings.model_copy(update={"env": "prod"})
    app = create_app(prod_settings, runtime=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://accord.test") as c:
            yield Api(app, c, runtime, prod_settings)


def refused(body: dict[str, Any]) -> list[str]:
    """The messages of a refusal, which is all BAD_USER_INPUT and never carries data."""
    assert body.get("data") is None, body
    assert body["errors"], body
    assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}, body
    messages: list[str] = [e["message"] for e in body["errors"]]
    return messages


async def test_alias_overloading_is_refused(api: Api) -> None:
    aliases = " ".join(f"a{i}: tenants {{ slug }}" for i in range(120))
    messages = refused(await api.post(f"{{ {aliases} }}"))
    assert any(str(MAX_ALIASES) in m and "alias" in m.lower() for m in messages), messages


async def test_a_few_aliases_are_fine(api: Api) -> None:
    body = await api.post("{ a: __typename b: __typename }")
    assert body == {"data": {"a": "Query", "b": "Query"}}


async def test_a_batch_of_operations_is_refused_with_a_code(api: Api) -> None:
    batch = [{"query": "{ tenants { slug } }"} for _ in range(50)]
    response = await api.client.post("/graphql", json=batch)
    assert response.status_code == 400
    assert refused(response.json()) == ["Batching is not enabled"]


async def test_field_duplication_is_refused(api: Api) -> None:
    titles = " ".join(["title"] * 1_000)
    query = f"{{ findings(first: 20) {{ edges {{ node {{ {titles} }} }} }} }}"
    messages = refused(await api.post(query))
    assert any("too expensive" in m for m in messages), messages

    # graphql-core's own validation gives up on 1,000 copies of one field: still coded.
    refused(await api.post("{ tenants { " + " ".join(["slug"] * 1_000) + " } }"))

    slugs = " ".join(["slug"] * (MAX_TOKENS + 500))
    messages = refused(await api.post(f"{{ tenants {{ {slugs} }} }}"))
    assert any(f"{MAX_TOKENS} tokens" in m for m in messages), messages


async def test_deep_nesting_is_refused(api: Api) -> None:
    depth = MAX_DEPTH + 5
    query = "{ " + " ".join(f"f{i} {{" for i in range(depth)) + " id" + " }" * depth + " }"
    messages = refused(await api.post(query))
    assert any(f"maximum operation depth of {MAX_DEPTH}" in m for m in messages), messages


async def test_circular_fragments_are_refused(api: Api) -> None:
    query = """
    { tenants { ...A } }
    fragment A on Tenant { slug ...B }
    fragment B on Tenant { legalName ...A }
    """
    messages = refused(await api.post(query))
    assert any("Cannot spread fragment" in m for m in messages), messages


async def test_an_expensive_operation_is_refused(api: Api) -> None:
    pages = " ".join(
        f"p{i}: findings(first: $n) {{ edges {{ node {{ id title }} }} }}" for i in range(20)
    )
    query = f"query Costly($n: Int!) {{ {pages} }}"
    body = await api.post(query, {"n": 100})
    messages = refused(body)
    assert any("too expensive" in m and str(MAX_COST) in m for m in messages), messages
    assert body["errors"][0]["extensions"]["reason"] == "COST_LIMIT"

    # The same shape with small pages is within the budget (and then merely private).
    body = await api.post(query, {"n": 2})
    assert {e["extensions"]["code"] for e in body["errors"]} == {"UNAUTHENTICATED"}


async def test_introspection_is_allowed_in_dev(api: Api) -> None:
    body = await api.post(INTROSPECTION)
    assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


async def test_introspection_is_refused_in_prod(prod: Api) -> None:
    messages = refused(await prod.post(INTROSPECTION))
    assert any("introspection" in m.lower() for m in messages), messages
    body = await prod.post("{ __typename }")
    assert body == {"data": {"__typename": "Query"}}


async def test_graphiql_is_served_in_dev_only(api: Api, prod: Api) -> None:
    accept = {"accept": "text/html"}
    dev = await api.client.get("/graphql", headers=accept)
    assert dev.status_code == 200 and "graphiql" in dev.text.lower()
    response = await prod.client.get("/graphql", headers=accept)
    assert response.status_code == 404
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["NOT_FOUND"]


async def test_suggestions_are_given_in_dev(api: Api) -> None:
    messages = refused(await api.post(TYPO))
    assert any("Did you mean" in m for m in messages), messages


async def test_suggestions_are_hidden_in_prod(prod: Api) -> None:
    messages = refused(await prod.post(TYPO))
    assert messages == ["Cannot query field 'slugg' on type 'Tenant'."]


async def test_a_body_over_the_limit_is_413(api: Api) -> None:
    padding = "x" * (MAX_BODY_BYTES + 1)
    response = await api.client.post(
        "/graphql", json={"query": "{ tenants { slug } }", "variables": {"pad": padding}}
    )
    assert response.status_code == 413
    assert refused(response.json()) == [f"The request body is larger than {MAX_BODY_BYTES} bytes."]
    assert response.json()["errors"][0]["extensions"]["reason"] == "BODY_TOO_LARGE"


async def test_a_streamed_body_is_counted(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * (MAX_BODY_BYTES // 16)

    response = await api.client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["reason"] == "BODY_TOO_LARGE"


async def test_a_query_over_get_is_answered(api: Api) -> None:
    response = await api.client.get("/graphql", params={"query": "{ __typename }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_a_mutation_over_get_is_refused(api: Api) -> None:
    mutation = 'mutation { respondToFinding(id: "x", response: "y") { errors { code } } }'
    response = await api.client.get("/graphql", params={"query": mutation})
    assert response.status_code in (400, 405)
    messages = refused(response.json())
    assert any("GET" in m for m in messages), messages


async def test_malformed_json_gets_a_code(api: Api) -> None:
    response = await api.client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    refused(response.json())


async def test_a_nul_character_is_refused_before_any_resolver(api: Api) -> None:
    inline = await api.post('{ clauses(standard: "iso14001:2015\\u0000") { key } }')
    assert inline["data"] is None
    assert inline["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "reason": "NUL_CHARACTER",
    }
    variables = await api.post(
        "query($s: String!) { clauses(standard: $s) { key } }", {"s": "iso\x00"}
    )
    assert variables["errors"][0]["extensions"]["reason"] == "NUL_CHARACTER"


async def test_a_remembered_document_still_gets_its_variables_checked(api: Api) -> None:
    """Documents are validated once per text; the checks that depend on variables are not
    remembered with them."""
    pages = " ".join(
        f"p{i}: findings(first: $n) {{ edges {{ node {{ id }} }} }}" for i in range(20)
    )
    query = f"query Remembered($n: Int!, $s: String!) {{ {pages} clauses(standard: $s) {{ key }} }}"
    for _ in range(2):  # the second time, the text is known valid
        body = await api.post(query, {"n": 2, "s": "iso9001:2015"})
        assert {e["extensions"]["code"] for e in body["errors"]} == {"UNAUTHENTICATED"}, body
    body = await api.post(query, {"n": 100, "s": "iso9001:2015"})
    assert body["errors"][0]["extensions"]["reason"] == "COST_LIMIT"
    body = await api.post(query, {"n": 2, "s": "iso\x00"})
    assert body["errors"][0]["extensions"]["reason"] == "NUL_CHARACTER"


async def test_a_refused_document_is_refused_every_time(api: Api) -> None:
    for _ in range(3):
        messages = refused(await api.post(TYPO))
        assert any("slugg" in m for m in messages), messages
