"""The pages in Debian's chromium (Playwright, headless) against ``accord demo`` on loopback.

People of three organisations sign in through the development issuer's page and see their
own network; the heat-map's numbers are the API's; an aggregate-level partner's records
reach the browser in no DOM and no response; a finding is answered and a review signed from
the page (the signature then verifies offline with ``accord review verify``); forms without
their CSRF token and pages without a session are refused; every page passes axe-core with
no serious or critical violation and reads at 1280 and 390 px. Screenshots of every page
are kept under ``ACCORD_TEST_ARTIFACTS`` (default ``.accord/test/screenshots``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from accord.compliance.reviews.signatures import jws
from accord.compliance.reviews.signatures.jws import Binding, Signer
from accord.demo import HOME_REGION, HOME_STORE, US_REGION, US_STORE
from accord.web import operations
from tests.conftest import TEST_DATA_DIR
from tests.factories.cli import demo_env, free_port, start_demo, stop_demo

CHROMIUM = Path(os.environ.get("ACCORD_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("ACCORD_TEST_ARTIFACTS", ".accord/test/screenshots"))
REVIEW_PROCESS = "network-management-review-q4-2026"
SUPPLIER_QUALITY = "supplier-quality-2027"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason=f"{CHROMIUM} is missing (apt-get install chromium); CI installs it and never skips",
    ),
]

# The demo shares initech's findings in aggregate but in no process; globex follows them.
FOLLOW_INITECH = """
name: initech follow-up
process: initech-follow-up
owners: [initech]
parties: [role:initech/quality_manager, role:globex/quality_manager]
activities:
  - {name: Follow findings, record_type: finding, actions: [close]}
raci:
  Follow findings:
    role:initech/quality_manager: A
    role:globex/quality_manager: I
"""
PEOPLE = {
    "northwind": ("anna.keller", "Anna Keller"),
    "globex": ("maria.santos", "Maria Santos"),
    "meridian": ("priya.patel", "Priya Patel"),
}


@dataclass
class Demo:
    base: str
    data: Path  # the demo's data directory
    cli_env: dict[str, str]

    def token(self, tenant: str) -> str:
        subject = PEOPLE.get(tenant, ("siobhan.murphy",))[0]
        return (self.data / "demo-tokens" / f"{tenant}-{subject}.jwt").read_text()

    def graphql(self, tenant: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        body = httpx.post(
            f"{self.base}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {self.token(tenant)}"},
            timeout=30,
        ).json()
        assert "errors" not in body, body
        return body["data"]

    def accord(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "accord", *args],
            env=self.cli_env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    # Under the test data directory, not pytest's private temporary root: the embedded
    # PostgreSQL runs as its own user and must reach its data directory.
    data = TEST_DATA_DIR / f"web-demo-{secrets.token_hex(4)}" / "data"
    data.mkdir(parents=True)
    port = free_port()
    proc = start_demo(data, port, seconds=300)
    cli_env = {
        **demo_env(data),
        "ACCORD_DATA_DIR": str(data / "demo"),
        "ACCORD_HOME_STORE": HOME_STORE,
        "ACCORD_HOME_REGION": HOME_REGION,
        "ACCORD_STORES": json.dumps(
            [{"name": US_STORE, "region": US_REGION, "url": f"embedded:{US_STORE}"}]
        ),
    }
    running = Demo(f"http://127.0.0.1:{port}", data / "demo", cli_env)
    try:
        matrix = data / "follow-initech.yaml"
        matrix.write_text(FOLLOW_INITECH)
        imported = running.accord("raci", "import", str(matrix))
        assert imported.returncode == 0, imported.stderr
        time.sleep(1)  # the server's policy listener reloads the matrix
        yield running
    finally:
        try:
            stop_demo(proc)
        except subprocess.TimeoutExpired:
            proc.communicate()
        shutil.rmtree(data.parent, ignore_errors=True)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            await launched.close()


class Visit:
    """A browser context signed in as one person; every response it receives is kept."""

    def __init__(self, context: Any, page: Any, base: str) -> None:
        self.context, self.page, self.base = context, page, base
        self.responses: list[Any] = []
        self.errors: list[str] = []
        page.on("response", lambda response: self.responses.append(response))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        # A refusal page's own status (4xx) is logged as a failed load; anything else counts.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    async def go(self, path: str, shot: str | None = None) -> Any:
        response = await self.page.goto(self.base + path)
        await self.page.wait_for_load_state("load")
        if shot:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            width = self.page.viewport_size["width"]
            await self.page.screenshot(path=str(ARTIFACTS / f"{shot}-{width}.png"), full_page=True)
        return response

    async def bodies(self) -> list[str]:
        texts = []
        for response in self.responses:
            if urlsplit(response.url).hostname != "127.0.0.1":
                texts.append(f"OFF-HOST {response.url}")
                continue
            try:
                texts.append((await response.body()).decode("utf-8", "replace"))
            except Exception:  # redirects have no body
                texts.append("")
        return texts


async def sign_in(browser: Any, demo: Demo, name: str, *, width: int = 1280) -> Visit:
    context = await browser.new_context(viewport={"width": width, "height": 900})
    page = await context.new_page()
    visit = Visit(context, page, demo.base)
    await visit.go("/signin", shot="signin" if width else None)
    await page.get_by_role("button", name="Continue to your organisation's sign-in").click()
    await page.wait_for_url("**/dev-issuer/authorize**")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"dev-issuer-{width}.png"), full_page=True)
    await page.get_by_role("button", name=name, exact=False).first.click()
    await page.wait_for_url(demo.base + "/")
    return visit


def dashboard_tenants(demo: Demo, tenant: str) -> dict[str, dict[str, Any]]:
    """What the API's networkDashboard answers this person, over their processes."""
    me = demo.graphql(tenant, operations.WHO_AM_I.document)
    seen: dict[str, dict[str, Any]] = {}
    for process in [None, *(m["process"] for m in me["raciMatrices"])]:
        board = demo.graphql(tenant, operations.NETWORK_DASHBOARD.document, {"process": process})
        for counts in board["networkDashboard"]["tenants"]:
            seen.setdefault(counts["tenant"], counts)
    return seen


async def test_people_of_three_organisations_each_see_their_own_network(
    demo: Demo, browser: Any
) -> None:
    for tenant, (_, name) in PEOPLE.items():
        visit = await sign_in(browser, demo, name)
        await visit.go("/", shot=f"overview-{tenant}")
        tiles = visit.page.locator("article.tile")
        headings = await tiles.locator("h2").all_inner_texts()
        expected = dashboard_tenants(demo, tenant)
        assert len(headings) == len(expected), (tenant, headings, expected)
        for slug, counts in expected.items():
            tile = visit.page.locator("article.tile", has=visit.page.locator(f"#tile-{slug}"))
            text = await tile.inner_text()
            total = sum(counts["openByGrade"].values())
            assert f"Open findings\n{total}" in text.replace("\t", "\n"), (tenant, slug, text)
            if slug == tenant:
                assert "your organisation" in text
            elif counts["roundedTo"] is not None:
                assert "aggregate" in text and "rounded" in text
            else:
                assert "full:" in text or "summary:" in text
        assert visit.errors == []
        await visit.context.close()
    globex = dashboard_tenants(demo, "globex")
    assert globex["initech"]["roundedTo"] == 3  # the aggregate partner is on the page, rounded


def _expected_cells(demo: Demo, tenant: str, standard: str) -> dict[tuple[str, str], int]:
    """The heat-map computed here from the API: each clause to its Harmonized-Structure row."""
    clauses = demo.graphql(tenant, operations.CLAUSES.document)
    by_key = {c["key"]: c for alias in clauses for c in clauses[alias]}
    rows_by_ref = {
        (c["harmonizedRef"] or c["number"]): c["key"]
        for c in by_key.values()
        if c["standardId"] == standard and c["harmonizedStructure"]
    }
    cells: dict[tuple[str, str], int] = {}
    for slug, counts in dashboard_tenants(demo, tenant).items():
        for key, n in counts["openByClause"].items():
            clause = by_key.get(key)
            while clause is not None and not clause["harmonizedStructure"]:
                clause = by_key.get(clause["parentKey"] or "")
            if clause is None:
                continue
            row = rows_by_ref.get(clause["harmonizedRef"] or clause["number"])
            if row is not None:
                cells[(slug, row)] = cells.get((slug, row), 0) + n
    return cells


async def test_heat_map_numbers_are_the_graphql_aggregates(demo: Demo, browser: Any) -> None:
    visit = await sign_in(browser, demo, "Maria Santos")
    for standard in ("iso9001:2015", "iso14001:2015"):
        await visit.go(f"/heatmap?standard={standard}", shot=f"heatmap-{standard.split(':')[0]}")
        shown: dict[tuple[str, str], str] = {}
        for cell in await visit.page.locator("text.cell-n").all():
            key = (await cell.get_attribute("data-tenant"), await cell.get_attribute("data-clause"))
            shown[(str(key[0]), str(key[1]))] = (await cell.text_content() or "").strip()
        expected = _expected_cells(demo, "globex", standard)
        boards = dashboard_tenants(demo, "globex")
        for (slug, row), text in shown.items():
            if boards[slug]["roundedTo"] is not None:
                assert text == "suppressed", (slug, row, text)
            else:
                assert int(text) == expected.get((slug, row), 0), (slug, row, text)
        assert sum(expected.values()) > 0
        assert {s for s, _ in shown} == set(boards)
    await visit.context.close()


async def test_an_aggregate_partner_reaches_the_browser_only_as_counts(
    demo: Demo, browser: Any
) -> None:
    own = demo.graphql(
        "initech",
        "{ findings(first: 100) { edges { node { id tenant reference title condition } } } }",
    )
    records = [e["node"] for e in own["findings"]["edges"] if e["node"]["tenant"] == "initech"]
    assert records, "initech has findings of its own"
    secrets = {r["id"] for r in records} | {r["reference"] for r in records}
    secrets |= {r["condition"] for r in records if r["condition"]}
    visit = await sign_in(browser, demo, "Maria Santos")
    for path in ("/", "/heatmap", "/findings?tenant=initech&process=initech-follow-up", "/mywork"):
        await visit.go(path)
        dom = await visit.page.content()
        assert not [s for s in secrets if s in dom], path
    tile = await visit.page.goto(demo.base + "/")
    assert tile is not None
    assert "aggregate" in await visit.page.locator("#tile-initech").locator("..").inner_text()
    bodies = await visit.bodies()
    assert len(bodies) >= 8
    leaked = [s for s in secrets for body in bodies if s in body]
    assert leaked == []
    assert not [b for b in bodies if b.startswith("OFF-HOST")]
    await visit.context.close()


async def test_a_finding_is_answered_from_its_page_and_the_step_is_in_its_history(
    demo: Demo, browser: Any
) -> None:
    listing = demo.graphql(
        "globex",
        operations.FINDINGS.document,
        {
            "first": 50,
            "filter": {"state": ["OPEN"], "tenants": ["globex"]},
            "process": SUPPLIER_QUALITY,
        },
    )
    target = next(
        e["node"] for e in listing["findings"]["edges"] if e["node"]["reference"] == "GX-2026-02"
    )
    visit = await sign_in(browser, demo, "Maria Santos")
    await visit.go(f"/findings/{target['id']}?process={SUPPLIER_QUALITY}", shot="finding")
    await visit.page.get_by_label("Response").fill("Torque wrenches recalibrated; schedule fixed.")
    await visit.page.get_by_role("button", name="Respond").click()
    await visit.page.get_by_text("Done: responded").wait_for()
    history = await visit.page.locator("#history-h").locator("..").inner_text()
    assert "user:globex/maria.santos" in history and "finding.transition" in history
    await visit.go(f"/findings/{target['id']}?process={SUPPLIER_QUALITY}", shot="finding-answered")
    await visit.page.get_by_role("link", name="the audit that raised it").click()
    await visit.page.wait_for_load_state("load")
    await visit.page.screenshot(path=str(ARTIFACTS / "audit-1280.png"), full_page=True)
    assert "Joint supplier audit" in await visit.page.locator("h1").inner_text()
    answered = demo.graphql(
        "globex", operations.FINDING.document, {"id": target["id"], "process": SUPPLIER_QUALITY}
    )["finding"]
    assert answered["state"] == "RESPONDED" and answered["response"].startswith("Torque")
    await visit.context.close()


async def test_a_review_is_signed_by_uploading_a_detached_jws_and_verifies_offline(
    demo: Demo, browser: Any, tmp_path: Path
) -> None:
    reviews = demo.graphql("northwind", operations.REVIEWS.document, {"process": None})[
        "managementReviews"
    ]["edges"]
    review = reviews[0]["node"]
    bundle = demo.graphql(
        "northwind", operations.REVIEW_BUNDLE.document, {"reviewId": review["id"]}
    )
    content = bundle["signedReviewBundle"]
    key = jws.load_private_key((demo.data / "demo-keys" / "meridian-tom.hughes.pem").read_bytes())
    binding = Binding(
        content["review"]["id"],
        content["review"]["revision"],
        content["content_digest"],
        Signer("meridian", "tom.hughes"),
    )
    signature = tmp_path / "tom.jws"
    signature.write_text(jws.sign_detached(key, kid="tom.hughes-2026", binding=binding))

    # A signatory of another organisation reads what they sign (the signed-review bundle)
    # but cannot list the owner's reviews, so they come by the review's address.
    visit = await sign_in(browser, demo, "Tom Hughes")
    await visit.go(f"/reviews/{review['id']}?process={REVIEW_PROCESS}", shot="review-signatory")
    assert content["content_digest"] in await visit.page.content()
    await visit.page.set_input_files("#jws_file", str(signature))
    await visit.page.get_by_role("button", name="Sign the review").click()
    await visit.page.get_by_text("Done: signed").wait_for()
    signed_row = visit.page.locator("tr", has_text="meridian/tom.hughes")
    assert "signed" in await signed_row.inner_text()
    await visit.context.close()

    exported = tmp_path / "bundle.json"
    keys = tmp_path / "keys.json"
    review_uuid = content["review"]["id"]
    done = demo.accord(
        "review", "export", review_uuid, "--tenant", "northwind", "--out", str(exported)
    )
    assert done.returncode == 0, done.stderr
    tenants = [a for t in ("northwind", "globex", "meridian", "initech") for a in ("--tenant", t)]
    published = demo.accord("review", "keys", *tenants, "--out", str(keys))
    assert published.returncode == 0, published.stderr
    checked = demo.accord("review", "verify", str(exported), "--trust", str(keys), "--json")
    report = json.loads(checked.stdout)
    signers = json.dumps(report)
    assert "tom.hughes" in signers, report
    assert checked.returncode in (0, 1), checked.stderr
    assert json.loads(exported.read_text())["signatures"][-1]["signer"]["subject"] == "tom.hughes"


async def test_forms_without_their_token_and_pages_without_a_session_are_refused(
    demo: Demo, browser: Any
) -> None:
    anonymous = await browser.new_context()
    page = await anonymous.new_page()
    await page.goto(demo.base + "/mywork")
    assert urlsplit(page.url).path == "/signin"
    posted = await page.request.post(
        demo.base + "/findings/x/respond", form={"response": "x"}, max_redirects=0
    )
    assert posted.status == 403 and "FORBIDDEN" in await posted.text()
    await anonymous.close()

    visit = await sign_in(browser, demo, "Anna Keller")
    forged = await visit.page.request.post(
        demo.base + "/signout", form={"csrf": "forged"}, max_redirects=0
    )
    assert forged.status == 403
    assert urlsplit((await visit.go("/mywork")).url).path == "/mywork"  # still signed in
    await visit.page.get_by_role("button", name="Sign out").click()
    await visit.page.wait_for_url("**/signin")
    await visit.go("/")
    assert urlsplit(visit.page.url).path == "/signin"
    await visit.context.close()


PAGES = (
    ("overview", "/"),
    ("heatmap", "/heatmap"),
    ("heatmap-22361", "/heatmap?standard=iso22361:2022"),
    ("findings", "/findings"),
    ("trends", "/trends"),
    ("trends-globex", "/trends?tenant=globex"),
    ("mywork", "/mywork"),
)


async def test_every_page_passes_axe_and_reads_at_1280_and_390_px(demo: Demo, browser: Any) -> None:
    from axe_playwright_python.async_playwright import Axe

    axe = Axe()
    listing = demo.graphql(
        "northwind",
        operations.FINDINGS.document,
        {"first": 20, "filter": {"tenants": ["globex"]}, "process": SUPPLIER_QUALITY},
    )
    major = next(
        e["node"] for e in listing["findings"]["edges"] if e["node"]["reference"] == "GX-2026-01"
    )
    detail = demo.graphql(
        "northwind", operations.FINDING.document, {"id": major["id"], "process": SUPPLIER_QUALITY}
    )["finding"]
    reviews = demo.graphql("northwind", operations.REVIEWS.document, {"process": None})
    review_id = reviews["managementReviews"]["edges"][0]["node"]["id"]
    pages = [
        *PAGES,
        ("finding-detail", f"/findings/{major['id']}?process={SUPPLIER_QUALITY}"),
        ("capa", f"/capas/{detail['capas'][0]['id']}?process={SUPPLIER_QUALITY}"),
        ("review", f"/reviews/{review_id}"),
        ("refused", "/findings/RmluZGluZzpub3BlOjA?process=x"),
    ]
    problems: list[str] = []
    for width in (1280, 390):
        visit = await sign_in(browser, demo, "Anna Keller", width=width)
        audit_link = None
        for name, path in pages:
            await visit.go(path, shot=name)
            if name == "finding-detail":
                audit_link = await visit.page.get_by_role(
                    "link", name="the audit that raised it"
                ).get_attribute("href")
            results = await axe.run(visit.page)
            for violation in results.response["violations"]:
                if violation["impact"] in ("serious", "critical"):
                    problems.append(f"{width} {name}: {violation['id']} {violation['help']}")
            overflow = await visit.page.evaluate(
                "document.documentElement.scrollWidth - window.innerWidth"
            )
            if overflow > 1:
                problems.append(f"{width} {name}: page scrolls sideways by {overflow} px")
        assert audit_link
        # northwind may read globex's findings in this process, not its audits: the API's
        # NOT_FOUND, in plain words.
        refused = await visit.go(audit_link, shot="audit-refused")
        assert refused.status == 404 and "NOT_FOUND" in await visit.page.content()
        assert visit.errors == [], visit.errors
        await visit.context.close()
    assert problems == []
