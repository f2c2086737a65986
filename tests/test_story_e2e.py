"""The whole story through HTTP, with real tokens of three tenants' members.

northwind leads a joint audit at globex (globex's records, in the second store) with an
observer from meridian; findings are raised, globex responds and carries out a CAPA,
northwind's auditors verify and close; northwind's quality manager compiles the network
management review, the three executives sign it with their own keys, and the exported
bundle verifies offline with ``accord review verify`` against the signing keys the three
organisations published — and fails once a byte of it is changed.

Only what has no mutation goes through a service, in the owner's tenant session:
evidence files (there is no upload mutation; the file's hash and type are recorded).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from accord.compliance.evidence import service as evidence_service
from accord.compliance.reviews.signatures import bundles as bundles
from accord.platform.clock import today
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.policies import service as policy_service
from accord.tenants.agreements.access import read_access_log
from accord.tenants.identity.member_keys import published_key_set
from accord.tenants.models import Tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, TenantFactory
from tests.factories import raci
from tests.factories.api import payload
from tests.factories.audit_api import (
    ADD_MEMBER,
    PLAN,
    RAISE,
    RESPOND,
    TRANSITION,
    VERIFY,
    codes,
    record_id,
)
from tests.factories.records import evidence_input
from tests.factories.review_api import (
    ASSIGN,
    BUNDLE,
    CREATE,
    FREEZE,
    Member,
    bundle_of,
    review_matrix,
    sign,
    sign_in,
)
from tests.factories.sharing import grant

# ``api`` is the fixture of tests/graphql, re-exported here (this test lives outside it).
from tests.graphql.conftest import Api
from tests.graphql.conftest import api as api

CREATE_CAPA = """
mutation($input: CreateCapaInput!) {
  createCapa(input: $input) {
    capa { id tenant state rootCauseMethod actions { id owner ownerTenant status } }
    errors { field code reason reasonCode }
  }
}
"""
APPROVE_CAPA = """
mutation($id: ID!, $process: String) {
  approveCapaPlan(id: $id, process: $process) {
    capa { state }
    errors { field code reason reasonCode }
  }
}
"""
PLAN_CHECK = """
mutation($id: ID!, $input: PlanEffectivenessCheckInput!, $process: String) {
  planEffectivenessCheck(id: $id, input: $input, process: $process) {
    capa { state effectivenessDueAt effectivenessVerifierTenant }
    errors { field code reason reasonCode }
  }
}
"""
COMPLETE_ACTION = """
mutation($capaId: ID!, $actionId: UUID!, $process: String) {
  completeCapaAction(capaId: $capaId, actionId: $actionId, process: $process) {
    capa { state }
    action { status completedBy }
    errors { field code reason reasonCode }
  }
}
"""
COMPILE_WITH_ISSUES = """
mutation($id: ID!, $issues: String!, $process: String, $partners: String) {
  compileReviewInputs(
    reviewId: $id, externalInternalIssues: $issues, process: $process,
    partnersProcess: $partners
  ) {
    review { id inputs }
    errors { field code reason reasonCode }
  }
}
"""
FINDING = """
query($id: ID!, $process: String) {
  finding(id: $id, process: $process) { state level title closedBy verificationResult }
}
"""


def supplier_quality_matrix(process: str, lead: str, audited: str, observer: str) -> str:
    """Supplier quality: globex Responsible for responses and CAPA, northwind Accountable
    for approving plans, verifying and closing, meridian Informed."""
    return raci.joint_audit(
        name=f"Supplier quality {process}",
        process=process,
        lead=lead,
        audited=audited,
        observer=observer,
        carry_out_capa=True,
    )


@dataclass(frozen=True)
class Story:
    northwind: Tenant
    globex: Tenant
    meridian: Tenant
    quality: str  # the supplier quality process (joint audit, findings, CAPA)
    review: str  # the network management review process
    maria: Member  # northwind quality manager: lead auditor, compiles the review
    jonas: Member  # northwind auditor: verifies and closes
    li: Member  # globex quality manager: auditee representative, CAPA owner
    priya: Member  # meridian viewer: observer
    katrin: Member  # northwind executive (Ed25519)
    liam: Member  # globex executive (P-256)
    dana: Member  # meridian executive (Ed25519)


@pytest.fixture
async def story(api: Api, make_tenant: TenantFactory) -> AsyncIterator[Story]:
    northwind = await make_tenant(label="northwind")
    globex = await make_tenant(SECOND_STORE, label="globex")
    meridian = await make_tenant(label="meridian")
    nw, gx, md = northwind.slug, globex.slug, meridian.slug
    # globex → northwind: full on what the auditor needs; → meridian: a summary to observe.
    await grant(api.runtime, gx, nw, "full", record_types=["audit", "finding", "capa", "evidence"])
    await grant(api.runtime, gx, md, "summary", record_types=["audit", "finding"])
    # northwind → the other signatories: the review in full (they sign what they read).
    for grantee in (gx, md):
        await grant(api.runtime, nw, grantee, "full", record_types=["management_review"])
    tag = secrets.token_hex(4)
    quality, review = f"supplier-quality-{tag}", f"network-mr-{tag}"
    names = [
        await api.import_matrix(supplier_quality_matrix(quality, nw, gx, md)),
        await api.import_matrix(review_matrix(review, nw, gx, md)),
    ]
    yield Story(
        northwind,
        globex,
        meridian,
        quality,
        review,
        maria=await sign_in(api, northwind, "maria", "quality_manager"),
        jonas=await sign_in(api, northwind, "jonas", "auditor"),
        li=await sign_in(api, globex, "li", "quality_manager"),
        priya=await sign_in(api, meridian, "priya", "viewer"),
        katrin=await sign_in(api, northwind, "katrin", "executive", "ed25519"),
        liam=await sign_in(api, globex, "liam", "executive", "p256"),
        dana=await sign_in(api, meridian, "dana", "executive", "ed25519"),
    )
    async with api.runtime.control_session() as session:
        for name in names:
            await policy_service.delete_matrix(session=session, name=name)


async def call(api: Api, who: Member, document: str, name: str, **variables: Any) -> Any:
    """A mutation as ``who``; its payload, which must carry no errors."""
    result = payload(await api.post(document, variables, token=who.token), name)
    assert result["errors"] == [], (name, result["errors"])
    return result


def offline_env(tmp: Path) -> dict[str, str]:
    """No database settings at all; a data directory nothing may be created in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ACCORD_", "PG")) and k != "DATABASE_URL"
    }
    env["ACCORD_DATA_DIR"] = str(tmp / "no-data")
    env["COLUMNS"] = "250"
    return env


def verify_offline(path: Path, tmp: Path, trust: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "accord", "review", "verify", str(path), "--trust", str(trust)],
        capture_output=True,
        text=True,
        env=offline_env(tmp),
        timeout=120,
        check=False,
    )


async def test_the_whole_story_through_http(api: Api, story: Story, tmp_path: Path) -> None:
    s = story
    nw, gx, md = s.northwind.slug, s.globex.slug, s.meridian.slug
    raised_at = (datetime.now(UTC) - timedelta(hours=2)).isoformat()

    # -- 1. northwind plans the joint audit at globex and staffs it from three tenants
    planned = await call(
        api,
        s.maria,
        PLAN,
        "planJointAudit",
        input={
            "auditedTenant": gx,
            "leadAuditor": "maria",
            "programme": "Supplier quality 2027",
            "title": "Joint audit of the Dayton plant",
            "scope": "Purchasing and operational control",
            "clauseKeys": ["iso9001:2015/8.4", "iso14001:2015/8.1"],
            "windowStart": str(today() - timedelta(days=1)),
            "windowEnd": str(today() + timedelta(days=5)),
            "status": "IN_PROGRESS",
            "protocol": {"process": s.quality, "requiredEvidenceTypes": ["application/pdf"]},
        },
    )
    audit = planned["audit"]
    assert (audit["tenant"], audit["leadTenant"]) == (gx, nw)
    for member in (
        {"tenant": nw, "subject": "jonas", "role": "AUDITOR"},
        {"tenant": md, "subject": "priya", "role": "OBSERVER"},
        {"tenant": gx, "subject": "li", "role": "AUDITEE_REPRESENTATIVE"},
    ):
        staffed = await call(
            api, s.maria, ADD_MEMBER, "addAuditTeamMember", auditId=audit["id"], input=member
        )
    assert {(m["subject"], m["role"]) for m in staffed["audit"]["team"]} == {
        ("maria", "LEAD_AUDITOR"),
        ("jonas", "AUDITOR"),
        ("priya", "OBSERVER"),
        ("li", "AUDITEE_REPRESENTATIVE"),
    }

    # -- 2. the audit team raises findings, into globex's store
    major = (
        await call(
            api,
            s.maria,
            RAISE,
            "raiseAuditFinding",
            auditId=audit["id"],
            input={
                "reference": "GLX-2027-01",
                "title": "Supplier monitoring records missing",
                "grade": "MAJOR_NONCONFORMITY",
                "severity": "HIGH",
                "clauseKeys": ["iso9001:2015/8.4"],
                "criteria": "ISO 9001:2015 8.4.1: evaluate and monitor external providers",
                "condition": "No monitoring records for 14 of 20 approved suppliers.",
                "raisedAt": raised_at,
            },
        )
    )["finding"]
    ofi = (
        await call(
            api,
            s.jonas,
            RAISE,
            "raiseAuditFinding",
            auditId=audit["id"],
            input={
                "reference": "GLX-2027-02",
                "title": "Waste manifests could be digitised",
                "grade": "OPPORTUNITY_FOR_IMPROVEMENT",
                "severity": "LOW",
                "clauseKeys": ["iso14001:2015/8.1"],
                "condition": "Manifests are kept on paper in two binders.",
                "raisedAt": raised_at,
            },
        )
    )["finding"]
    assert {(f["tenant"], f["state"]) for f in (major, ofi)} == {(gx, "OPEN")}
    fid = major["id"]

    # -- 3. globex responds and plans the CAPA; northwind approves the plan
    await call(
        api,
        s.li,
        RESPOND,
        "respondToFinding",
        id=fid,
        response="Monitoring lapsed after the ERP migration; scorecards restart now.",
        process=s.quality,
    )
    created = await call(
        api,
        s.li,
        CREATE_CAPA,
        "createCapa",
        input={
            "findingIds": [fid],
            "process": s.quality,
            "reference": "CAPA-GLX-2027-01",
            "title": "Restore supplier monitoring",
            "clauseKeys": ["iso9001:2015/8.4"],
            "rootCause": {
                "method": "five_whys",
                "whys": [
                    {"why": "Why no records?", "answer": "Scorecards were not generated."},
                    {"why": "Why not generated?", "answer": "The ERP report was not migrated."},
                    {"why": "Why not migrated?", "answer": "It was missing from the cutover list."},
                ],
                "root_cause": "Supplier monitoring was not in the ERP cutover scope.",
            },
            "containment": "Manual scorecards for the 14 suppliers this month.",
            "actions": [
                {
                    "title": "Migrate the supplier scorecard report",
                    "owner": "li",
                    "ownerTenant": gx,
                    "dueAt": str(today() + timedelta(days=20)),
                },
                {
                    "title": "Add supplier monitoring to the cutover checklist",
                    "owner": "li",
                    "ownerTenant": gx,
                    "dueAt": str(today() + timedelta(days=30)),
                },
            ],
        },
    )
    capa = created["capa"]
    assert (capa["tenant"], capa["state"], capa["rootCauseMethod"]) == (gx, "PLANNED", "FIVE_WHYS")
    # The proposer cannot approve its own plan; the Accountable party (northwind) does.
    own_plan = payload(
        await api.post(APPROVE_CAPA, {"id": capa["id"], "process": s.quality}, token=s.li.token),
        "approveCapaPlan",
    )
    assert codes(own_plan) == [("FORBIDDEN", "ACTION_DENIED")]
    approved = await call(
        api, s.maria, APPROVE_CAPA, "approveCapaPlan", id=capa["id"], process=s.quality
    )
    assert approved["capa"]["state"] == "APPROVED"
    checked = await call(
        api,
        s.li,
        PLAN_CHECK,
        "planEffectivenessCheck",
        id=capa["id"],
        input={"afterDays": 90, "verifierTenant": nw, "verifierSubject": "maria"},
        process=s.quality,
    )
    assert checked["capa"]["effectivenessVerifierTenant"] == nw
    await call(
        api, s.li, TRANSITION, "transitionFinding", id=fid, target="CAPA_PLANNED", process=s.quality
    )

    # -- 4. globex carries the actions out; the CAPA is implemented and awaits its check
    for action in capa["actions"]:
        done = await call(
            api,
            s.li,
            COMPLETE_ACTION,
            "completeCapaAction",
            capaId=capa["id"],
            actionId=action["id"],
            process=s.quality,
        )
        assert done["action"]["status"] == "DONE"
    assert done["capa"]["state"] == "EFFECTIVENESS_CHECK"
    await call(
        api,
        s.li,
        TRANSITION,
        "transitionFinding",
        id=fid,
        target="CAPA_IMPLEMENTED",
        process=s.quality,
    )
    # Evidence has no upload mutation: globex files it through the service, in its store.
    async with tenant_session(api.runtime, gx) as session:
        await evidence_service.add_evidence(
            session=session,
            data=evidence_input(
                finding_id=record_id(fid),
                title="Supplier scorecards, all 20 suppliers",
                uri="s3://globex-evidence/scorecards-2027.pdf",
            ),
            actor=f"user:{gx}/li",
        )

    # -- 5. northwind verifies and closes; the auditee cannot close its own finding
    close = {"id": fid, "target": "CLOSED", "process": s.quality}
    await call(
        api,
        s.jonas,
        TRANSITION,
        "transitionFinding",
        id=fid,
        target="VERIFICATION",
        process=s.quality,
    )
    early = payload(await api.post(TRANSITION, close, token=s.li.token), "transitionFinding")
    assert codes(early) == [("FORBIDDEN", "ACTION_DENIED")]
    verified = await call(api, s.jonas, VERIFY, "verifyAuditFinding", id=fid, result="PASSED")
    assert verified["finding"]["verifiedBy"] == f"user:{nw}/jonas"
    closed = await call(api, s.jonas, TRANSITION, "transitionFinding", **close)
    assert closed["finding"] == {"state": "CLOSED", "closedBy": f"user:{nw}/jonas"}
    # The observer reads the outcome at the level globex granted meridian.
    observed = await api.post(FINDING, {"id": fid, "process": s.quality}, token=s.priya.token)
    assert observed["data"]["finding"]["state"] == "CLOSED"
    assert observed["data"]["finding"]["level"] == "SUMMARY"
    lead_view = await api.post(FINDING, {"id": fid, "process": s.quality}, token=s.maria.token)
    assert lead_view["data"]["finding"]["level"] == "FULL"
    async with tenant_session(api.runtime, gx) as session:
        assert (await verify_chain(session)).ok
        history = list(
            await session.scalars(
                select(EventLogEntry.action)
                .where(EventLogEntry.record_id == str(record_id(fid)))
                .order_by(EventLogEntry.seq)
            )
        )
    assert history.count("finding.transition") == 5  # responded … closed
    assert history.count("finding.refused") == 1  # the auditee's attempt to close

    # -- 6. northwind compiles the network management review; signatories from the RACI.
    # The inputs are compiled from northwind's own records (its data never mixes with
    # globex's); what the audit found at globex enters as the compiler's own account.
    review = (
        await call(
            api,
            s.maria,
            CREATE,
            "createManagementReview",
            input={
                "process": s.review,
                "title": "Network management review Q4",
                "periodStart": str(today() - timedelta(days=90)),
                "periodEnd": str(today()),
                "standards": ["iso9001:2015", "iso14001:2015"],
                "minutes": "Joint audit at globex: one major nonconformity, closed after CAPA.",
                "decisions": [
                    {
                        "text": "Monthly supplier scorecards across the network",
                        "owner": f"user:{nw}/maria",
                        "dueAt": str(today() + timedelta(days=60)),
                    }
                ],
            },
        )
    )["review"]
    assigned = await call(
        api, s.maria, ASSIGN, "assignReviewSignatories", id=review["id"], process=s.review
    )
    assert {(x["tenant"], x["subject"]) for x in assigned["review"]["requiredSignatories"]} == {
        (nw, "katrin"),
        (gx, "liam"),
        (md, "dana"),
    }
    compiled = await call(
        api,
        s.maria,
        COMPILE_WITH_ISSUES,
        "compileReviewInputs",
        id=review["id"],
        issues="Joint audit GLX-2027 at globex: GLX-2027-01 (major) closed, CAPA under "
        "effectiveness check; GLX-2027-02 (OFI) open.",
        process=s.review,
        partners=s.quality,
    )
    inputs = compiled["review"]["inputs"]
    assert inputs["clause"] == "9.3.2" and "GLX-2027-01" in inputs["external_internal_issues"]
    # globex's part: the counts northwind may see of it under globex's agreement (the
    # findings of the joint audit), never its records.
    shared = inputs["partners"]
    assert set(shared["partners"]) == {gx}
    globex_part = shared["partners"][gx]
    assert set(globex_part) == {
        "open_findings_by_grade",
        "open_findings_by_state",
        "overdue_capa_actions",
        "rounded_to",
    }
    assert "closed" not in globex_part["open_findings_by_state"]
    assert md in shared["not_shared"] and shared["unavailable"] == []
    frozen = (
        await call(
            api, s.maria, FREEZE, "freezeManagementReview", id=review["id"], process=s.review
        )
    )["review"]
    assert frozen["status"] == "FROZEN"

    # -- 7. three executives of three tenants sign with their own keys
    outcomes = [await sign(api, m, review["id"], s.review) for m in (s.liam, s.dana, s.katrin)]
    assert [o["errors"] for o in outcomes] == [[], [], []]
    assert [o["review"]["status"] for o in outcomes] == ["FROZEN", "FROZEN", "APPROVED"]
    assert {o["signature"]["contentDigest"] for o in outcomes} == {frozen["contentDigest"]}

    # -- 8. export through the API, verify offline; one changed byte fails verification
    bundle = await bundle_of(api, s.maria, review["id"], s.review)
    assert bundles.verify_bundle(bundle).ok
    exported = tmp_path / "network-review-q4.json"
    exported.write_text(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n", "utf-8")
    async with api.runtime.control_session() as control:  # what each partner publishes
        key_set = await published_key_set(session=control, tenants=[nw, gx, md])
    keys = tmp_path / "network-signing-keys.json"
    keys.write_text(json.dumps(key_set, indent=2) + "\n", "utf-8")
    verified_offline = verify_offline(exported, tmp_path, keys)
    assert verified_offline.returncode == 0, verified_offline.stdout + verified_offline.stderr
    assert "every required signatory signed it with a key" in verified_offline.stdout
    assert verified_offline.stdout.count("trusted signature:") == 3

    raw = exported.read_bytes()
    at = raw.index(b"one major nonconformity")
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(raw[:at] + b"One" + raw[at + 3 :])  # "one" -> "One": one byte
    assert sum(a != b for a, b in zip(raw, tampered.read_bytes(), strict=True)) == 1
    refused = verify_offline(tampered, tmp_path, keys)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "CONTENT_DIGEST_MISMATCH" in refused.stderr
    assert not (tmp_path / "no-data").exists()  # no embedded database was started

    # Partners' reads of northwind's review are in northwind's access log; an observer
    # without an agreement on reviews sees none of it.
    async with tenant_session(api.runtime, nw) as session:
        readers = {(e.grantee, e.record_type) for e in await read_access_log(session=session)}
    assert readers == {(gx, "management_review"), (md, "management_review")}
    unseen = await api.post(BUNDLE, {"id": review["id"]}, token=s.priya.token)
    assert unseen["data"] is None
    assert unseen["errors"][0]["extensions"]["reason"] == "MANAGEMENT_REVIEW_NOT_FOUND"
