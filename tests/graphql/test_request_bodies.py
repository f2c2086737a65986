"""Request bodies that are no GraphQL request are refused with 400 and a coded error."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from accord.graphql.input_limits import json_depth_exceeds
from accord.graphql.limits import MAX_JSON_DEPTH
from tests.graphql.conftest import Api

JSON = {"content-type": "application/json"}


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def refusal(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    return dict(error["extensions"]) | {"message": error["message"]}


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ('"{ tenants { slug } }"', "a string"),
        ("5", "a number"),
        ("null", "null"),
        ("true", "a boolean"),
    ],
)
async def test_a_body_that_is_not_an_object_is_a_400(api: Api, raw: str, kind: str) -> None:
    error = refusal(await api.client.post("/graphql", content=raw, headers=JSON))
    assert error["reason"] == "BODY_NOT_AN_OBJECT"
    assert kind in error["message"]


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 500, 2_000, 100_000])
async def test_variables_nested_too_deep_are_a_400(api: Api, depth: int) -> None:
    # 2,000 levels exhausted json's own stack; 500 that of whatever walked the variables.
    payload = {"query": "query($v: JSON) { __typename }", "variables": {"v": nested(depth)}}
    text = json.dumps(payload) if depth < 900 else _deep_text(depth)
    error = refusal(await api.client.post("/graphql", content=text, headers=JSON))
    assert error["reason"] == "JSON_TOO_DEEP"
    assert str(MAX_JSON_DEPTH) in error["message"]


def _deep_text(depth: int) -> str:
    """A request whose variable ``v`` nests ``depth`` arrays (too deep for json.dumps)."""
    return '{"query": "{ __typename }", "variables": {"v": ' + "[" * depth + "]" * depth + "}}"


async def test_nesting_within_the_limit_is_fine(api: Api) -> None:
    payload = {"query": "{ __typename }", "variables": {"v": nested(MAX_JSON_DEPTH - 2)}}
    response = await api.client.post("/graphql", json=payload)
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    "raw",
    ["not json", "{", "1" * 5_000, b'{"query": "\xff"}', '{"query": "{ __typename }"} trailing'],
)
async def test_a_body_that_is_not_json_is_a_400(api: Api, raw: str | bytes) -> None:
    error = refusal(await api.client.post("/graphql", content=raw, headers=JSON))
    assert error["reason"] == "BODY_NOT_JSON"


async def test_variables_that_are_not_an_object_over_get_are_a_400(api: Api) -> None:
    params = {"query": "{ __typename }", "variables": "5"}
    error = refusal(await api.client.get("/graphql", params=params))
    assert error["reason"] == "BODY_NOT_AN_OBJECT"
    deep = {"query": "{ __typename }", "variables": '{"v": ' + "[" * 3_000 + "]" * 3_000 + "}"}
    assert refusal(await api.client.get("/graphql", params=deep))["reason"] == "JSON_TOO_DEEP"


def test_depth_is_measured_without_recursion() -> None:
    assert not json_depth_exceeds({"a": [1, {"b": 2}]}, 3)
    assert json_depth_exceeds({"a": [1, {"b": [2]}]}, 3)
    assert not json_depth_exceeds("scalar", 0)
    deep: list[Any] = []
    for _ in range(50_000):
        deep = [deep]
    assert json_depth_exceeds(deep, MAX_JSON_DEPTH)
