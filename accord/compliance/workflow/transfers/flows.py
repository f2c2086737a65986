"""The two-party agreement: propose, accept (which runs the move), decline, cancel."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accord.compliance.findings.models import Finding
from accord.compliance.workflow.transfers.models import LIVE_STATES, FindingTransfer, TransferState
from accord.compliance.workflow.transfers.move import complete_transfer
from accord.compliance.workflow.transfers.service import (
    check_movable,
    check_receiver,
    current_owner,
    get_transfer,
    load_transfer,
    log_refusal,
    read_content,
    transfer_event,
)
from accord.platform import clock
from accord.platform.errors import (
    AccordError,
    BadInput,
    Conflict,
    Forbidden,
    NotFound,
)
from accord.platform.eventlog import append_event
from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service
from accord.tenants.sessions import tenant_session


def _now() -> datetime:
    return clock.now()


# --------------------------------------------------------------------------- agreement


async def propose_transfer(
    runtime: Runtime,
    *,
    finding_id: uuid.UUID,
    from_tenant: str,
    to_tenant: str,
    reason: str,
    tenant: str,
    actor: str,
) -> FindingTransfer:
    """Propose moving ``from_tenant``'s finding to ``to_tenant``, on behalf of ``tenant``.

    ``tenant`` (the caller's organisation) must be one of the two; its side counts as agreed.
    """
    try:
        return await _propose(
            runtime,
            finding_id=finding_id,
            from_tenant=from_tenant,
            to_tenant=to_tenant,
            reason=reason,
            tenant=tenant,
            actor=actor,
        )
    except AccordError as exc:
        attempt = {"attempt": "propose", "by_tenant": tenant, "from": from_tenant, "to": to_tenant}
        await log_refusal(
            runtime,
            owner=from_tenant,
            finding_id=finding_id,
            actor=actor,
            attempt=attempt,
            error=exc,
        )
        raise


async def _propose(
    runtime: Runtime,
    *,
    finding_id: uuid.UUID,
    from_tenant: str,
    to_tenant: str,
    reason: str,
    tenant: str,
    actor: str,
) -> FindingTransfer:
    if not reason or not reason.strip():
        raise BadInput(
            "State why the finding changes owner.", reason="REASON_REQUIRED", field="reason"
        )
    if from_tenant == to_tenant:
        raise BadInput("A finding cannot move to its owner.", reason="SELF_TRANSFER", field="to")
    if tenant not in (from_tenant, to_tenant):
        raise Forbidden(
            "Only the owner or the receiver can propose a transfer.", reason="NOT_A_PARTY"
        )
    async with runtime.control_session() as control:
        for slug, field in ((from_tenant, "from"), (to_tenant, "to")):
            try:
                await tenant_service.get_accessible(session=control, slug=slug)
            except AccordError as exc:
                exc.field = field
                raise
    transfer_id = uuid.uuid4()
    async with tenant_session(runtime, from_tenant) as sender:
        content = await read_content(sender, finding_id, lock=True)
        if content is None:
            raise NotFound(
                f"{from_tenant} holds no finding {finding_id}.",
                reason="FINDING_NOT_FOUND",
                field="finding_id",
            )
        await check_movable(sender, content)
        async with tenant_session(runtime, to_tenant) as receiver:
            await check_receiver(receiver, content)
        at = _now()
        transfer = FindingTransfer(
            id=transfer_id,
            finding_id=finding_id,
            finding_reference=content.finding["reference"],
            from_tenant=from_tenant,
            to_tenant=to_tenant,
            reason=reason.strip(),
            state=TransferState.PROPOSED.value,
            proposed_by_tenant=tenant,
            proposed_by=actor,
            proposed_at=at,
        )
        if tenant == from_tenant:
            transfer.sender_agreed_by, transfer.sender_agreed_at = actor, at
        else:
            transfer.receiver_agreed_by, transfer.receiver_agreed_at = actor, at
        await append_event(
            sender,
            actor=actor,
            action="finding.transfer_proposed",
            record_type=Finding.record_type,
            record_id=str(finding_id),
            change=transfer_event(transfer, proposed_by_tenant=tenant, reason=transfer.reason),
        )
        # The control row commits first; if it cannot, the sender's event rolls back too.
        try:
            async with runtime.control_session() as control:
                live = await control.scalar(
                    select(FindingTransfer.id).where(
                        FindingTransfer.finding_id == finding_id,
                        FindingTransfer.state.in_(LIVE_STATES),
                    )
                )
                if live is not None:
                    raise _pending(live)
                control.add(transfer)
        except IntegrityError:  # a concurrent proposal won the unique index
            raise _pending(None) from None
    return transfer


def _pending(live: uuid.UUID | None) -> Conflict:
    which = f" ({live})" if live else ""
    return Conflict(
        f"A transfer of this finding is under way already{which}.",
        reason="TRANSFER_PENDING",
        field="finding_id",
    )


def _require_party(transfer: FindingTransfer, tenant: str) -> None:
    if tenant not in (transfer.from_tenant, transfer.to_tenant):
        raise Forbidden("Only a party to the transfer can do this.", reason="NOT_A_PARTY")


def _require_proposed(transfer: FindingTransfer) -> None:
    if transfer.state != TransferState.PROPOSED:
        raise Conflict(
            f"The transfer is {transfer.state}.", reason="INVALID_TRANSFER_STATE", field="state"
        )


def _check_accept(transfer: FindingTransfer, tenant: str) -> None:
    _require_party(transfer, tenant)
    if tenant == transfer.proposed_by_tenant:
        raise Forbidden(
            "Your side proposed this transfer; the other party accepts it.",
            reason="OWN_PROPOSAL",
        )
    _require_proposed(transfer)


async def log_transfer_refusal(
    runtime: Runtime,
    transfer: FindingTransfer,
    *,
    attempt: str,
    tenant: str,
    actor: str,
    error: AccordError,
) -> None:
    """Log a refused ``attempt`` on ``transfer`` with the finding's (current) owner.

    For refusals decided before the service is called (e.g. the gateway's action gate).
    """
    await log_refusal(
        runtime,
        owner=current_owner(transfer),
        finding_id=transfer.finding_id,
        actor=actor,
        attempt={
            "attempt": attempt,
            "by_tenant": tenant,
            "transfer_id": str(transfer.id),
            "from": transfer.from_tenant,
            "to": transfer.to_tenant,
        },
        error=error,
    )


async def _guarded(
    runtime: Runtime,
    transfer_id: uuid.UUID,
    *,
    attempt: str,
    tenant: str,
    actor: str,
    run: Callable[[FindingTransfer], Awaitable[FindingTransfer]],
) -> FindingTransfer:
    """Run ``run`` on the transfer; a refusal is logged with the finding's owner."""
    transfer = await get_transfer(runtime, transfer_id)  # unknown: nothing to log against
    try:
        return await run(transfer)
    except AccordError as exc:
        await log_transfer_refusal(
            runtime, transfer, attempt=attempt, tenant=tenant, actor=actor, error=exc
        )
        raise


async def accept_transfer(
    runtime: Runtime, *, transfer_id: uuid.UUID, tenant: str, actor: str
) -> FindingTransfer:
    """The other party agrees; with both sides agreed the finding moves at once."""

    async def accept(transfer: FindingTransfer) -> FindingTransfer:
        _check_accept(transfer, tenant)
        async with tenant_session(runtime, transfer.from_tenant) as sender:
            content = await read_content(sender, transfer.finding_id, lock=True)
            if content is None:
                raise NotFound(
                    "The sender no longer holds the finding.",
                    reason="FINDING_NOT_FOUND",
                    field="finding_id",
                )
            await check_movable(sender, content)
            async with tenant_session(runtime, transfer.to_tenant) as receiver:
                await check_receiver(receiver, content)
            await append_event(
                sender,
                actor=actor,
                action="finding.transfer_accepted",
                record_type=Finding.record_type,
                record_id=str(transfer.finding_id),
                change=transfer_event(transfer, accepted_by_tenant=tenant),
            )
            async with runtime.control_session() as control:
                locked = await load_transfer(control, transfer.id, for_update=True)
                _check_accept(locked, tenant)  # again, under the row lock
                at = _now()
                if tenant == locked.from_tenant:
                    locked.sender_agreed_by, locked.sender_agreed_at = actor, at
                else:
                    locked.receiver_agreed_by, locked.receiver_agreed_at = actor, at
                locked.state = TransferState.ACCEPTED.value
        return locked

    await _guarded(runtime, transfer_id, attempt="accept", tenant=tenant, actor=actor, run=accept)
    return await complete_transfer(runtime, transfer_id)


async def decline_transfer(
    runtime: Runtime, *, transfer_id: uuid.UUID, tenant: str, actor: str, reason: str | None = None
) -> FindingTransfer:
    """The party asked to accept says no."""

    async def decline(transfer: FindingTransfer) -> FindingTransfer:
        _require_party(transfer, tenant)
        if tenant == transfer.proposed_by_tenant:
            raise Forbidden(
                "Your side proposed this transfer; withdraw it instead.", reason="OWN_PROPOSAL"
            )
        _require_proposed(transfer)
        return await _end(runtime, transfer, TransferState.DECLINED, tenant, actor, reason)

    return await _guarded(
        runtime, transfer_id, attempt="decline", tenant=tenant, actor=actor, run=decline
    )


async def cancel_transfer(
    runtime: Runtime, *, transfer_id: uuid.UUID, tenant: str, actor: str, reason: str | None = None
) -> FindingTransfer:
    """The proposer withdraws a proposal not yet accepted."""

    async def cancel(transfer: FindingTransfer) -> FindingTransfer:
        _require_party(transfer, tenant)
        if tenant != transfer.proposed_by_tenant:
            raise Forbidden(
                "Only the proposing side withdraws a proposal; decline it instead.",
                reason="NOT_PROPOSER",
            )
        _require_proposed(transfer)
        return await _end(runtime, transfer, TransferState.CANCELLED, tenant, actor, reason)

    return await _guarded(
        runtime, transfer_id, attempt="cancel", tenant=tenant, actor=actor, run=cancel
    )


async def _end(
    runtime: Runtime,
    transfer: FindingTransfer,
    state: TransferState,
    tenant: str,
    actor: str,
    reason: str | None,
) -> FindingTransfer:
    note = reason.strip() if reason and reason.strip() else None
    async with tenant_session(runtime, transfer.from_tenant) as sender:
        await append_event(
            sender,
            actor=actor,
            action=f"finding.transfer_{state.value}",
            record_type=Finding.record_type,
            record_id=str(transfer.finding_id),
            change=transfer_event(transfer, by_tenant=tenant, reason=note),
        )
        async with runtime.control_session() as control:
            locked = await load_transfer(control, transfer.id, for_update=True)
            _require_proposed(locked)
            locked.state = state.value
            locked.ended_by, locked.ended_at, locked.end_reason = actor, _now(), note
    return locked
