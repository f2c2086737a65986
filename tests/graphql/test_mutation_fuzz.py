"""Hypothesis over every mutation's inputs, drawn from the schema: strings around their
declared limit and hostile ones, dates at and past the range, lists past their count,
real ids and slugs of the caller now and then (so that resolvers and the database get
the values, not only validation). Whatever is sent, the answer is never a 5xx and never
INTERNAL. Derandomized, with a bounded number of examples per mutation (about 15 s).

It guards against regressions; it is not what proves the limits: with them switched off,
its examples did not happen to hit the oversized reference that reached PostgreSQL
(``test_input_limits`` covers each refused input on its own)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
)
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from accord.app import create_app
from accord.graphql.input_limits import Items, Text, limit_of
from accord.graphql.schema import schema
from accord.platform.runtime import Runtime
from accord.platform.settings import Settings
from tests.conftest import TenantFactory
from tests.factories.api import global_id
from tests.graphql.conftest import Api, raise_findings

EXAMPLES = 20
MUTATION = schema._schema.mutation_type
assert MUTATION is not None
HOSTILE = ["", " ", "%", "' OR '1'='1", "\u202e", "\U0001f600", "a\nb"]
DAYS = [
    "2026-03-01",
    "1970-01-01",
    "2199-12-31",
    "1969-12-31",
    "2200-01-01",
    "0001-01-01",
    "9999-12-31",
]


def _text(limit: Text | None, known: list[str]) -> st.SearchStrategy[Any]:
    """Mostly a value of this network for the name (when there is one), else text around
    the declared limit or far past it (past what PostgreSQL indexes), or hostile text."""
    options: list[st.SearchStrategy[Any]] = [st.sampled_from(HOSTILE), st.text(max_size=12)]
    sizes = [3_000, 9_000]
    if limit is not None:
        sizes += [limit.max_length - 1, limit.max_length, limit.max_length + 1]
    options.append(st.sampled_from(sizes).map(lambda n: "x" * n))
    if known:
        options = [*[st.sampled_from(known)] * 4, *options]
    return st.one_of(options)


def _value(
    type_: GraphQLInputType, coordinate: str, name: str, known: dict[str, list[str]]
) -> st.SearchStrategy[Any]:
    if not isinstance(type_, GraphQLNonNull):
        return st.one_of(st.none(), _value(GraphQLNonNull(type_), coordinate, name, known))
    inner = type_.of_type
    limit = limit_of(coordinate, name)
    if isinstance(inner, GraphQLList):
        element = _value(inner.of_type, coordinate, name, known)
        small = st.lists(element, max_size=3)
        if isinstance(limit, Items):
            big = element.flatmap(lambda e: st.just([e] * (limit.max_items + 1)))
            return st.one_of(small, small, big)
        return small
    if isinstance(inner, GraphQLInputObjectType):
        fields = {
            field_name: _value(field.type, f"{inner.name}.{field_name}", field_name, known)
            for field_name, field in inner.fields.items()
        }
        return st.fixed_dictionaries(fields)
    if isinstance(inner, GraphQLEnumType):
        return st.sampled_from(list(inner.values))
    assert isinstance(inner, GraphQLScalarType)
    scalar = inner.name
    if scalar in ("String", "ID"):
        text_limit = limit.item if isinstance(limit, Items) else limit
        return _text(text_limit if isinstance(text_limit, Text) else None, known.get(name, []))
    if scalar == "Date":
        return st.sampled_from(DAYS)
    if scalar == "DateTime":
        return st.sampled_from(DAYS).map(lambda d: f"{d}T12:00:00+00:00")
    if scalar == "Int":
        return st.one_of(st.integers(-5, 400), st.sampled_from([2**31 - 1, -(2**31)]))
    if scalar == "Boolean":
        return st.booleans()
    if scalar == "Float":
        return st.one_of(
            st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0.0, -1.0])
        )
    if scalar == "UUID":
        return st.uuids().map(str)
    if scalar == "Upload":  # a JSON body carries no file; the resolver must refuse it
        return st.text(max_size=8)
    if scalar == "JSON":
        leaves = st.one_of(st.none(), st.integers(), st.text(max_size=8))
        return st.recursive(
            leaves,
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
            max_leaves=12,
        )
    raise AssertionError(f"no strategy for {scalar}")


async def test_generated_mutation_inputs_never_fail_internally(
    settings: Settings, runtime: Runtime, make_tenant: TenantFactory
) -> None:
    relaxed = settings.model_copy(
        update={"rate_limit_per_second": 1_000_000.0, "rate_limit_burst": 1_000_000}
    )
    app = create_app(relaxed, runtime=runtime)
    tenant = await make_tenant(label="mfz")
    findings = await raise_findings(runtime, tenant.slug, 2)
    ids = [global_id(f"Finding:{tenant.slug}:{f}") for f in findings]
    slugs = [tenant.slug]
    subjects = ["fz.qm"]
    known: dict[str, list[str]] = {
        **dict.fromkeys(("id", "findingId", "findingIds", "auditId", "capaId", "reviewId"), ids),
        **dict.fromkeys(("tenant", "to", "auditedTenant", "leadTenant", "ownerTenant"), slugs),
        **dict.fromkeys(("verifierTenant",), slugs),
        **dict.fromkeys(("owner", "subject", "leadAuditor", "verifierSubject"), subjects),
        "clauseKeys": ["iso9001:2015/8.4", "iso9001:2015/7.1.5"],
        "standards": ["iso9001:2015"],
    }
    loop = asyncio.get_running_loop()
    failures: list[str] = []
    sent = 0
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://accord.test") as c:
            api = Api(app, c, runtime, relaxed)
            token = await api.sign_in(tenant, "fz.qm", "quality_manager", "auditor")
            headers = {"authorization": f"Bearer {token}"}

            def explore(field_name: str) -> None:
                nonlocal sent
                field = MUTATION.fields[field_name]
                declared = ", ".join(f"${n}: {a.type}" for n, a in field.args.items())
                passed = ", ".join(f"{n}: ${n}" for n in field.args)
                query = f"mutation({declared}) {{ {field_name}({passed}) {{ __typename }} }}"
                variables = st.fixed_dictionaries(
                    {
                        n: _value(a.type, f"Mutation.{field_name}({n}:)", n, known)
                        for n, a in field.args.items()
                    }
                )

                @examples(
                    max_examples=EXAMPLES,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(variables)
                def run(values: dict[str, Any]) -> None:
                    nonlocal sent
                    post = c.post(
                        "/graphql", json={"query": query, "variables": values}, headers=headers
                    )
                    response = asyncio.run_coroutine_threadsafe(post, loop).result(timeout=120)
                    sent += 1
                    codes = (
                        [
                            (e.get("extensions") or {}).get("code")
                            for e in (response.json().get("errors") or [])
                        ]
                        if response.status_code < 500
                        else []
                    )
                    if response.status_code >= 500 or "INTERNAL" in codes or None in codes:
                        failures.append(
                            f"{field_name} {str(values)[:300]} -> {response.status_code} "
                            f"{response.text[:300]}"
                        )

                run()

            for field_name in MUTATION.fields:
                await asyncio.to_thread(explore, field_name)
    assert sent >= EXAMPLES * len(MUTATION.fields) // 2
    assert failures == [], "\n".join(failures[:10])
