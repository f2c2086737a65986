"""Finding transfers over HTTP with real tokens of both organisations: the finding moves to
the other store only when both agreed; every refusal is a payload error with a code, changes
nothing, and is logged with the finding's owner."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, text

from accord.compliance.workflow.transfers import service as transfer_service
from accord.graphql.relay import GlobalId
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.runtime import Runtime
from accord.policies import service as policy_service
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, TenantFactory
from tests.factories.api import global_id
from tests.factories.sharing import grant
from tests.graphql.conftest import Api, follow_findings, new_process, raise_findings
from tests.graphql.probes import changed, normalised, snapshot

FIELDS = """
  transfer {
    id findingId findingReference fromTenant toTenant reason state proposedByTenant
    proposedBy senderAgreedBy receiverAgreedBy endedBy endReason contentDigest completedAt
  }
  errors { field code reason }
"""
PROPOSE = f"""
mutation($findingId: ID!, $to: String!, $reason: String!, $process: String) {{
  proposeFindingTransfer(findingId: $findingId, to: $to, reason: $reason, process: $process) {{
    {FIELDS}
  }}
}}
"""
ACCEPT = f"""
mutation($id: ID!) {{ acceptFindingTransfer(id: $id) {{ {FIELDS} }} }}
"""
DECLINE = f"""
mutation($id: ID!, $reason: String) {{
  declineFindingTransfer(id: $id, reason: $reason) {{ {FIELDS} }}
}}
"""
TRANSFERS = """
query($state: FindingTransferState) {
  findingTransfers(state: $state) { id state fromTenant toTenant findingId }
}
"""
FINDING = "query($id: ID!) { finding(id: $id) { id tenant state } }"
HISTORY = "query($id: ID!) { history(id: $id) { action actor change } }"


def payload(body: dict[str, Any], name: str) -> dict[str, Any]:
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"][name]
    return result


def errors(result: dict[str, Any]) -> list[tuple[str, str]]:
    assert result["transfer"] is None
    return [(e["code"], e["reason"]) for e in result["errors"]]


async def log_actions(runtime: Runtime, slug: str, finding_id: str) -> list[str]:
    async with tenant_session(runtime, slug) as session:
        assert (await verify_chain(session)).ok
        rows = await session.scalars(
            select(EventLogEntry)
            .where(EventLogEntry.record_id == finding_id)
            .order_by(EventLogEntry.seq)
        )
        return [e.action for e in rows]


async def test_both_organisations_agree_and_the_finding_moves_store(
    api: Api, make_tenant: TenantFactory
) -> None:
    buyer = await make_tenant(label="hbuy")
    supplier = await make_tenant(SECOND_STORE, label="hsup")
    outsider = await make_tenant(label="hout")
    [finding] = await raise_findings(api.runtime, buyer.slug, 1)
    gid = global_id(f"Finding:{buyer.slug}:{finding}")
    buyer_qm = await api.sign_in(buyer, "qm", "quality_manager")
    buyer_viewer = await api.sign_in(buyer, "vic", "viewer")
    supplier_qm = await api.sign_in(supplier, "sqm", "quality_manager")
    supplier_viewer = await api.sign_in(supplier, "svic", "viewer")
    outsider_qm = await api.sign_in(outsider, "oqm", "quality_manager")
    reason = "Root cause is in the supplier's heat treatment."
    variables = {"findingId": gid, "to": supplier.slug, "reason": reason}

    # Signed in, but the role may not give findings away: refused, and logged with the owner.
    denied = payload(
        await api.post(PROPOSE, variables, token=buyer_viewer), "proposeFindingTransfer"
    )
    assert errors(denied) == [("FORBIDDEN", "ACTION_DENIED")]
    assert await log_actions(api.runtime, buyer.slug, finding) == [
        "finding.raised",
        "finding.transfer_refused",
    ]
    assert await transfer_service.list_transfers(api.runtime, tenant=buyer.slug) == []

    proposed = payload(await api.post(PROPOSE, variables, token=buyer_qm), "proposeFindingTransfer")
    assert proposed["errors"] == []
    transfer = proposed["transfer"]
    assert transfer["state"] == "PROPOSED" and transfer["findingId"] == gid
    assert (transfer["fromTenant"], transfer["toTenant"]) == (buyer.slug, supplier.slug)
    assert transfer["proposedByTenant"] == buyer.slug
    assert transfer["senderAgreedBy"] == f"user:{buyer.slug}/qm"
    assert transfer["receiverAgreedBy"] is None and transfer["reason"] == reason
    tid = {"id": transfer["id"]}
    assert GlobalId.decode(transfer["id"], expected="FindingTransfer").tenant == buyer.slug

    # Accepted by one side only: the proposer itself, a third organisation, or a member of
    # the receiver whose role may not take findings over.
    own = payload(await api.post(ACCEPT, tid, token=buyer_qm), "acceptFindingTransfer")
    assert errors(own) == [("FORBIDDEN", "OWN_PROPOSAL")]
    third = payload(await api.post(ACCEPT, tid, token=outsider_qm), "acceptFindingTransfer")
    assert errors(third) == [("NOT_FOUND", "TRANSFER_NOT_FOUND")]  # not theirs to know of
    weak = payload(await api.post(ACCEPT, tid, token=supplier_viewer), "acceptFindingTransfer")
    assert errors(weak) == [("FORBIDDEN", "ACTION_DENIED")]
    # The parties' refusals are logged with the owner; the third organisation's is not.
    assert (await log_actions(api.runtime, buyer.slug, finding))[-3:] == [
        "finding.transfer_proposed",
        "finding.transfer_refused",
        "finding.transfer_refused",
    ]
    # Nothing moved: the buyer still reads its finding, the supplier holds nothing.
    still = await api.post(FINDING, {"id": gid}, token=buyer_qm)
    assert still["data"]["finding"]["tenant"] == buyer.slug
    assert await log_actions(api.runtime, supplier.slug, finding) == []

    accepted = payload(await api.post(ACCEPT, tid, token=supplier_qm), "acceptFindingTransfer")
    assert accepted["errors"] == []
    moved = accepted["transfer"]
    assert moved["state"] == "COMPLETED" and moved["completedAt"] is not None
    assert moved["receiverAgreedBy"] == f"user:{supplier.slug}/sqm"
    new_gid = global_id(f"Finding:{supplier.slug}:{finding}")
    assert moved["findingId"] == new_gid

    # The supplier owns it now (its store); the buyer's history ends with the move out.
    mine = await api.post(FINDING, {"id": new_gid}, token=supplier_qm)
    assert mine["data"]["finding"] == {"id": new_gid, "tenant": supplier.slug, "state": "OPEN"}
    history_in = (await api.post(HISTORY, {"id": new_gid}, token=supplier_qm))["data"]["history"]
    assert [e["action"] for e in history_in] == ["finding.transferred_in"]
    history_out = (await api.post(HISTORY, {"id": gid}, token=buyer_qm))["data"]["history"]
    assert history_out[-1]["action"] == "finding.transferred_out"
    digest = moved["contentDigest"]
    assert history_in[0]["change"]["content_digest"] == digest
    assert history_out[-1]["change"]["content_digest"] == digest
    async with tenant_session(api.runtime, buyer.slug) as session:
        assert await transfer_service.read_content(session, uuid.UUID(finding)) is None

    # Both list it; the outsider does not see it.
    for token, expected in ((buyer_qm, [tid["id"]]), (supplier_qm, [tid["id"]])):
        listed = (await api.post(TRANSFERS, {"state": "COMPLETED"}, token=token))["data"]
        assert [t["id"] for t in listed["findingTransfers"]] == expected
    none = (await api.post(TRANSFERS, {}, token=outsider_qm))["data"]["findingTransfers"]
    assert none == []

    # Accepting again: refused, nothing changes.
    twice = payload(await api.post(ACCEPT, tid, token=supplier_qm), "acceptFindingTransfer")
    assert errors(twice) == [("CONFLICT", "INVALID_TRANSFER_STATE")]
    assert (await log_actions(api.runtime, supplier.slug, finding))[-1] == (
        "finding.transfer_refused"
    )


async def test_the_receiver_asks_and_the_owner_declines_or_the_asker_withdraws(
    api: Api, make_tenant: TenantFactory
) -> None:
    buyer = await make_tenant(label="hbuy")
    supplier = await make_tenant(SECOND_STORE, label="hsup")
    first, second = await raise_findings(api.runtime, buyer.slug, 2)
    buyer_qm = await api.sign_in(buyer, "qm", "quality_manager")
    supplier_qm = await api.sign_in(supplier, "sqm", "quality_manager")
    # The supplier asks for findings it can read: shared with it, and its role Informed.
    await grant(api.runtime, buyer.slug, supplier.slug, "summary")
    process = new_process()
    matrix = await api.import_matrix(follow_findings(process, buyer.slug, supplier.slug))

    def ask(finding: str) -> dict[str, str]:
        gid = global_id(f"Finding:{buyer.slug}:{finding}")
        return {
            "findingId": gid,
            "to": supplier.slug,
            "reason": "We will own the CAPA.",
            "process": process,
        }

    asked = payload(
        await api.post(PROPOSE, ask(first), token=supplier_qm), "proposeFindingTransfer"
    )
    assert asked["transfer"]["receiverAgreedBy"] == f"user:{supplier.slug}/sqm"
    declined = payload(
        await api.post(DECLINE, {"id": asked["transfer"]["id"], "reason": "Ours."}, token=buyer_qm),
        "declineFindingTransfer",
    )
    assert declined["errors"] == []
    assert declined["transfer"]["state"] == "DECLINED"
    assert declined["transfer"]["endReason"] == "Ours."

    again = payload(
        await api.post(PROPOSE, ask(second), token=supplier_qm), "proposeFindingTransfer"
    )
    # The raw UUID 0.1.0 returned as the id is still taken (deprecated).
    raw = str(GlobalId.decode(again["transfer"]["id"], expected="FindingTransfer").record_id)
    withdrawn = payload(
        await api.post(DECLINE, {"id": raw}, token=supplier_qm), "declineFindingTransfer"
    )
    assert withdrawn["transfer"]["state"] == "CANCELLED"
    late = payload(
        await api.post(ACCEPT, {"id": again["transfer"]["id"]}, token=buyer_qm),
        "acceptFindingTransfer",
    )
    assert errors(late) == [("CONFLICT", "INVALID_TRANSFER_STATE")]
    for finding in (first, second):
        actions = await log_actions(api.runtime, buyer.slug, finding)
        assert "finding.transferred_out" not in actions
        assert await log_actions(api.runtime, supplier.slug, finding) == []
    assert (await log_actions(api.runtime, buyer.slug, second))[-2:] == [
        "finding.transfer_cancelled",
        "finding.transfer_refused",
    ]
    states = (await api.post(TRANSFERS, {}, token=buyer_qm))["data"]["findingTransfers"]
    assert sorted(t["state"] for t in states) == ["CANCELLED", "DECLINED"]
    async with api.runtime.control_session() as session:
        await policy_service.delete_matrix(session=session, name=matrix)


async def test_bad_ids_and_anonymous_callers(api: Api, make_tenant: TenantFactory) -> None:
    tenant = await make_tenant(label="hbad")
    token = await api.sign_in(tenant, "qm", "quality_manager")
    bad_finding = payload(
        await api.post(PROPOSE, {"findingId": "x", "to": "y", "reason": "z"}, token=token),
        "proposeFindingTransfer",
    )
    assert [(e["field"], e["code"]) for e in bad_finding["errors"]] == [
        ("findingId", "BAD_USER_INPUT")
    ]
    bad_id = payload(await api.post(ACCEPT, {"id": "nope"}, token=token), "acceptFindingTransfer")
    assert [(e["field"], e["code"]) for e in bad_id["errors"]] == [("id", "BAD_USER_INPUT")]
    unknown = payload(
        await api.post(ACCEPT, {"id": str(uuid.uuid4())}, token=token), "acceptFindingTransfer"
    )
    assert errors(unknown) == [("NOT_FOUND", "TRANSFER_NOT_FOUND")]
    anonymous = await api.post(ACCEPT, {"id": str(uuid.uuid4())})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    listing = await api.post(TRANSFERS, {})
    assert listing["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_stranger_asking_for_a_finding_learns_nothing_and_changes_nothing(
    api: Api, make_tenant: TenantFactory
) -> None:
    """No agreement shares the owner's findings with the asker: an open finding, a closed
    one and an id that does not exist get the same answer, and nothing is written."""
    owner = await make_tenant(label="hown")
    stranger = await make_tenant(SECOND_STORE, label="hstr")
    open_finding, closed_finding = await raise_findings(api.runtime, owner.slug, 2)
    scope = owner.scope
    async with api.runtime.stores.migrator_engine(scope.store).begin() as conn:
        await conn.execute(
            text(
                f"UPDATE \"{scope.schema}\".findings SET state = 'closed', closed_at = raised_at, "
                f"closed_by = 'user:anna.keller' WHERE id = :id"
            ),
            {"id": closed_finding},
        )
    stranger_qm = await api.sign_in(stranger, "sqm", "quality_manager")
    before = await snapshot(api.runtime, [owner.slug, stranger.slug])
    answers = []
    for finding in (open_finding, closed_finding, str(uuid.uuid4())):
        gid = global_id(f"Finding:{owner.slug}:{finding}")
        variables = {"findingId": gid, "to": stranger.slug, "reason": "Ours now."}
        body = await api.post(PROPOSE, variables, token=stranger_qm)
        answers.append(normalised(body, gid, finding))
    assert answers[0]["data"]["proposeFindingTransfer"]["transfer"] is None
    assert answers[0] == answers[1] == answers[2]
    assert errors(answers[0]["data"]["proposeFindingTransfer"]) == [
        ("NOT_FOUND", "FINDING_NOT_FOUND")
    ]
    assert changed(before, await snapshot(api.runtime, [owner.slug, stranger.slug])) == []
