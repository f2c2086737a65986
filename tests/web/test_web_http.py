"""The web application over HTTP, in process: headers, sign-in through the development
issuer (authorization code with PKCE), the session cookie, CSRF, and refusals that say
what the API says. The browser tests (test_browser.py) drive the same pages in chromium."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from graphql import parse, validate
from starlette.applications import Starlette

from accord.app import create_app
from accord.compliance.findings import service as finding_service
from accord.compliance.workflow import service as finding_workflow
from accord.graphql.schema import schema_for
from accord.platform.clock import now
from accord.platform.runtime import Runtime
from accord.platform.settings import Settings
from accord.tenants.identity.devissuer import mint_token
from accord.tenants.sessions import tenant_session
from accord.web import operations
from accord.web.heatmap import Placement, build
from tests.conftest import TenantFactory, make_test_settings
from tests.factories.api import global_id, served
from tests.factories.identity import IdentityServer, ed_key, name_of, trusted_issuer
from tests.factories.records import finding_input
from tests.factories.web import add_person, csrf_of, hidden_fields, sign_in

BASE = "http://accord.test"


@pytest.fixture
async def app(settings: Settings, runtime: Runtime) -> AsyncIterator[Starlette]:
    built = create_app(settings, runtime=runtime)
    async with built.router.lifespan_context(built):
        yield built


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        yield c


async def _finding(runtime: Runtime, slug: str, **overrides: Any) -> str:
    async with tenant_session(runtime, slug) as session:
        raised = await finding_workflow.raise_finding(
            session=session, data=finding_input(**overrides), actor="user:anna.keller"
        )
    return global_id(f"Finding:{slug}:{raised.id}")


async def test_pages_carry_the_security_headers_and_ask_for_a_sign_in(
    client: httpx.AsyncClient,
) -> None:
    home = await client.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/signin?next=%2F"
    page = await client.get("/signin")
    assert page.status_code == 200
    for response in (home, page):
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in page.text and " style=" not in page.text
    assert "http" not in page.text.replace(BASE, "")  # nothing from another host
    css = await client.get("/static/accord.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.headers["x-content-type-options"] == "nosniff"
    assert (await client.get("/static/../core.py")).status_code == 404
    assert (await client.get("/healthz")).json() == {"status": "ok"}  # the API is untouched


async def test_a_person_signs_in_with_pkce_and_gets_a_signed_httponly_session(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="web")
    await add_person(runtime, settings, tenant, "anna.keller")
    page = await sign_in(client, tenant.slug, "anna.keller")
    assert page.status_code == 200, page.text
    assert "Your partner network" in page.text and tenant.slug in page.text
    cookie = next(c for c in client.cookies.jar if c.name == "accord_session")
    assert cookie.has_nonstandard_attr("httponly")
    assert cookie.get_nonstandard_attr("samesite") == "lax"
    assert not cookie.secure  # Secure in production only (http in dev)
    tampered = (cookie.value or "")[:-4] + "AAAA"
    transport = client._transport
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as other:
        other.cookies.set("accord_session", tampered, domain=cookie.domain)
        assert (await other.get("/")).status_code == 303  # a forged cookie is no session

    out = await client.post("/signout", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    assert (await client.get("/")).status_code == 303


async def test_the_development_issuer_checks_the_verifier_and_uses_a_code_once(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="web")
    await add_person(runtime, settings, tenant, "lea.hoffmann")
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code",
        "client_id": "accord-web",
        "redirect_uri": f"{BASE}/auth/callback",
        "state": "s1",
        "code_challenge": challenge.decode().rstrip("="),
        "code_challenge_method": "S256",
        "login_hint": tenant.slug,
    }
    chooser = await client.get("/dev-issuer/authorize", params=params)
    assert chooser.status_code == 200 and "Lea Hoffmann" in chooser.text
    wrong = await client.get(
        "/dev-issuer/authorize", params=params | {"redirect_uri": "https://evil.test/cb"}
    )
    assert wrong.status_code == 400
    fields = hidden_fields(chooser.text)
    picked = await client.post(
        "/dev-issuer/authorize", data=fields | {"person": f"{tenant.slug}/lea.hoffmann"}
    )
    code = re.search(r"code=([^&]+)", picked.headers["location"])
    assert code
    exchange = {
        "grant_type": "authorization_code",
        "code": code.group(1),
        "redirect_uri": params["redirect_uri"],
        "client_id": "accord-web",
    }
    refused = await client.post("/dev-issuer/token", data=exchange | {"code_verifier": "x" * 64})
    assert refused.status_code == 400 and refused.json() == {"error": "invalid_grant"}
    # The code was spent by the failed attempt: the right verifier comes too late.
    again = await client.post("/dev-issuer/token", data=exchange | {"code_verifier": verifier})
    assert again.status_code == 400
    # Someone not listed (another organisation's person) cannot be picked.
    other = await client.post("/dev-issuer/authorize", data=fields | {"person": "globex/x"})
    assert other.status_code == 400


async def test_forms_without_the_session_csrf_token_change_nothing(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="web")
    await add_person(runtime, settings, tenant, "anna.keller")
    finding = await _finding(runtime, tenant.slug, owner="user:anna.keller")
    anonymous = await client.post(f"/findings/{finding}/respond", data={"response": "Fixed."})
    assert anonymous.status_code == 403 and "FORBIDDEN" in anonymous.text
    page = await sign_in(client, tenant.slug, "anna.keller")
    detail = await client.get(f"/findings/{finding}")
    assert detail.status_code == 200 and "Respond" in detail.text
    for token in ("", "not-the-token", csrf_of(page.text)[:-2]):
        forged = await client.post(
            f"/findings/{finding}/respond", data={"response": "Fixed.", "csrf": token}
        )
        assert forged.status_code == 403, token
    assert "state</dt><dd>open" in (await client.get(f"/findings/{finding}")).text.lower()
    done = await client.post(
        f"/findings/{finding}/respond", data={"response": "Fixed.", "csrf": csrf_of(detail.text)}
    )
    assert done.status_code == 303
    after = await client.get(done.headers["location"])
    assert "Done: responded" in after.text and "finding.transition" in after.text


async def test_a_post_without_a_session_is_refused_unauthenticated(
    client: httpx.AsyncClient, runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="web")
    finding = await _finding(runtime, tenant.slug)
    page = await client.get("/signin")  # an anonymous session with its own CSRF token
    refused = await client.post(
        f"/findings/{finding}/respond", data={"response": "x", "csrf": csrf_of(page.text)}
    )
    assert refused.status_code == 401
    assert "UNAUTHENTICATED" in refused.text and "not signed in" in refused.text


async def test_a_page_refuses_what_the_api_refuses_with_the_same_code(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings, make_tenant: TenantFactory
) -> None:
    owner = await make_tenant(label="own")
    stranger = await make_tenant(label="str")
    await add_person(runtime, settings, stranger, "eve.intruder")
    finding = await _finding(runtime, owner.slug, title="Private supplier audit")
    await sign_in(client, stranger.slug, "eve.intruder")
    page = await client.get(f"/findings/{finding}")
    token = mint_token(stranger.slug, "eve.intruder", ttl=timedelta(minutes=5), settings=settings)
    api = await client.post(
        "/graphql",
        json={"query": operations.FINDING.document, "variables": {"id": finding}},
        headers={"authorization": f"Bearer {token}"},
    )
    codes = [e["extensions"]["code"] for e in api.json().get("errors", [])]
    answer = api.json()["data"]["finding"]
    assert answer is None
    expected = codes[0] if codes else "NOT_FOUND"
    assert page.status_code == {"NOT_FOUND": 404, "FORBIDDEN": 403}[expected]
    assert expected in page.text and "Private supplier audit" not in page.text
    posted = await client.post(
        f"/findings/{finding}/respond", data={"response": "mine now", "csrf": csrf_of(page.text)}
    )
    assert posted.status_code in (403, 404) and "mine now" not in posted.text
    async with tenant_session(runtime, owner.slug) as session:
        unchanged = await finding_service.get_finding(session=session, finding_id=_uuid_of(finding))
        assert unchanged.state == "open" and unchanged.response is None


def _uuid_of(global_id_text: str) -> Any:
    import uuid

    padded = global_id_text + "=" * (-len(global_id_text) % 4)
    return uuid.UUID(base64.urlsafe_b64decode(padded).decode().rsplit(":", 1)[1])


async def test_production_serves_no_development_issuer_and_marks_the_cookie_secure(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCORD_SECRET_KEY", base64.urlsafe_b64encode(b"k" * 32).decode())
    monkeypatch.setenv("ACCORD_CURSOR_SECRET", "web-test-cursor-secret")
    prod = create_app(make_test_settings(env="prod"), runtime=runtime)
    async with prod.router.lifespan_context(prod):
        transport = httpx.ASGITransport(app=prod)
        # https: the browser sends a Secure cookie back over https only.
        async with httpx.AsyncClient(transport=transport, base_url="https://accord.test") as c:
            assert (await c.get("/dev-issuer/authorize")).status_code == 404
            page = await c.get("/signin")
            assert "development" not in page.text.lower()
            assert "secure" in page.headers["set-cookie"].lower()
            refused = await c.post("/signin", data={"csrf": csrf_of(page.text), "organisation": ""})
            assert refused.status_code == 401


def test_every_page_operation_is_valid_against_the_schema() -> None:
    schema = schema_for(production=False)._schema
    found = [v for v in vars(operations).values() if isinstance(v, operations.Operation)]
    assert len(found) >= 15
    for operation in found:
        document = parse(operation.document)
        assert validate(schema, document) == [], operation.name
        names = [d.name.value for d in document.definitions if getattr(d, "name", None)]
        assert operation.name in names


CLAUSES = [
    {
        "key": "a:1/8",
        "standardId": "a:1",
        "number": "8",
        "title": "Operation",
        "parentKey": None,
        "depth": 1,
        "harmonizedStructure": True,
        "harmonizedRef": None,
    },
    {
        "key": "a:1/8.4",
        "standardId": "a:1",
        "number": "8.4",
        "title": "Suppliers",
        "parentKey": "a:1/8",
        "depth": 2,
        "harmonizedStructure": False,
        "harmonizedRef": None,
    },
    {
        "key": "a:1/10.2",
        "standardId": "a:1",
        "number": "10.2",
        "title": "Nonconformity",
        "parentKey": None,
        "depth": 2,
        "harmonizedStructure": True,
        "harmonizedRef": "10.2",
    },
    {
        "key": "b:1/8",
        "standardId": "b:1",
        "number": "8",
        "title": "Operation",
        "parentKey": None,
        "depth": 1,
        "harmonizedStructure": True,
        "harmonizedRef": None,
    },
    {
        "key": "b:1/10.1",
        "standardId": "b:1",
        "number": "10.1",
        "title": "Nonconformity",
        "parentKey": None,
        "depth": 2,
        "harmonizedStructure": True,
        "harmonizedRef": "10.2",
    },
    {
        "key": "g:1/4",
        "standardId": "g:1",
        "number": "4",
        "title": "Guidance",
        "parentKey": None,
        "depth": 1,
        "harmonizedStructure": False,
        "harmonizedRef": None,
    },
]


def test_the_heat_map_places_clauses_on_their_harmonized_structure_twins() -> None:
    placement = Placement(CLAUSES, "b:1")
    assert placement.row_of("a:1/8.4") == "b:1/8"  # a sub-clause lies in its HS clause
    assert placement.row_of("a:1/10.2") == "b:1/10.1"  # twins by HS number, not own number
    assert placement.row_of("g:1/4") is None  # guidance has no HS twin
    grid = build(
        standard="b:1",
        clauses=CLAUSES,
        dashboards=[
            {"tenant": "x", "openByClause": {"a:1/8.4": 2, "a:1/10.2": 1, "g:1/4": 5}},
            {"tenant": "y", "openByClause": {}, "roundedTo": 3},
        ],
        labels={},
    )
    assert grid.columns[0].counts == {"b:1/8": 2, "b:1/10.1": 1}
    assert grid.columns[0].unplaced == 5
    assert grid.columns[1].suppressed and grid.columns[1].counts == {}
    guidance = Placement(CLAUSES, "g:1")
    assert [r.key for r in guidance.rows] == ["g:1/4"] and guidance.row_of("a:1/8") is None


async def test_a_person_signs_in_at_their_organisations_own_issuer(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    idp = IdentityServer()
    async with served(idp.app()) as port:
        idp.port = port
        key = ed_key("web-idp")
        trusted = await trusted_issuer(runtime, idp, [key], algorithms=["EdDSA"], label="oidc")
        name = name_of(trusted)
        idp.signers[name] = (key, "EdDSA", trusted.issuer)
        idp.people[name] = (trusted.member, trusted.tenant.slug)
        page = await client.get("/signin")
        started = await client.post(
            "/signin", data={"csrf": csrf_of(page.text), "organisation": trusted.tenant.slug}
        )
        assert started.status_code == 303
        authorize = started.headers["location"]
        assert authorize.startswith(f"{trusted.issuer}/authorize?")
        assert "code_challenge_method=S256" in authorize and "client_id=accord-web" in authorize
        async with httpx.AsyncClient() as browser_at_idp:
            consented = await browser_at_idp.get(authorize)
        assert consented.status_code == 302
        back = consented.headers["location"]
        assert back.startswith(f"{BASE}/auth/callback?")
        landed = await client.get(back.removeprefix(BASE))
        assert landed.status_code == 303 and landed.headers["location"] == "/"
        home = await client.get("/")
        assert home.status_code == 200 and trusted.member in home.text
        # The code was used: replaying the callback starts no second session.
        replay = await client.get(back.removeprefix(BASE))
        assert replay.status_code == 401


async def test_tables_download_as_csv_with_formulas_quoted_as_text(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="csv")
    await add_person(runtime, settings, tenant, "anna.keller")
    await _finding(runtime, tenant.slug, reference="F-CSV-1", title="=HYPERLINK(evil)")
    await sign_in(client, tenant.slug, "anna.keller")
    download = await client.get("/findings?format=csv")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    lines = download.text.splitlines()
    assert lines[0].startswith("reference,organisation,level")
    row = next(line for line in lines if line.startswith("F-CSV-1"))
    assert "'=HYPERLINK(evil)" in row
    heat = await client.get("/heatmap?format=csv&standard=iso9001:2015")
    assert heat.status_code == 200 and heat.text.splitlines()[0] == f"clause,title,{tenant.slug}"
    assert any(line.startswith("8,Operation,1") for line in heat.text.splitlines())


async def test_trends_count_the_findings_listed_per_month_raised_and_closed(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="trend")
    await add_person(runtime, settings, tenant, "anna.keller")
    raised = now() - timedelta(days=1)
    for _ in range(3):
        await _finding(runtime, tenant.slug, raised_at=raised)
    await sign_in(client, tenant.slug, "anna.keller")
    page = await client.get("/trends")
    assert page.status_code == 200
    assert "from 3 findings" in page.text
    month = raised.strftime("%Y-%m")
    assert f"<tr><td>{month}</td><td>3</td><td>0</td></tr>" in page.text
