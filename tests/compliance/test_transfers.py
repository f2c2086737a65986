"""Transfer of a finding's ownership between tenants on two stores: two-party agreed, moved
without loss (content equal, one copy), both event logs recording it; an interrupted move
is rolled forward; every refused attempt has a code, changes nothing and is logged."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from accord.compliance.audits import service as audit_service
from accord.compliance.audits.models import AuditStatus
from accord.compliance.capa import service as capa_service
from accord.compliance.evidence import service as evidence_service
from accord.compliance.findings import service as finding_service
from accord.compliance.findings.states import FindingState
from accord.compliance.workflow import service as finding_workflow
from accord.compliance.workflow.transfers import flows as transfer_flows
from accord.compliance.workflow.transfers import move as transfer_move
from accord.compliance.workflow.transfers import schemas as transfer_schemas
from accord.compliance.workflow.transfers import service as transfer_service
from accord.compliance.workflow.transfers.models import FindingTransfer, TransferState
from accord.platform.errors import AccordError, ErrorCode
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.models import Tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, TenantFactory
from tests.factories.records import (
    ACTOR,
    AUDITOR,
    audit_input,
    capa_input,
    events,
    evidence_input,
    finding_input,
    ref,
    snapshot,
)

BUYER_QM = "user:buyer/qm"
SUPPLIER_QM = "user:supplier/qm"
OUTSIDER_QM = "user:outsider/qm"


@dataclass(frozen=True)
class Parties:
    sender: Tenant  # home store: owns the finding
    receiver: Tenant  # second store: the supplier it belongs to
    outsider: Tenant


@pytest.fixture
async def parties(make_tenant: TenantFactory) -> Parties:
    return Parties(
        sender=await make_tenant(label="buy"),
        receiver=await make_tenant(SECOND_STORE, label="sup"),
        outsider=await make_tenant(label="out"),
    )


async def raise_with_evidence(
    runtime: Runtime, slug: str, *, evidence: int = 2, **overrides: Any
) -> uuid.UUID:
    """A finding raised in an audit, imported from an ERP, responded to, with evidence."""
    async with tenant_session(runtime, slug) as session:
        audit = await audit_service.create_audit(
            session=session,
            data=audit_input(lead_tenant=slug, audited_tenant="globex"),
            actor=ACTOR,
        )
        await audit_service.set_audit_status(
            session=session, audit=audit, target=AuditStatus.IN_PROGRESS, actor=ACTOR
        )
        values = {
            "audit_id": audit.id,
            "source_system": "sap-s4",
            "external_id": f"QN-{uuid.uuid4().hex[:10]}",
            "owner": "user:li.wei",
        }
        values.update(overrides)
        finding = await finding_workflow.raise_finding(
            session=session, data=finding_input(**values), actor=AUDITOR
        )
        await finding_workflow.respond(
            session=session, finding=finding, actor=ACTOR, response="Supplier's process; theirs."
        )
        for _ in range(evidence):
            await evidence_service.add_evidence(
                session=session,
                data=evidence_input(finding_id=finding.id, clause_keys=["iso9001:2015/8.4.1"]),
                actor=ACTOR,
            )
        return finding.id


async def content(
    runtime: Runtime, slug: str, finding_id: uuid.UUID
) -> transfer_schemas.MovedContent:
    async with tenant_session(runtime, slug) as session:
        moved = await transfer_service.read_content(session, finding_id)
    assert moved is not None
    return moved


async def absent(runtime: Runtime, slug: str, finding_id: uuid.UUID) -> bool:
    async with tenant_session(runtime, slug) as session:
        return await transfer_service.read_content(session, finding_id) is None


async def log_of(runtime: Runtime, slug: str, finding_id: uuid.UUID) -> list[EventLogEntry]:
    async with tenant_session(runtime, slug) as session:
        assert (await verify_chain(session)).ok
        return await events(session, finding_id)


def actions(entries: list[EventLogEntry]) -> list[str]:
    return [e.action for e in entries]


async def propose(
    runtime: Runtime, p: Parties, finding_id: uuid.UUID, **kw: Any
) -> FindingTransfer:
    values: dict[str, Any] = {
        "finding_id": finding_id,
        "from_tenant": p.sender.slug,
        "to_tenant": p.receiver.slug,
        "reason": "The nonconformity is in the supplier's process.",
        "tenant": p.sender.slug,
        "actor": BUYER_QM,
    }
    values.update(kw)
    return await transfer_flows.propose_transfer(runtime, **values)


# --------------------------------------------------------------------------- the move


async def test_a_finding_moves_between_stores_without_loss_and_both_logs_record_it(
    runtime: Runtime, parties: Parties
) -> None:
    p = parties
    fid = await raise_with_evidence(runtime, p.sender.slug)
    before = await content(runtime, p.sender.slug, fid)
    assert len(before.evidence) == 2

    proposed = await propose(runtime, p, fid)
    assert proposed.state == TransferState.PROPOSED
    assert proposed.sender_agreed_by == BUYER_QM and proposed.receiver_agreed_at is None
    assert proposed.finding_reference == before.finding["reference"]
    # Proposed is not moved.
    assert await absent(runtime, p.receiver.slug, fid)

    done = await transfer_flows.accept_transfer(
        runtime, transfer_id=proposed.id, tenant=p.receiver.slug, actor=SUPPLIER_QM
    )
    assert done.state == TransferState.COMPLETED and done.last_error is None
    assert done.receiver_agreed_by == SUPPLIER_QM
    assert done.copied_at and done.source_removed_at and done.completed_at
    assert done.content_digest == before.digest() and done.evidence_count == 2
    assert done.source_audit_id == before.finding["audit_id"] is not None

    # Exactly one copy, in the receiver's store, content equal; the sender's audit stays.
    assert await absent(runtime, p.sender.slug, fid)
    after = await content(runtime, p.receiver.slug, fid)
    assert after.canonical() == before.canonical() and after.digest() == before.digest()
    assert after.finding["audit_id"] is None
    assert after.finding["source_system"] == "sap-s4"
    assert after.finding["external_id"] == before.finding["external_id"]
    async with tenant_session(runtime, p.sender.slug) as session:
        audit_id = before.finding["audit_id"]
        assert await audit_service.get_audit(session=session, audit_id=audit_id)
        for evidence_id in before.evidence_ids:
            with pytest.raises(AccordError):
                await evidence_service.get_evidence(session=session, evidence_id=evidence_id)
    async with tenant_session(runtime, p.receiver.slug) as session:
        moved = await finding_service.get_finding(session=session, finding_id=fid)
        assert moved.state is FindingState.RESPONDED
        files = await evidence_service.for_finding(session=session, finding=moved)
        assert sorted(e.id for e in files) == sorted(before.evidence_ids)

    sent, received = (
        await log_of(runtime, p.sender.slug, fid),
        await log_of(runtime, p.receiver.slug, fid),
    )
    assert actions(sent) == [
        "finding.raised",
        "finding.transition",
        "finding.transfer_proposed",
        "finding.transfer_accepted",
        "finding.transferred_out",
    ]
    assert actions(received) == ["finding.transferred_in"]
    out, into = sent[-1].change, received[0].change
    assert out["content_digest"] == into["content_digest"] == before.digest()
    assert out["transfer_id"] == into["transfer_id"] == str(proposed.id)
    assert into["from_tenant"] == p.sender.slug and out["to_tenant"] == p.receiver.slug
    assert into["source_audit_id"] == str(before.finding["audit_id"])
    assert p.sender.slug in into["provenance"]
    assert sorted(into["evidence_ids"]) == sorted(map(str, before.evidence_ids))
    assert received[0].actor == SUPPLIER_QM

    # Completing again changes nothing; both parties list it.
    again = await transfer_move.complete_transfer(runtime, proposed.id)
    assert again.state == TransferState.COMPLETED and again.completed_at == done.completed_at
    assert actions(await log_of(runtime, p.receiver.slug, fid)) == ["finding.transferred_in"]
    for slug in (p.sender.slug, p.receiver.slug):
        listed = await transfer_service.list_transfers(runtime, tenant=slug)
        assert [t.id for t in listed] == [proposed.id]
    assert await transfer_service.list_transfers(runtime, tenant=p.outsider.slug) == []

    # The new owner may move it on (back, here): ownership really changed.
    back = await propose(
        runtime,
        p,
        fid,
        from_tenant=p.receiver.slug,
        to_tenant=p.sender.slug,
        tenant=p.receiver.slug,
        actor=SUPPLIER_QM,
    )
    home = await transfer_flows.accept_transfer(
        runtime, transfer_id=back.id, tenant=p.sender.slug, actor=BUYER_QM
    )
    assert home.state == TransferState.COMPLETED
    assert await absent(runtime, p.receiver.slug, fid)
    assert (await content(runtime, p.sender.slug, fid)).digest() == before.digest()


async def test_the_receiver_proposes_and_the_owner_accepts(
    runtime: Runtime, parties: Parties
) -> None:
    p = parties
    fid = await raise_with_evidence(runtime, p.sender.slug, evidence=0, audit_id=None)
    proposed = await propose(runtime, p, fid, tenant=p.receiver.slug, actor=SUPPLIER_QM)
    assert proposed.receiver_agreed_by == SUPPLIER_QM and proposed.sender_agreed_at is None
    done = await transfer_flows.accept_transfer(
        runtime, transfer_id=proposed.id, tenant=p.sender.slug, actor=BUYER_QM
    )
    assert done.state == TransferState.COMPLETED and done.source_audit_id is None
    assert await absent(runtime, p.sender.slug, fid)
    assert (await content(runtime, p.receiver.slug, fid)).evidence == ()
    received = await log_of(runtime, p.receiver.slug, fid)
    assert actions(received) == ["finding.transferred_in"] and received[0].actor == BUYER_QM


# --------------------------------------------------------------------------- interruptions


def fail_after(step: str) -> Callable[[uuid.UUID, str], Awaitable[None]]:
    async def hook(transfer_id: uuid.UUID, reached: str) -> None:
        if reached == step:
            raise RuntimeError(f"injected crash after {step}")

    return hook


async def accept_crashing(
    runtime: Runtime, p: Parties, fid: uuid.UUID, step: str, monkeypatch: pytest.MonkeyPatch
) -> FindingTransfer:
    proposed = await propose(runtime, p, fid)
    monkeypatch.setattr(transfer_move, "_after_step", fail_after(step))
    with pytest.raises(RuntimeError, match="injected"):
        await transfer_flows.accept_transfer(
            runtime, transfer_id=proposed.id, tenant=p.receiver.slug, actor=SUPPLIER_QM
        )
    monkeypatch.undo()
    return await transfer_service.get_transfer(runtime, proposed.id)


async def test_a_crash_between_copy_and_removal_is_rolled_forward_to_one_copy(
    runtime: Runtime, parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = parties
    fid = await raise_with_evidence(runtime, p.sender.slug)
    before = await content(runtime, p.sender.slug, fid)

    stuck = await accept_crashing(runtime, p, fid, "copied", monkeypatch)
    assert stuck.state == TransferState.ACCEPTED
    assert stuck.copied_at is not None and stuck.source_removed_at is None
    assert stuck.content_digest == before.digest()
    # What failed, never what it said: an exception's text may quote the record.
    assert stuck.last_error == "RuntimeError"
    # Between the steps: the source is intact (still the record), a staging copy exists.
    assert (await content(runtime, p.sender.slug, fid)).canonical() == before.canonical()
    assert (await content(runtime, p.receiver.slug, fid)).digest() == before.digest()
    assert "finding.transferred_out" not in actions(await log_of(runtime, p.sender.slug, fid))

    done = await transfer_move.complete_transfer(runtime, stuck.id)
    assert done.state == TransferState.COMPLETED and done.last_error is None
    assert await absent(runtime, p.sender.slug, fid)
    assert (await content(runtime, p.receiver.slug, fid)).canonical() == before.canonical()
    # The copy was not written twice; each log has its event once.
    assert actions(await log_of(runtime, p.receiver.slug, fid)) == ["finding.transferred_in"]
    assert actions(await log_of(runtime, p.sender.slug, fid)).count("finding.transferred_out") == 1


async def test_a_crash_after_removal_is_completed(
    runtime: Runtime, parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = parties
    fid = await raise_with_evidence(runtime, p.sender.slug)
    before = await content(runtime, p.sender.slug, fid)
    stuck = await accept_crashing(runtime, p, fid, "source_removed", monkeypatch)
    assert stuck.state == TransferState.ACCEPTED and stuck.source_removed_at is not None
    assert await absent(runtime, p.sender.slug, fid)

    done = await transfer_move.complete_transfer(runtime, stuck.id)
    assert done.state == TransferState.COMPLETED
    assert (await content(runtime, p.receiver.slug, fid)).digest() == before.digest()
    sent = actions(await log_of(runtime, p.sender.slug, fid))
    assert sent.count("finding.transferred_out") == 1
    assert actions(await log_of(runtime, p.receiver.slug, fid)) == ["finding.transferred_in"]


async def test_a_source_changed_after_a_crash_replaces_the_stale_copy(
    runtime: Runtime, parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = parties
    fid = await raise_with_evidence(runtime, p.sender.slug, evidence=1)
    stale = await content(runtime, p.sender.slug, fid)
    stuck = await accept_crashing(runtime, p, fid, "copied", monkeypatch)
    # The owner keeps working on its record meanwhile (it is still the record).
    async with tenant_session(runtime, p.sender.slug) as session:
        await evidence_service.add_evidence(
            session=session, data=evidence_input(finding_id=fid), actor=ACTOR
        )
    current = await content(runtime, p.sender.slug, fid)
    assert current.digest() != stale.digest()

    done = await transfer_move.complete_transfer(runtime, stuck.id)
    assert done.state == TransferState.COMPLETED and done.content_digest == current.digest()
    assert await absent(runtime, p.sender.slug, fid)
    assert (await content(runtime, p.receiver.slug, fid)).canonical() == current.canonical()
    received = await log_of(runtime, p.receiver.slug, fid)
    assert actions(received) == ["finding.transferred_in", "finding.transferred_in"]
    assert received[1].change["replaces_digest"] == stale.digest()
    assert received[1].change["content_digest"] == current.digest()
    sent = await log_of(runtime, p.sender.slug, fid)
    assert sent[-1].change["content_digest"] == current.digest()


async def test_a_finding_linked_to_a_capa_meanwhile_aborts_the_move(
    runtime: Runtime, parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = parties
    fid = await raise_with_evidence(runtime, p.sender.slug)
    stuck = await accept_crashing(runtime, p, fid, "copied", monkeypatch)
    async with tenant_session(runtime, p.sender.slug) as session:
        await capa_service.create_capa(session=session, data=capa_input(fid), actor=ACTOR)
    with pytest.raises(AccordError) as caught:
        await transfer_move.complete_transfer(runtime, stuck.id)
    assert caught.value.reason == "CAPA_LINKED"
    ended = await transfer_service.get_transfer(runtime, stuck.id)
    assert ended.state == TransferState.ABORTED and "CAPA_LINKED" in (ended.end_reason or "")
    # The staging copy is gone again; the owner still holds its finding.
    assert await absent(runtime, p.receiver.slug, fid)
    assert not await absent(runtime, p.sender.slug, fid)
    assert actions(await log_of(runtime, p.receiver.slug, fid)) == [
        "finding.transferred_in",
        "finding.transfer_aborted",
    ]
    assert actions(await log_of(runtime, p.sender.slug, fid))[-1] == "finding.transfer_aborted"
    with pytest.raises(AccordError) as again:
        await transfer_move.complete_transfer(runtime, stuck.id)
    assert again.value.reason == "INVALID_TRANSFER_STATE"


# --------------------------------------------------------------------------- refusals


async def transfer_rows(runtime: Runtime, finding_id: uuid.UUID) -> list[tuple[Any, ...]]:
    async with runtime.control_session() as control:
        rows = await control.execute(
            select(FindingTransfer.__table__)
            .where(FindingTransfer.finding_id == finding_id)
            .order_by(FindingTransfer.proposed_at)
        )
        return [tuple(r) for r in rows]


async def refused(
    runtime: Runtime,
    p: Parties,
    finding_id: uuid.UUID,
    call: Callable[[], Awaitable[object]],
    *,
    code: ErrorCode,
    reason: str,
    logged_in: Tenant | None = None,
) -> None:
    """``call`` is refused with ``code``/``reason``; nothing changed in either store nor in
    the control plane; the attempt is the one new entry of the owner's log."""
    owner = logged_in or p.sender
    tenants = (p.sender, p.receiver, p.outsider)
    before = {}
    for t in tenants:
        async with tenant_session(runtime, t.slug) as session:
            before[t.slug] = await snapshot(session)
    rows = await transfer_rows(runtime, finding_id)
    with pytest.raises(AccordError) as caught:
        await call()
    assert (caught.value.code, caught.value.reason) == (code, reason), caught.value
    assert await transfer_rows(runtime, finding_id) == rows
    for t in tenants:
        async with tenant_session(runtime, t.slug) as session:
            now = await snapshot(session)
            assert (await verify_chain(session)).ok
        grown = now.pop("event_log")
        was = before[t.slug].pop("event_log")
        assert now == before[t.slug], f"{t.slug} changed"
        if t.slug != owner.slug:
            assert grown == was
            continue
        assert grown[: len(was)] == was and len(grown) == len(was) + 1
    async with tenant_session(runtime, owner.slug) as session:
        last = (
            await session.scalars(select(EventLogEntry).order_by(EventLogEntry.seq.desc()))
        ).first()
    assert last is not None and last.action == "finding.transfer_refused"
    assert last.record_id == str(finding_id)
    assert last.change["code"] == code.value and last.change["reason"] == reason


async def test_accepting_is_for_the_other_party_only(runtime: Runtime, parties: Parties) -> None:
    p = parties
    fid = await raise_with_evidence(runtime, p.sender.slug)
    proposed = await propose(runtime, p, fid)

    async def accept(tenant: Tenant, actor: str) -> object:
        return await transfer_flows.accept_transfer(
            runtime, transfer_id=proposed.id, tenant=tenant.slug, actor=actor
        )

    # One side only: the proposer accepting its own proposal.
    await refused(
        runtime,
        p,
        fid,
        lambda: accept(p.sender, BUYER_QM),
        code=ErrorCode.FORBIDDEN,
        reason="OWN_PROPOSAL",
    )
    # A third tenant.
    await refused(
        runtime,
        p,
        fid,
        lambda: accept(p.outsider, OUTSIDER_QM),
        code=ErrorCode.FORBIDDEN,
        reason="NOT_A_PARTY",
    )
    for call, reason in (
        (
            lambda: transfer_flows.decline_transfer(
                runtime, transfer_id=proposed.id, tenant=p.sender.slug, actor=BUYER_QM
            ),
            "OWN_PROPOSAL",
        ),
        (
            lambda: transfer_flows.cancel_transfer(
                runtime, transfer_id=proposed.id, tenant=p.receiver.slug, actor=SUPPLIER_QM
            ),
            "NOT_PROPOSER",
        ),
        (
            lambda: transfer_flows.cancel_transfer(
                runtime, transfer_id=proposed.id, tenant=p.outsider.slug, actor=OUTSIDER_QM
            ),
            "NOT_A_PARTY",
        ),
    ):
        await refused(runtime, p, fid, call, code=ErrorCode.FORBIDDEN, reason=reason)
    # A second proposal while one is live.
    await refused(
        runtime,
        p,
        fid,
        lambda: propose(runtime, p, fid, tenant=p.receiver.slug, actor=SUPPLIER_QM),
        code=ErrorCode.CONFLICT,
        reason="TRANSFER_PENDING",
    )
    # Not yet accepted: nothing to move.
    with pytest.raises(AccordError) as early:
        await transfer_move.complete_transfer(runtime, proposed.id)
    assert early.value.reason == "INVALID_TRANSFER_STATE"
    assert await absent(runtime, p.receiver.slug, fid)

    cancelled = await transfer_flows.cancel_transfer(
        runtime, transfer_id=proposed.id, tenant=p.sender.slug, actor=BUYER_QM, reason="Wrong one"
    )
    assert cancelled.state == TransferState.CANCELLED and cancelled.end_reason == "Wrong one"
    assert actions(await log_of(runtime, p.sender.slug, fid))[-1] == "finding.transfer_cancelled"
    # Accepting (or declining) a cancelled transfer.
    await refused(
        runtime,
        p,
        fid,
        lambda: accept(p.receiver, SUPPLIER_QM),
        code=ErrorCode.CONFLICT,
        reason="INVALID_TRANSFER_STATE",
    )
    assert not await absent(runtime, p.sender.slug, fid)
    assert await absent(runtime, p.receiver.slug, fid)


async def test_a_declined_transfer_moves_nothing(runtime: Runtime, parties: Parties) -> None:
    p = parties
    fid = await raise_with_evidence(runtime, p.sender.slug)
    proposed = await propose(runtime, p, fid)
    declined = await transfer_flows.decline_transfer(
        runtime,
        transfer_id=proposed.id,
        tenant=p.receiver.slug,
        actor=SUPPLIER_QM,
        reason="Not our process.",
    )
    assert declined.state == TransferState.DECLINED and declined.ended_by == SUPPLIER_QM
    assert actions(await log_of(runtime, p.sender.slug, fid))[-1] == "finding.transfer_declined"
    await refused(
        runtime,
        p,
        fid,
        lambda: transfer_flows.accept_transfer(
            runtime, transfer_id=proposed.id, tenant=p.receiver.slug, actor=SUPPLIER_QM
        ),
        code=ErrorCode.CONFLICT,
        reason="INVALID_TRANSFER_STATE",
    )
    # A new proposal is possible once the earlier one ended.
    again = await propose(runtime, p, fid)
    assert again.state == TransferState.PROPOSED


async def test_findings_that_may_not_move_are_refused(runtime: Runtime, parties: Parties) -> None:
    p = parties
    # Closed.
    async with tenant_session(runtime, p.sender.slug) as session:
        observation = await finding_workflow.raise_finding(
            session=session, data=finding_input(grade="observation"), actor=AUDITOR
        )
        await finding_workflow.respond(
            session=session, finding=observation, actor=ACTOR, response="Noted."
        )
        await finding_workflow.transition(
            session=session, finding=observation, target=FindingState.CLOSED, actor=AUDITOR
        )
    await refused(
        runtime,
        p,
        observation.id,
        lambda: propose(runtime, p, observation.id),
        code=ErrorCode.CONFLICT,
        reason="FINDING_CLOSED",
    )
    # Linked to a CAPA.
    linked = await raise_with_evidence(runtime, p.sender.slug, evidence=0)
    async with tenant_session(runtime, p.sender.slug) as session:
        await capa_service.create_capa(session=session, data=capa_input(linked), actor=ACTOR)
    await refused(
        runtime,
        p,
        linked,
        lambda: propose(runtime, p, linked, tenant=p.receiver.slug, actor=SUPPLIER_QM),
        code=ErrorCode.CONFLICT,
        reason="CAPA_LINKED",
    )
    # Closed after it was proposed: acceptance is refused, nothing moves.
    later = await raise_with_evidence(runtime, p.sender.slug, evidence=0, grade="observation")
    proposed = await propose(runtime, p, later)
    async with tenant_session(runtime, p.sender.slug) as session:
        finding = await finding_service.get_finding(session=session, finding_id=later)
        await finding_workflow.transition(
            session=session, finding=finding, target=FindingState.CLOSED, actor=AUDITOR
        )
    await refused(
        runtime,
        p,
        later,
        lambda: transfer_flows.accept_transfer(
            runtime, transfer_id=proposed.id, tenant=p.receiver.slug, actor=SUPPLIER_QM
        ),
        code=ErrorCode.CONFLICT,
        reason="FINDING_CLOSED",
    )
    assert (
        await transfer_service.get_transfer(runtime, proposed.id)
    ).state == TransferState.PROPOSED


async def test_a_finding_one_does_not_own_is_refused(runtime: Runtime, parties: Parties) -> None:
    p = parties
    fid = await raise_with_evidence(runtime, p.sender.slug, evidence=0)
    # A third tenant cannot give away (or claim) someone else's finding.
    await refused(
        runtime,
        p,
        fid,
        lambda: propose(runtime, p, fid, tenant=p.outsider.slug, actor=OUTSIDER_QM),
        code=ErrorCode.FORBIDDEN,
        reason="NOT_A_PARTY",
    )
    # The outsider naming itself as the owner: it holds no such finding (logged in its log).
    await refused(
        runtime,
        p,
        fid,
        lambda: propose(
            runtime, p, fid, from_tenant=p.outsider.slug, tenant=p.outsider.slug, actor=OUTSIDER_QM
        ),
        code=ErrorCode.NOT_FOUND,
        reason="FINDING_NOT_FOUND",
        logged_in=p.outsider,
    )
    # Nor can the receiver claim a finding that is not there.
    ghost = uuid.uuid4()
    await refused(
        runtime,
        p,
        ghost,
        lambda: propose(runtime, p, ghost, tenant=p.receiver.slug, actor=SUPPLIER_QM),
        code=ErrorCode.NOT_FOUND,
        reason="FINDING_NOT_FOUND",
    )


async def test_bad_proposals_and_collisions_are_refused(runtime: Runtime, parties: Parties) -> None:
    p = parties
    fid = await raise_with_evidence(runtime, p.sender.slug, evidence=0)
    await refused(
        runtime,
        p,
        fid,
        lambda: propose(runtime, p, fid, reason="  "),
        code=ErrorCode.BAD_USER_INPUT,
        reason="REASON_REQUIRED",
    )
    await refused(
        runtime,
        p,
        fid,
        lambda: propose(runtime, p, fid, to_tenant=p.sender.slug),
        code=ErrorCode.BAD_USER_INPUT,
        reason="SELF_TRANSFER",
    )
    await refused(
        runtime,
        p,
        fid,
        lambda: propose(runtime, p, fid, to_tenant="tstnobody_x"),
        code=ErrorCode.NOT_FOUND,
        reason="UNKNOWN_TENANT",
    )
    # The receiver uses the reference already.
    reference = (await content(runtime, p.sender.slug, fid)).finding["reference"]
    async with tenant_session(runtime, p.receiver.slug) as session:
        await finding_workflow.raise_finding(
            session=session, data=finding_input(reference=reference), actor=AUDITOR
        )
    await refused(
        runtime,
        p,
        fid,
        lambda: propose(runtime, p, fid),
        code=ErrorCode.CONFLICT,
        reason="DUPLICATE_REFERENCE",
    )
    # ... or holds the same ERP record.
    dup = await raise_with_evidence(runtime, p.sender.slug, evidence=0)
    external = (await content(runtime, p.sender.slug, dup)).finding["external_id"]
    async with tenant_session(runtime, p.receiver.slug) as session:
        await finding_workflow.raise_finding(
            session=session,
            data=finding_input(reference=ref(), source_system="sap-s4", external_id=external),
            actor=AUDITOR,
        )
    await refused(
        runtime,
        p,
        dup,
        lambda: propose(runtime, p, dup),
        code=ErrorCode.CONFLICT,
        reason="DUPLICATE_SOURCE_RECORD",
    )


async def test_a_move_under_way_is_not_run_twice(
    runtime: Runtime, parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = parties
    fid = await raise_with_evidence(runtime, p.sender.slug, evidence=1)
    stuck = await accept_crashing(runtime, p, fid, "copied", monkeypatch)
    assert stuck.id in {t.id for t in await transfer_service.unfinished_moves(runtime)}
    async with runtime.control_session() as other:  # another worker is moving it
        await other.execute(select(func.pg_advisory_xact_lock(transfer_move.move_lock(stuck.id))))
        with pytest.raises(AccordError) as caught:
            await transfer_move.complete_transfer(runtime, stuck.id)
        assert caught.value.reason == "TRANSFER_IN_PROGRESS"
    assert not await absent(runtime, p.sender.slug, fid)
    done = await transfer_move.complete_transfer(runtime, stuck.id)
    assert done.state == TransferState.COMPLETED
    assert stuck.id not in {t.id for t in await transfer_service.unfinished_moves(runtime)}
    assert await absent(runtime, p.sender.slug, fid)
    assert not await absent(runtime, p.receiver.slug, fid)
