"""The demo's own people do their parts: ``accord demo`` served on loopback, each journey
walked over HTTP with the token the demo hands that person, against the demo's data.

- northwind's lead auditor (Accountable for "verify and close") raises a finding at globex;
- northwind's lead auditor, the planned verifier of globex's waste-manifest CAPA, judges it
  effective and the CAPA closes; globex reports the finding's CAPA implemented and she,
  the audit protocol's verifier, verifies the finding — with the demo's own RACI;
- every partner sees initech's aggregate share on the network dashboard;
- meridian's chief executive, a pending signatory, finds the review and signs it;
- umbrella, a clinical laboratory, joins the network with Accord's own commands: created
  with its first admin and OIDC issuer, two members added over HTTP, an agreement granted
  to meridian, a pre-contract gap analysis run.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.demo import HOME_REGION, HOME_STORE, US_REGION, US_STORE
from accord.demo.raci import REVIEW_PROCESS, SECURITY_OVERVIEW, SUPPLIER_QUALITY
from tests.conftest import TEST_DATA_DIR
from tests.factories.cli import accord, demo_env, free_port, start_demo, stop_demo
from tests.factories.evidence_api import UPLOAD, pdf_bytes
from tests.factories.oidc import AUDIENCE, oidc_provider, password_token
from tests.factories.review_api import BUNDLE, SIGN, Member, binding_of, signature

RAISE = """
mutation($input: RaiseFindingInput!) {
  raiseFinding(input: $input) {
    finding { id tenant reference state } errors { code field }
  }
}
"""
CAPAS = """
query($process: String) {
  capas(first: 50, process: $process) { edges { node { id tenant reference state } } }
}
"""
FINDINGS = """
query($process: String) {
  findings(first: 100, process: $process) { edges { node { id tenant reference state } } }
}
"""
TRANSITION = """
mutation($id: ID!, $target: FindingState!, $process: String) {
  transitionFinding(id: $id, target: $target, process: $process) {
    finding { state } errors { code reasonCode }
  }
}
"""
VERIFY = """
mutation($id: ID!, $result: VerificationResult!) {
  verifyAuditFinding(id: $id, result: $result) {
    finding { state verificationResult verifiedBy } errors { code reasonCode }
  }
}
"""
JUDGE = """
mutation($id: ID!, $process: String) {
  recordCapaEffectiveness(id: $id, result: EFFECTIVE, process: $process) {
    capa { reference state } errors { code }
  }
}
"""
DASHBOARD = """
query($process: String) {
  networkDashboard(process: $process) { tenants { tenant roundedTo openByGrade } }
}
"""
REVIEWS = """
query($process: String) {
  managementReviews(first: 10, process: $process) {
    edges { node { id tenant title status } }
  }
}
"""
COMPILE = """
mutation($id: ID!, $issues: String!, $process: String) {
  compileReviewInputs(reviewId: $id, externalInternalIssues: $issues, process: $process) {
    review { id } errors { code }
  }
}
"""


class Demo:
    def __init__(self, port: int, data: Path) -> None:
        self.url = f"http://127.0.0.1:{port}/graphql"
        self.tokens = data / "demo-tokens"
        self.keys = data / "demo-keys"
        # The ``accord`` command pointed at the demo's network.
        self.env = {
            **demo_env(data.parent),
            "ACCORD_DATA_DIR": str(data),
            "ACCORD_HOME_STORE": HOME_STORE,
            "ACCORD_HOME_REGION": HOME_REGION,
            "ACCORD_STORES": json.dumps(
                [{"name": US_STORE, "region": US_REGION, "url": f"embedded:{US_STORE}"}]
            ),
        }

    def cli(self, *args: str) -> str:
        done = accord(*args, env=self.env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    async def post_as(self, token: str, query: str, variables: dict[str, Any]) -> Any:
        # Asynchronous: the server asks the test's identity provider (on this loop) for keys.
        async with httpx.AsyncClient() as client:
            response = await client.post(
                self.url,
                json={"query": query, "variables": variables},
                headers={"authorization": f"Bearer {token}"},
                timeout=30,
            )
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    def member(self, tenant: str, subject: str) -> Member:
        """The person as the demo set them up: token, and an executive's signing key."""
        token = (self.tokens / f"{tenant}-{subject}.jwt").read_text()
        pem = self.keys / f"{tenant}-{subject}.pem"
        if not pem.exists():
            return Member(tenant, subject, token)
        key = serialization.load_pem_private_key(pem.read_bytes(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        return Member(tenant, subject, token, key, f"{subject}-2026")

    def post(self, who: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        token = (self.tokens / f"{who}.jwt").read_text()
        body = httpx.post(
            self.url,
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {token}"},
            timeout=30,
        ).json()
        assert "errors" not in body, body
        return body["data"]

    def upload(self, who: str, variables: dict[str, Any], content: bytes, filename: str) -> Any:
        """``uploadEvidence`` as a GraphQL multipart request (operations, map, the file)."""
        token = (self.tokens / f"{who}.jwt").read_text()
        operations = {"query": UPLOAD, "variables": {"input": {**variables, "file": None}}}
        body = httpx.post(
            self.url,
            data={
                "operations": json.dumps(operations),
                "map": json.dumps({"0": ["variables.input.file"]}),
            },
            files={"0": (filename, content, "application/octet-stream")},
            headers={"authorization": f"Bearer {token}"},
            timeout=30,
        ).json()
        assert "errors" not in body, body
        return body["data"]["uploadEvidence"]

    def finding(self, who: str, reference: str) -> dict[str, Any]:
        edges = self.post(who, FINDINGS, {"process": SUPPLIER_QUALITY})["findings"]["edges"]
        return next(e["node"] for e in edges if e["node"]["reference"] == reference)

    def capa(self, who: str, reference: str) -> dict[str, Any] | None:
        edges = self.post(who, CAPAS, {"process": SUPPLIER_QUALITY})["capas"]["edges"]
        return next((e["node"] for e in edges if e["node"]["reference"] == reference), None)


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    # Under the test data directory, not pytest's private temporary root: the embedded
    # PostgreSQL runs as its own user and must reach its data directory.
    data = TEST_DATA_DIR / f"journeys-{secrets.token_hex(4)}" / "data"
    data.mkdir(parents=True)
    port = free_port()
    proc = start_demo(data, port, seconds=180)
    try:
        yield Demo(port, data / "demo")
    finally:
        try:
            stop_demo(proc)
        except subprocess.TimeoutExpired:
            proc.communicate()
        shutil.rmtree(data.parent, ignore_errors=True)


def _finding(reference: str) -> dict[str, Any]:
    return {
        "tenant": "globex",
        "process": SUPPLIER_QUALITY,
        "reference": reference,
        "title": "Incoming inspection skipped for a resin lot",
        "grade": "MINOR_NONCONFORMITY",
        "severity": "MEDIUM",
        "clauseKeys": ["iso9001:2015/8.4"],
        "criteria": "ISO 9001:2015 8.4",
        "condition": "Lot 4471 was released without its incoming inspection record.",
    }


@pytest.mark.slow
def test_the_lead_auditor_raises_a_finding_at_globex(demo: Demo) -> None:
    raised = demo.post("northwind-lea.hoffmann", RAISE, {"input": _finding("GX-2026-05")})
    assert raised["raiseFinding"]["errors"] == []
    finding = raised["raiseFinding"]["finding"]
    assert (finding["tenant"], finding["reference"], finding["state"]) == (
        "globex",
        "GX-2026-05",
        "OPEN",
    )
    # meridian only observes supplier quality (Informed): it raises nothing at globex.
    refused = demo.post("meridian-priya.patel", RAISE, {"input": _finding("GX-2026-06")})
    assert refused["raiseFinding"]["finding"] is None
    assert refused["raiseFinding"]["errors"]


@pytest.mark.slow
def test_the_verifier_closes_the_capa_and_evidence_closes_the_finding(demo: Demo) -> None:
    capa = demo.capa("northwind-lea.hoffmann", "GX-CAPA-2026-02")
    assert capa is not None and capa["state"] == "EFFECTIVENESS_CHECK"
    # The owner never judges its own CAPA: refused, and the CAPA is unchanged.
    own = demo.post("globex-maria.santos", JUDGE, {"id": capa["id"], "process": SUPPLIER_QUALITY})[
        "recordCapaEffectiveness"
    ]
    assert own["capa"] is None and own["errors"]
    assert demo.capa("northwind-lea.hoffmann", "GX-CAPA-2026-02") == capa

    judged = demo.post(
        "northwind-lea.hoffmann", JUDGE, {"id": capa["id"], "process": SUPPLIER_QUALITY}
    )["recordCapaEffectiveness"]
    assert judged["errors"] == []
    assert judged["capa"] == {"reference": "GX-CAPA-2026-02", "state": "CLOSED"}

    # The finding: globex reports its CAPA implemented; northwind, the protocol's verifier,
    # takes it into verification and records the result.
    finding = demo.finding("northwind-lea.hoffmann", "GX-2026-03")
    assert finding["state"] == "CAPA_PLANNED"
    step = {"id": finding["id"], "process": SUPPLIER_QUALITY}
    done = demo.post("globex-maria.santos", TRANSITION, {**step, "target": "CAPA_IMPLEMENTED"})
    assert done["transitionFinding"]["errors"] == [], done
    # The auditee does not verify its own finding.
    own_check = demo.post("globex-maria.santos", TRANSITION, {**step, "target": "VERIFICATION"})
    assert own_check["transitionFinding"]["finding"] is None
    checking = demo.post("northwind-lea.hoffmann", TRANSITION, {**step, "target": "VERIFICATION"})
    assert checking["transitionFinding"]["errors"] == [], checking
    verified = demo.post(
        "northwind-lea.hoffmann", VERIFY, {"id": finding["id"], "result": "PASSED"}
    )["verifyAuditFinding"]
    assert verified["errors"] == [], verified
    assert verified["finding"] == {
        "state": "VERIFICATION",
        "verificationResult": "PASSED",
        "verifiedBy": "user:northwind/lea.hoffmann",
    }
    # Closing reads the evidence: none captured since the finding was raised, so the
    # finding stays in verification.
    closing = demo.post("northwind-lea.hoffmann", TRANSITION, {**step, "target": "CLOSED"})
    assert closing["transitionFinding"]["finding"] is None
    assert [e["reasonCode"] for e in closing["transitionFinding"]["errors"]] == [
        "EVIDENCE_REQUIRED"
    ]
    assert demo.finding("northwind-lea.hoffmann", "GX-2026-03")["state"] == "VERIFICATION"

    # The auditee files the evidence through the API (the type is read from the bytes, not
    # from what the client claims); then the lead auditor closes the finding.
    filed = demo.upload(
        "globex-maria.santos",
        {"findingId": finding["id"], "process": SUPPLIER_QUALITY, "title": "Waste manifests"},
        pdf_bytes("Waste manifests Q3, countersigned"),
        "manifests.pdf",
    )
    assert filed["errors"] == [], filed
    assert filed["evidence"]["mediaType"] == "application/pdf"
    assert filed["evidence"]["tenant"] == "globex"
    closed = demo.post("northwind-lea.hoffmann", TRANSITION, {**step, "target": "CLOSED"})
    assert closed["transitionFinding"]["errors"] == [], closed
    assert demo.finding("northwind-lea.hoffmann", "GX-2026-03")["state"] == "CLOSED"


@pytest.mark.slow
def test_every_partner_sees_initechs_aggregate_share(demo: Demo) -> None:
    for who in ("northwind-anna.keller", "globex-maria.santos", "meridian-priya.patel"):
        tenants = demo.post(who, DASHBOARD, {"process": SECURITY_OVERVIEW})["networkDashboard"]
        initech = [t for t in tenants["tenants"] if t["tenant"] == "initech"]
        assert len(initech) == 1, (who, tenants)
        assert initech[0]["roundedTo"] == 3


@pytest.mark.slow
def test_a_pending_signatory_finds_the_review_and_signs_it(demo: Demo) -> None:
    tom = demo.member("meridian", "tom.hughes")
    edges = demo.post("meridian-tom.hughes", REVIEWS, {"process": REVIEW_PROCESS})[
        "managementReviews"
    ]["edges"]
    assert [(e["node"]["tenant"], e["node"]["title"]) for e in edges] == [
        ("northwind", "Network management review Q4 2026")
    ]
    review = edges[0]["node"]["id"]
    # Informed of the compiled review, not Responsible for it: he cannot edit its inputs.
    compiled = demo.post(
        "meridian-tom.hughes",
        COMPILE,
        {"id": review, "issues": "Rewritten by a signatory", "process": REVIEW_PROCESS},
    )["compileReviewInputs"]
    assert compiled["review"] is None and compiled["errors"]

    # He reads what he signs, recomputes its digest, signs it with his own key.
    bundle = demo.post("meridian-tom.hughes", BUNDLE, {"id": review, "process": None})[
        "signedReviewBundle"
    ]
    compact = signature(tom, binding_of(bundle, tom))
    signed = demo.post(
        "meridian-tom.hughes", SIGN, {"id": review, "jws": compact, "process": REVIEW_PROCESS}
    )["signManagementReview"]
    assert signed["errors"] == [], signed
    assert signed["signature"]["signer"] == "meridian/tom.hughes"
    assert signed["signature"]["missing"] == ["initech/conor.walsh"]


ADD_MEMBER = """
mutation($input: AddMemberInput!) {
  addMember(input: $input) { member { subject roles } errors { code } }
}"""
ME = "query { me { tenant subject roles } }"


@pytest.mark.slow
async def test_umbrella_joins_the_network_with_accords_own_commands(demo: Demo) -> None:
    async with oidc_provider() as provider:
        idp = provider.realm("ES256")
        idp.users["root@umbrella.example"] = ("admin-pw", "umbrella")
        created = json.loads(
            await asyncio.to_thread(
                demo.cli,
                *("tenant", "create", "umbrella", "--name", "Umbrella Clinical Laboratory BV"),
                *("--jurisdiction", "NL", "--store", HOME_STORE),
                *("--admin", "root@umbrella.example", "--issuer", idp.issuer),
                *("--audience", AUDIENCE, "--json"),
            )
        )
        assert (created["slug"], created["status"]) == ("umbrella", "active")

        admin = await password_token(idp, "root@umbrella.example", "admin-pw")
        me = (await demo.post_as(admin, ME, {}))["me"]
        assert (me["tenant"], me["subject"]) == ("umbrella", "root@umbrella.example")
        for subject, roles in (
            ("eva.devries@umbrella.example", ["quality_manager"]),
            ("pieter.bakker@umbrella.example", ["executive"]),
        ):
            added = await demo.post_as(
                admin,
                ADD_MEMBER,
                {"input": {"subject": subject, "displayName": subject, "roles": roles}},
            )
            assert added["addMember"]["errors"] == []
            idp.users[subject] = ("pw", "umbrella")
        eva = await password_token(idp, "eva.devries@umbrella.example", "pw")
        assert (await demo.post_as(eva, ME, {}))["me"]["roles"] == ["quality_manager"]

    proposed = json.loads(
        await asyncio.to_thread(
            demo.cli,
            *("agreement", "propose", "--grantor", "umbrella", "--grantee", "meridian"),
            *("--types", "incident,kpi", "--level", "summary", "--json"),
            *("--purpose", "Laboratory services for the hospital trust"),
        )
    )
    await asyncio.to_thread(demo.cli, "agreement", "accept", proposed["id"], "--tenant", "meridian")
    await asyncio.to_thread(
        demo.cli, "agreement", "activate", proposed["id"], "--tenant", "umbrella"
    )
    gaps = json.loads(
        await asyncio.to_thread(
            demo.cli, "gaps", "--tenant", "umbrella", "--standard", "iso9001:2015", "--json"
        )
    )
    # Nothing assessed yet: every clause of ISO 9001 is a gap to close before the contract.
    assert (gaps["tenant"], gaps["standard"]) == ("umbrella", "iso9001:2015")
    clauses = {c["clause"]: c for c in gaps["clauses"]}
    assert "iso9001:2015/4.1" in clauses
    assert all(c["status"] != "covered" for c in clauses.values())
