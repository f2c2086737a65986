"""GraphiQL in headless chromium with no network but loopback: it renders and runs a query.

Debian's chromium (``/usr/bin/chromium``) is driven by Playwright's Python package; no
browser is downloaded. Every request to a host other than 127.0.0.1 is aborted and recorded,
so a page that still needed a CDN would stay on "Loading…" and the test would say which URL.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest

from accord.app import create_app
from accord.platform.runtime import Runtime
from accord.platform.settings import Settings
from tests.conftest import TenantFactory
from tests.factories.api import served
from tests.factories.tokens import sign_in

CHROMIUM = Path(os.environ.get("ACCORD_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("ACCORD_TEST_ARTIFACTS", ".accord/test-artifacts"))

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason=f"{CHROMIUM} is missing (apt-get install chromium); CI installs it and never skips",
)


@pytest.fixture
async def base_url(settings: Settings, runtime: Runtime) -> AsyncIterator[str]:
    async with served(create_app(settings, runtime=runtime)) as port:
        yield f"http://127.0.0.1:{port}"


async def test_the_page_names_no_other_host_and_its_assets_are_served(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        page = await client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200
        assert "http" not in page.text.replace(base_url, "")  # no absolute URL to elsewhere
        assert "script-src 'self'" in page.headers["content-security-policy"]
        for name in ("graphiql.min.js", "react.production.min.js", "start.js"):
            asset = await client.get(f"/graphql/ide/{name}")
            assert asset.status_code == 200 and asset.headers["content-type"].startswith(
                "text/javascript"
            )
        assert (await client.get("/graphql/ide/../../pyproject.toml")).status_code == 404
        assert (await client.get("/graphql/ide/views.py")).status_code == 404


async def test_graphiql_renders_offline_and_runs_a_query(
    base_url: str, settings: Settings, runtime: Runtime, make_tenant: TenantFactory
) -> None:
    from playwright.async_api import Route, async_playwright

    tenant = await make_tenant(label="ide")
    token = await sign_in(
        runtime, settings, tenant, "anna.keller", ["quality_manager"], display_name="Anna Keller"
    )

    blocked: list[str] = []

    async def loopback_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    query = "{ me { tenant subject } }"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            await context.route("**/*", loopback_only)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "console",
                lambda msg: errors.append(msg.text) if msg.type == "error" else None,
            )
            await page.goto(f"{base_url}/graphql#query={quote(query)}")
            try:
                await page.wait_for_selector(".graphiql-execute-button", timeout=15_000)
            except Exception:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "graphiql-not-rendered.png"))
                raise AssertionError(
                    f"GraphiQL did not render; blocked {blocked}, errors {errors}"
                ) from None
            await page.get_by_text("Headers", exact=True).click()
            headers = page.locator(".graphiql-editor-tool .CodeMirror").last
            await headers.click()
            await page.keyboard.type(f'{{"authorization": "Bearer {token}"}}')
            await page.locator(".graphiql-execute-button").click()
            result = page.locator(".result-window")
            await result.get_by_text(tenant.slug).wait_for(timeout=15_000)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "graphiql.png"))
            text = await result.inner_text()
        finally:
            await browser.close()

    assert blocked == []
    assert errors == []
    assert '"subject": "anna.keller"' in text
