"""The move across two stores: copy, compare, remove the source, or abort; resumable."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.capa.models import capa_findings
from accord.compliance.findings.models import Finding
from accord.compliance.workflow.transfers.models import FindingTransfer, TransferState
from accord.compliance.workflow.transfers.schemas import (
    EVIDENCE,
    FINDINGS,
    SENDER_REFERENCES,
    MovedContent,
)
from accord.compliance.workflow.transfers.service import (
    check_movable,
    check_receiver,
    get_transfer,
    load_transfer,
    read_content,
    transfer_event,
    transfer_logged,
)
from accord.platform import clock
from accord.platform.errors import (
    AccordError,
    Conflict,
    describe_failure,
)
from accord.platform.eventlog import append_event
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session


def _now() -> datetime:
    return clock.now()


async def _after_step(transfer_id: uuid.UUID, step: str) -> None:
    """Called after each committed step of a move (tests inject failures here)."""
    return None


# --------------------------------------------------------------------------- the move


async def complete_transfer(runtime: Runtime, transfer_id: uuid.UUID) -> FindingTransfer:
    """Move an accepted transfer's finding, or roll an interrupted move forward.

    Idempotent: a completed transfer is returned as it is.
    """
    async with runtime.control_session() as lease:
        if not await lease.scalar(select(func.pg_try_advisory_xact_lock(move_lock(transfer_id)))):
            raise Conflict("This transfer is being moved right now.", reason="TRANSFER_IN_PROGRESS")
        transfer = await load_transfer(lease, transfer_id)
        if transfer.state == TransferState.COMPLETED:
            return transfer
        if transfer.state != TransferState.ACCEPTED:
            raise Conflict(
                f"The transfer is {transfer.state}; only an accepted one moves.",
                reason="INVALID_TRANSFER_STATE",
                field="state",
            )
        try:
            await _move(runtime, transfer)
        except Exception as exc:
            await _stamp(runtime, transfer.id, last_error=describe_failure(exc))
            raise
        return await get_transfer(runtime, transfer_id)


def move_lock(transfer_id: uuid.UUID) -> Any:
    """The advisory-lock key a move of ``transfer_id`` holds (control plane)."""
    return func.hashtextextended(literal(f"accord.finding_transfer:{transfer_id}"), 0)


async def _stamp(runtime: Runtime, transfer_id: uuid.UUID, **values: Any) -> None:
    """Record progress on the transfer row (a short control transaction of its own)."""
    async with runtime.control_session() as control:
        transfer = await load_transfer(control, transfer_id, for_update=True)
        for name, value in values.items():
            setattr(transfer, name, value)


def _acceptor(transfer: FindingTransfer) -> str:
    """Whose decision made the finding move: the agreeing side that did not propose."""
    if transfer.proposed_by_tenant == transfer.from_tenant:
        return transfer.receiver_agreed_by or transfer.proposed_by
    return transfer.sender_agreed_by or transfer.proposed_by


async def _move(runtime: Runtime, transfer: FindingTransfer) -> None:
    actor = _acceptor(transfer)
    async with tenant_session(runtime, transfer.from_tenant) as sender:
        source = await read_content(sender, transfer.finding_id, lock=True)
        if source is None:
            if not await transfer_logged(sender, transfer, "finding.transferred_out"):
                raise Conflict(
                    "The sender no longer holds the finding, and not because of this transfer.",
                    reason="TRANSFER_SOURCE_MISSING",
                    field="finding_id",
                )
            # Step 2 committed before an interruption; only the bookkeeping is left.
        else:
            try:
                await check_movable(sender, source)
            except Conflict as exc:
                await _abort(runtime, transfer, exc, actor)
                raise
            digest = source.digest()
            # Step 1: the copy in the receiver's store.
            async with tenant_session(runtime, transfer.to_tenant) as receiver:
                await _write_copy(receiver, transfer, source, digest, actor)
            await _stamp(
                runtime,
                transfer.id,
                copied_at=transfer.copied_at or _now(),
                content_digest=digest,
                evidence_count=len(source.evidence),
                source_audit_id=source.finding["audit_id"],
            )
            await _after_step(transfer.id, "copied")
            # Step 2: only with the contents proven equal is the source removed.
            async with tenant_session(runtime, transfer.to_tenant) as receiver:
                copy = await read_content(receiver, transfer.finding_id)
            if copy is None or copy.digest() != digest:
                raise Conflict(
                    "The receiver's copy differs from the source; the source is kept. Run "
                    "the transfer again to replace the copy.",
                    reason="TRANSFER_COPY_MISMATCH",
                )
            await sender.execute(delete(EVIDENCE).where(EVIDENCE.c.finding_id == source.finding_id))
            await sender.execute(delete(FINDINGS).where(FINDINGS.c.id == source.finding_id))
            await append_event(
                sender,
                actor=actor,
                action="finding.transferred_out",
                record_type=Finding.record_type,
                record_id=str(transfer.finding_id),
                change=transfer_event(
                    transfer,
                    content_digest=digest,
                    evidence_ids=source.evidence_ids,
                    source_audit_id=source.finding["audit_id"],
                ),
            )
    await _stamp(runtime, transfer.id, source_removed_at=transfer.source_removed_at or _now())
    await _after_step(transfer.id, "source_removed")
    # Step 3.
    await _stamp(
        runtime,
        transfer.id,
        state=TransferState.COMPLETED.value,
        completed_at=_now(),
        last_error=None,
    )


async def _write_copy(
    receiver: AsyncSession,
    transfer: FindingTransfer,
    source: MovedContent,
    digest: str,
    actor: str,
) -> None:
    """Step 1 in the receiver's schema; nothing is written if an equal copy is there."""
    existing = await read_content(receiver, transfer.finding_id, lock=True)
    replaced: str | None = None
    if existing is not None:
        if not await transfer_logged(receiver, transfer, "finding.transferred_in"):
            raise Conflict("The receiver holds a record with this id.", reason="RECORD_ID_TAKEN")
        replaced = existing.digest()
        if replaced == digest:
            return
        await check_receiver(receiver, source, staging=True)
        await _remove_copy(receiver, existing)
    else:
        await check_receiver(receiver, source)
    row = dict(source.finding)
    for column in SENDER_REFERENCES:
        row[column] = None
    await receiver.execute(insert(FINDINGS).values(**row))
    if source.evidence:
        await receiver.execute(insert(EVIDENCE), [dict(e) for e in source.evidence])
    note = (
        f"Transferred from {transfer.from_tenant} under transfer {transfer.id}; "
        "content unchanged (digest below)"
        + (
            f"; raised in {transfer.from_tenant}'s audit {source.finding['audit_id']}"
            if source.finding["audit_id"]
            else ""
        )
        + "."
    )
    await append_event(
        receiver,
        actor=actor,
        action="finding.transferred_in",
        record_type=Finding.record_type,
        record_id=str(transfer.finding_id),
        change=transfer_event(
            transfer,
            content_digest=digest,
            evidence_ids=source.evidence_ids,
            source_audit_id=source.finding["audit_id"],
            reason=transfer.reason,
            provenance=note,
            **({"replaces_digest": replaced} if replaced else {}),
        ),
    )


async def _remove_copy(receiver: AsyncSession, copy: MovedContent) -> None:
    """Remove a staging copy left by an interrupted run (never an authoritative record)."""
    linked = select(capa_findings.c.capa_id).where(capa_findings.c.finding_id == copy.finding_id)
    if await receiver.scalar(select(exists(linked))):
        raise Conflict(
            "The receiver linked a CAPA to the unfinished copy; unlink it to continue.",
            reason="STAGING_COPY_IN_USE",
        )
    await receiver.execute(delete(EVIDENCE).where(EVIDENCE.c.finding_id == copy.finding_id))
    await receiver.execute(delete(FINDINGS).where(FINDINGS.c.id == copy.finding_id))


async def _abort(
    runtime: Runtime, transfer: FindingTransfer, error: AccordError, actor: str
) -> None:
    """The finding no longer qualifies: undo any staging copy, end the transfer ``aborted``."""
    change = transfer_event(transfer, code=error.code.value, reason=error.reason)
    async with tenant_session(runtime, transfer.to_tenant) as receiver:
        copy = await read_content(receiver, transfer.finding_id, lock=True)
        if copy is not None and await transfer_logged(receiver, transfer, "finding.transferred_in"):
            await _remove_copy(receiver, copy)
            await append_event(
                receiver,
                actor=actor,
                action="finding.transfer_aborted",
                record_type=Finding.record_type,
                record_id=str(transfer.finding_id),
                change={**change, "staging_copy_removed": True},
            )
    async with tenant_session(runtime, transfer.from_tenant) as sender:
        await append_event(
            sender,
            actor=actor,
            action="finding.transfer_aborted",
            record_type=Finding.record_type,
            record_id=str(transfer.finding_id),
            change=change,
        )
    await _stamp(
        runtime,
        transfer.id,
        state=TransferState.ABORTED.value,
        ended_by=actor,
        ended_at=_now(),
        end_reason=f"{error.reason}: {error.message}",
    )
