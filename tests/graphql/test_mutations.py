"""Finding mutations: both gates, payload errors with codes, nothing changed on refusal,
and unexpected failures masked with a trace id."""

from __future__ import annotations

import logging

import pytest

from accord.compliance.workflow import service as finding_workflow
from tests.conftest import TenantFactory
from tests.factories.api import RAISE, global_id, payload, raise_input
from tests.graphql.conftest import Api, Partners, raise_findings

RESPOND = """
mutation($id: ID!, $response: String!, $process: String) {
  respondToFinding(id: $id, response: $response, process: $process) {
    finding { id state response level }
    errors { field message code reason }
  }
}
"""
TRANSITION = """
mutation($id: ID!, $target: FindingState!, $reason: String) {
  transitionFinding(id: $id, target: $target, reason: $reason) {
    finding { state }
    errors { field code reason }
  }
}
"""
STATE = "query($id: ID!) { finding(id: $id) { state response } }"
ALLOWED = """
query($id: ID!, $p: String) { finding(id: $id, process: $p) { allowedActions(process: $p) } }
"""
HISTORY = "query($id: ID!) { history(id: $id) { seq actor action change } }"


async def test_the_auditee_responds_and_the_log_records_it(
    api: Api, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="aud")
    [finding] = await raise_findings(api.runtime, tenant.slug, 1)
    gid = global_id(f"Finding:{tenant.slug}:{finding}")
    token = await api.sign_in(tenant, "qm", "quality_manager")

    blank = payload(
        await api.post(RESPOND, {"id": gid, "response": " "}, token=token), "respondToFinding"
    )
    assert blank["finding"] is None
    assert [(e["field"], e["code"], e["reason"]) for e in blank["errors"]] == [
        ("response", "BAD_USER_INPUT", "RESPONSE_REQUIRED")
    ]

    text = "Monitoring restored; supplier evaluations re-run."
    done = payload(
        await api.post(RESPOND, {"id": gid, "response": text}, token=token), "respondToFinding"
    )
    assert done["errors"] == []
    assert done["finding"] == {"id": gid, "state": "RESPONDED", "response": text, "level": "FULL"}

    wrong = payload(
        await api.post(TRANSITION, {"id": gid, "target": "VERIFICATION"}, token=token),
        "transitionFinding",
    )
    assert [(e["code"], e["reason"]) for e in wrong["errors"]] == [
        ("CONFLICT", "INVALID_TRANSITION")
    ]

    history = await api.post(HISTORY, {"id": gid}, token=token)
    entries = history["data"]["history"]
    # The blank response never reached a decision; the refused transition is kept.
    assert [e["action"] for e in entries] == [
        "finding.raised",
        "finding.transition",
        "finding.refused",
    ]
    assert entries[1]["actor"] == f"user:{tenant.slug}/qm"
    assert entries[1]["change"]["to"] == "responded"
    assert entries[2]["change"]["reason"] == "INVALID_TRANSITION"


async def test_a_user_without_the_right_is_refused_and_nothing_changes(
    api: Api, make_tenant: TenantFactory, partners: Partners
) -> None:
    tenant = await make_tenant(label="ro")
    [finding] = await raise_findings(api.runtime, tenant.slug, 1)
    gid = global_id(f"Finding:{tenant.slug}:{finding}")
    viewer = await api.sign_in(tenant, "vic", "viewer")
    manager = await api.sign_in(tenant, "qm", "quality_manager")
    # What the page may offer is what the gate allows: the viewer reads, the manager responds.
    offered = await api.post(ALLOWED, {"id": gid}, token=viewer)
    assert "RESPOND" not in offered["data"]["finding"]["allowedActions"]
    assert "READ" in offered["data"]["finding"]["allowedActions"]
    managed = await api.post(ALLOWED, {"id": gid}, token=manager)
    assert "RESPOND" in managed["data"]["finding"]["allowedActions"]
    refused = payload(
        await api.post(RESPOND, {"id": gid, "response": "done"}, token=viewer), "respondToFinding"
    )
    assert refused["finding"] is None
    assert [(e["code"], e["reason"]) for e in refused["errors"]] == [("FORBIDDEN", "ACTION_DENIED")]
    state = await api.post(STATE, {"id": gid}, token=viewer)
    assert state["data"]["finding"] == {"state": "OPEN", "response": None}
    raised = payload(await api.post(RAISE, {"input": raise_input()}, token=viewer), "raiseFinding")
    assert [(e["code"], e["reason"]) for e in raised["errors"]] == [("FORBIDDEN", "ACTION_DENIED")]

    # A partner Informed in the process reads the finding but may not respond to it.
    theirs = global_id(f"Finding:{partners.meridian.slug}:{partners.meridian_findings[0]}")
    reader = await api.sign_in(partners.northwind, "nadia", "quality_manager")
    variables = {"id": theirs, "response": "x", "process": partners.process}
    shown = await api.post(ALLOWED, {"id": theirs, "p": partners.process}, token=reader)
    assert "RESPOND" not in shown["data"]["finding"]["allowedActions"]
    cross = payload(await api.post(RESPOND, variables, token=reader), "respondToFinding")
    assert [(e["code"], e["reason"]) for e in cross["errors"]] == [("FORBIDDEN", "ACTION_DENIED")]
    # Without an agreement the finding does not exist for the caller.
    outsider = await api.sign_in(partners.initech, "ivan", "quality_manager")
    hidden = payload(await api.post(RESPOND, variables, token=outsider), "respondToFinding")
    assert [(e["field"], e["code"]) for e in hidden["errors"]] == [("id", "NOT_FOUND")]
    garbage = payload(
        await api.post(RESPOND, {"id": "garbage", "response": "x"}, token=outsider),
        "respondToFinding",
    )
    assert [(e["field"], e["code"]) for e in garbage["errors"]] == [("id", "BAD_USER_INPUT")]


async def test_an_auditor_raises_a_finding(api: Api, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant(label="rf")
    token = await api.sign_in(tenant, "ben", "auditor")
    made = payload(await api.post(RAISE, {"input": raise_input()}, token=token), "raiseFinding")
    assert made["errors"] == []
    assert made["finding"]["tenant"] == tenant.slug
    assert (made["finding"]["state"], made["finding"]["raisedBy"]) == (
        "OPEN",
        f"user:{tenant.slug}/ben",
    )
    unknown = raise_input(reference="F-unknown", clauseKeys=["iso9001:2015/99.9"])
    bad = payload(await api.post(RAISE, {"input": unknown}, token=token), "raiseFinding")
    assert [(e["field"], e["code"]) for e in bad["errors"]] == [("clauseKeys", "BAD_USER_INPUT")]


async def test_an_unexpected_error_is_masked_with_a_trace_id(
    api: Api,
    make_tenant: TenantFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tenant = await make_tenant(label="boom")
    [finding] = await raise_findings(api.runtime, tenant.slug, 1)
    gid = global_id(f"Finding:{tenant.slug}:{finding}")
    token = await api.sign_in(tenant, "qm", "quality_manager")

    async def broken(**kwargs: object) -> None:
        raise RuntimeError("connection string postgresql://secret@db")

    monkeypatch.setattr(finding_workflow, "respond", broken)
    with caplog.at_level(logging.ERROR, logger="accord.graphql"):
        body = await api.post(
            RESPOND, {"id": gid, "response": "x"}, token=token, headers={"x-request-id": "req-42"}
        )
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "INTERNAL", "traceId": "req-42"}
    assert "secret" not in error["message"] and "req-42" in error["message"]
    assert any("req-42" in r.getMessage() and r.exc_info for r in caplog.records)
    monkeypatch.undo()
    state = await api.post(STATE, {"id": gid}, token=token)
    assert state["data"]["finding"]["state"] == "OPEN"
