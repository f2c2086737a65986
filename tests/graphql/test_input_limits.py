"""Every mutation input has a declared limit, stated in the schema and enforced before any
resolver: BAD_USER_INPUT with a reason and the path of the field, nothing written."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from graphql import (
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    get_named_type,
)

from accord.graphql.input_limits import BY_NAME, EXCEPTIONS, declare_limits
from accord.graphql.schema import schema
from tests.conftest import TenantFactory
from tests.factories.api import RAISE, global_id, raise_input
from tests.graphql.conftest import Api, raise_findings

UNBOUNDED = {"String", "ID", "JSON", "Date", "DateTime"}
FINDINGS = "{ findings(first: 50) { edges { node { reference } } } }"
CREATE_CAPA = """
mutation($input: CreateCapaInput!) {
  createCapa(input: $input) { capa { id } errors { field code reason } }
}
"""
CREATE_REVIEW = """
mutation($input: CreateManagementReviewInput!) {
  createManagementReview(input: $input) { review { id } errors { field code reason } }
}
"""


def unbounded_inputs(graphql_schema: GraphQLSchema) -> dict[str, Any]:
    """Coordinate → argument or input field, for every list or unbounded scalar among the
    mutations' arguments and the input types they reach (walked here on its own)."""
    found: dict[str, Any] = {}
    seen: set[str] = set()

    def visit(coordinate: str, item: Any) -> None:
        type_ = item.type.of_type if isinstance(item.type, GraphQLNonNull) else item.type
        named = get_named_type(type_)
        if isinstance(type_, GraphQLList) or named.name in UNBOUNDED:
            found[coordinate] = item
        if isinstance(named, GraphQLInputObjectType) and named.name not in seen:
            seen.add(named.name)
            for name, field in named.fields.items():
                visit(f"{named.name}.{name}", field)

    assert graphql_schema.mutation_type is not None
    for field_name, field in graphql_schema.mutation_type.fields.items():
        for name, argument in field.args.items():
            visit(f"Mutation.{field_name}({name}:)", argument)
    return found


def test_every_string_and_list_input_of_every_mutation_declares_its_limit() -> None:
    inputs = unbounded_inputs(schema._schema)
    assert len(inputs) > 100  # the walk reached the input types, not only the arguments
    undeclared = []
    for coordinate, item in inputs.items():
        name = coordinate.rsplit("(", 1)[-1].rstrip(":)").rsplit(".", 1)[-1]
        limit = EXCEPTIONS.get(coordinate) or BY_NAME.get(name)
        if limit is None or limit.describe() not in (item.description or ""):
            undeclared.append(coordinate)
    assert undeclared == []


@strawberry.input
class WidgetInput:
    wibbles: list[str]


@strawberry.type
class WidgetMutation:
    @strawberry.mutation
    def frobnicate(self, label: str, input: WidgetInput, title: str = "") -> bool:
        return True


@strawberry.type
class WidgetQuery:
    ok: bool = True


def test_a_mutation_added_without_limits_fails_when_the_schema_is_built() -> None:
    built = strawberry.Schema(query=WidgetQuery, mutation=WidgetMutation)
    with pytest.raises(TypeError) as raised:
        declare_limits(built._schema)
    message = str(raised.value)
    assert "Mutation.frobnicate(label:)" in message
    assert "WidgetInput.wibbles" in message
    assert "Mutation.frobnicate(title:)" not in message  # a known name: a title


def refused(body: dict[str, Any]) -> tuple[str, str, str]:
    assert body["data"] is None, body
    [error] = body["errors"]
    extensions = error["extensions"]
    return extensions["code"], extensions["reason"], extensions["field"]


async def references(api: Api, token: str) -> list[str]:
    body = await api.post(FINDINGS, token=token)
    return sorted(e["node"]["reference"] for e in body["data"]["findings"]["edges"])


async def test_oversized_and_out_of_range_inputs_are_refused_before_the_database(
    api: Api, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="lim")
    token = await api.sign_in(tenant, "ben", "auditor", "quality_manager")
    before = await references(api, token)
    cases: list[tuple[dict[str, Any], tuple[str, str]]] = [
        # a reference longer than PostgreSQL indexes (INTERNAL before)
        ({"reference": "R" * 3_000}, ("TOO_LONG", "input.reference")),
        ({"title": "t" * 900 * 1024}, ("TOO_LONG", "input.title")),
        (
            {"clauseKeys": [f"iso9001:2015/{n}" for n in range(10_000)]},
            ("TOO_MANY_ITEMS", "input.clauseKeys"),
        ),
        ({"clauseKeys": ["iso9001:2015/7.1.5"] * 2}, ("DUPLICATE_ITEMS", "input.clauseKeys")),
        ({"clauseKeys": ["k" * 101]}, ("TOO_LONG", "input.clauseKeys[0]")),
        ({"responseDueAt": "9999-12-31"}, ("DATE_OUT_OF_RANGE", "input.responseDueAt")),
        ({"raisedAt": "0001-01-01T00:00:00+00:00"}, ("DATE_OUT_OF_RANGE", "input.raisedAt")),
    ]
    for override, (reason, field) in cases:
        body = await api.post(RAISE, {"input": raise_input(**override)}, token=token)
        assert refused(body) == ("BAD_USER_INPUT", reason, field), override

    # Literals are checked as variables are, and so are fields spread from fragments.
    literal = (
        'mutation { raiseFinding(input: {reference: "%s", title: "t", grade: OBSERVATION,'
        ' severity: LOW, clauseKeys: ["iso9001:2015/7.1.5"], condition: "c"})'
        " { errors { code } } }"
    )
    body = await api.post(literal % ("L" * 101), token=token)
    assert refused(body) == ("BAD_USER_INPUT", "TOO_LONG", "input.reference")
    respond = 'respondToFinding(id: "x", response: $r) { errors { code } }'
    spread = f"mutation($r: String!) {{ ...R }} fragment R on Mutation {{ {respond} }}"
    body = await api.post(spread, {"r": "r" * 20_001}, token=token)
    assert refused(body) == ("BAD_USER_INPUT", "TOO_LONG", "response")
    defaulted = 'mutation($r: String = "%s") { ' + respond + " }"
    body = await api.post(defaulted % ("r" * 20_001), token=token)
    assert refused(body) == ("BAD_USER_INPUT", "TOO_LONG", "response")

    assert await references(api, token) == before  # nothing was written

    # At the limits, the same inputs go through.
    edge = raise_input(reference="R" * 100, title="t" * 300, responseDueAt="2199-12-31")
    made = await api.post(RAISE, {"input": edge}, token=token)
    assert made["data"]["raiseFinding"]["errors"] == [], made
    assert await references(api, token) == sorted([*before, "R" * 100])


async def test_capa_and_review_inputs_are_bounded(api: Api, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant(label="limc")
    [finding] = await raise_findings(api.runtime, tenant.slug, 1)
    gid = global_id(f"Finding:{tenant.slug}:{finding}")
    token = await api.sign_in(tenant, "qm", "quality_manager")
    capa = {
        "findingIds": [gid],
        "reference": "C-1",
        "title": "t",
        "clauseKeys": ["iso9001:2015/8.4"],
    }
    cases: list[tuple[dict[str, Any], tuple[str, str]]] = [
        ({"reference": "C" * 9_000}, ("TOO_LONG", "input.reference")),
        ({"findingIds": [gid] * 1_000}, ("TOO_MANY_ITEMS", "input.findingIds")),
        ({"findingIds": [gid, gid]}, ("DUPLICATE_ITEMS", "input.findingIds")),
        (
            {"rootCause": {"method": "five_whys", "whys": ["w" * 70_000]}},
            ("JSON_TOO_LARGE", "input.rootCause"),
        ),
        (
            {
                "actions": [
                    {"title": "a", "owner": "qm", "ownerTenant": tenant.slug, "dueAt": "0001-01-01"}
                ]
            },
            ("DATE_OUT_OF_RANGE", "input.actions[0].dueAt"),
        ),
    ]
    for override, (reason, field) in cases:
        body = await api.post(CREATE_CAPA, {"input": capa | override}, token=token)
        assert refused(body) == ("BAD_USER_INPUT", reason, field), override

    review = {
        "title": "Review",
        "periodStart": "2026-01-01",
        "periodEnd": "2026-03-31",
        "standards": ["iso9001:2015"],
    }
    cases = [
        ({"periodStart": "0001-01-01"}, ("DATE_OUT_OF_RANGE", "input.periodStart")),
        ({"periodEnd": "9999-12-31"}, ("DATE_OUT_OF_RANGE", "input.periodEnd")),
        ({"minutes": "m" * 100_001}, ("TOO_LONG", "input.minutes")),
        (
            {"requiredSignatories": [{"tenant": tenant.slug, "subject": "s" * 201, "role": "r"}]},
            ("TOO_LONG", "input.requiredSignatories[0].subject"),
        ),
    ]
    for override, (reason, field) in cases:
        body = await api.post(CREATE_REVIEW, {"input": review | override}, token=token)
        assert refused(body) == ("BAD_USER_INPUT", reason, field), override
