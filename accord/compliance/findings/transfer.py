"""Transfer of a finding's ownership to another tenant: two-party agreed, moved without loss.

A finding sometimes belongs to someone else (a supplier's nonconformity found in the
buyer's audit). Records are never copied between tenants (DESIGN.md, the one rule), so a
change of owner is a *move*: the record leaves the sender's schema and store and arrives in
the receiver's, under an explicit transfer both organisations agreed to.

Agreement
    Either party proposes (``propose_transfer``): the current owner ("sender") or the
    receiver. The proposer's side counts as agreed; the other party accepts
    (``accept_transfer``) or declines (``decline_transfer``); the proposer may withdraw
    (``cancel_transfer``). One live transfer per finding. Every refused attempt — accepting
    one's own proposal, a third tenant acting, a transfer no longer proposed, a closed
    finding, a finding the sender does not hold — raises an ``AccordError`` with a reason
    code, changes nothing, and is appended (``finding.transfer_refused``) to the event log
    of the finding's owner in a transaction of its own, since the refused one rolls back.

What moves
    The finding row and the metadata rows of its evidence (the artefacts themselves stay
    where their ``uri`` points), with the same ids and every column unchanged but one:
    ``audit_id``. The audit is the sender's record and stays with it; the moved row has no
    ``audit_id`` and the transfer (control plane) and both events keep it as a cross-tenant
    reference (``source_audit_id``). The provenance note of the moved record is the
    ``finding.transferred_in`` event (from whom, which transfer, the content digest) with
    the transfer row behind it; the record's own provenance columns (source system,
    external id, fetched at, content hash) travel unchanged.

CAPA links: refused, not re-pointed
    A finding that any CAPA links (``capa_findings``), or whose evidence also belongs to a
    CAPA, is not transferable (``CAPA_LINKED``). Both alternatives lose something: the link
    rows would be cascaded away with the source row (the CAPA would silently stop covering
    the finding), and a cross-tenant link would leave the sender's CAPA verifying a finding
    it can no longer read. The parties unlink (or finish) the CAPA first, or keep the
    finding where it is.

The move (``complete_transfer``): a saga across two stores, no distributed transaction
    0. A control-plane advisory lock on the transfer makes concurrent runs wait their turn
       (refused with ``TRANSFER_IN_PROGRESS``).
    1. In one transaction in the sender's store the finding and its evidence are read and
       locked ``FOR UPDATE`` (no change, no new link, no new evidence while the move runs)
       and checked again. In the receiver's store the rows are written with the same ids
       and ``finding.transferred_in`` is appended; that transaction commits. The transfer
       row records ``copied_at`` and the content digest.
    2. The copy is read back from the receiver's store and its digest compared with the
       source's: only if the contents are equal are the source rows deleted and
       ``finding.transferred_out`` (same digest) appended; the sender's transaction
       commits. The transfer row records ``source_removed_at``.
    3. The transfer is marked ``completed``.
    Every step is idempotent and the transfer row records progress, so a move interrupted
    anywhere is rolled forward by calling ``complete_transfer`` again: a copy already
    present with the same digest is not written twice, a source already removed (its
    ``transferred_out`` event is in the sender's log) is not looked for, and the result is
    exactly one copy. A copy left by an interrupted run that no longer matches the source
    (either side changed meanwhile; it was never authoritative) is replaced. If the finding
    no longer qualifies when the move runs (closed, linked to a CAPA meanwhile), the move is
    aborted: any staging copy is removed again, both logs record ``finding.transfer_aborted``
    and the transfer ends ``aborted``. Until step 2 commits the sender's row is the record.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, exists, func, insert, literal, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.capa.models import capa_findings
from accord.compliance.catalog.service import check_clauses
from accord.compliance.evidence.models import Evidence
from accord.compliance.findings.models import Finding
from accord.compliance.findings.states import FindingState
from accord.compliance.findings.transfer_models import (
    LIVE_STATES,
    FindingTransfer,
    TransferState,
)
from accord.compliance.records.history import jsonable
from accord.compliance.records.refusals import record_refusal
from accord.platform import clock
from accord.platform.canonical import canonical_digest
from accord.platform.errors import (
    AccordError,
    BadInput,
    Conflict,
    Forbidden,
    NotFound,
    describe_failure,
)
from accord.platform.eventlog import EventLogEntry, append_event
from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service
from accord.tenants.sessions import tenant_session

log = logging.getLogger("accord.transfers")

#: Logs a refused attempt: (acting tenant, actor, the refusal).
RefusalLogger = Callable[[str, str, AccordError], Awaitable[None]]

FINDINGS = cast(Table, Finding.__table__)
EVIDENCE = cast(Table, Evidence.__table__)
#: columns of the finding that refer to the sender's other records and do not travel
SENDER_REFERENCES = ("audit_id",)


def _now() -> datetime:
    return clock.now()


async def _after_step(transfer_id: uuid.UUID, step: str) -> None:
    """Called after each committed step of a move (tests inject failures here)."""
    return None


# --------------------------------------------------------------------------- moved content


@dataclass(frozen=True, slots=True)
class MovedContent:
    """The rows that move: the finding and the metadata of its evidence (database values)."""

    finding: Mapping[str, Any]
    evidence: tuple[Mapping[str, Any], ...]

    @property
    def finding_id(self) -> uuid.UUID:
        value: uuid.UUID = self.finding["id"]
        return value

    @property
    def evidence_ids(self) -> list[uuid.UUID]:
        return [row["id"] for row in self.evidence]

    def canonical(self) -> dict[str, Any]:
        """What must be equal on both sides (the sender's references excepted)."""
        record = {k: v for k, v in self.finding.items() if k not in SENDER_REFERENCES}
        return {
            "finding": jsonable(record),
            "evidence": [jsonable(dict(row)) for row in self.evidence],
        }

    def digest(self) -> str:
        return canonical_digest(self.canonical())


async def read_content(
    session: AsyncSession, finding_id: uuid.UUID, *, lock: bool = False
) -> MovedContent | None:
    """The finding's rows in the session's tenant schema (locked ``FOR UPDATE`` if asked)."""
    stmt = select(FINDINGS).where(FINDINGS.c.id == finding_id)
    if lock:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).mappings().first()
    if row is None:
        return None
    evidence_stmt = select(EVIDENCE).where(EVIDENCE.c.finding_id == finding_id)
    if lock:
        evidence_stmt = evidence_stmt.with_for_update()
    evidence = (await session.execute(evidence_stmt.order_by(EVIDENCE.c.id))).mappings().all()
    return MovedContent(dict(row), tuple(dict(e) for e in evidence))


# --------------------------------------------------------------------------- checks


async def _check_movable(session: AsyncSession, content: MovedContent) -> None:
    """Refuse a finding that may not change owner (see the module notes)."""
    state = FindingState(content.finding["state"])
    if state is FindingState.CLOSED:
        raise Conflict(
            "A closed finding is not transferred; reopen it first if it must move.",
            reason="FINDING_CLOSED",
            field="finding_id",
        )
    if content.finding["deleted_at"] is not None:
        raise Conflict(
            "The source system reported this finding deleted.",
            reason="FINDING_DELETED_AT_SOURCE",
            field="finding_id",
        )
    linked = select(capa_findings.c.capa_id).where(capa_findings.c.finding_id == content.finding_id)
    if await session.scalar(select(exists(linked))) or any(
        e["capa_id"] is not None for e in content.evidence
    ):
        raise Conflict(
            "A CAPA links this finding (or its evidence); CAPAs stay with their owner, so "
            "unlink or finish the CAPA before the finding changes owner.",
            reason="CAPA_LINKED",
            field="finding_id",
        )


async def _check_receiver(
    session: AsyncSession, content: MovedContent, *, staging: bool = False
) -> None:
    """Refuse a move that would collide with the receiver's own records.

    ``staging``: a copy with the same ids left by an earlier run of this transfer is there
    and is not a collision.
    """
    fid = content.finding_id
    if not staging and await session.scalar(select(exists().where(FINDINGS.c.id == fid))):
        raise Conflict("The receiver holds a record with this id.", reason="RECORD_ID_TAKEN")
    reference = content.finding["reference"]
    if await session.scalar(
        select(exists().where(FINDINGS.c.reference == reference, FINDINGS.c.id != fid))
    ):
        raise Conflict(
            f"The receiver has a finding {reference!r} already.",
            reason="DUPLICATE_REFERENCE",
            field="reference",
        )
    sources = [
        (row["source_system"], row["external_id"])
        for row in (content.finding, *content.evidence)
        if row["external_id"] is not None
    ]
    moved_ids = [fid, *content.evidence_ids]
    for table in (FINDINGS, EVIDENCE):
        if sources and await session.scalar(
            select(
                exists().where(
                    tuple_(table.c.source_system, table.c.external_id).in_(sources),
                    table.c.id.not_in(moved_ids),
                )
            )
        ):
            raise Conflict(
                "The receiver holds a record from the same source system and external id.",
                reason="DUPLICATE_SOURCE_RECORD",
                field="external_id",
            )
    if content.evidence_ids and await session.scalar(
        select(
            exists().where(
                EVIDENCE.c.id.in_(content.evidence_ids),
                or_(EVIDENCE.c.finding_id.is_(None), EVIDENCE.c.finding_id != fid),
            )
        )
    ):
        raise Conflict("The receiver holds a record with this id.", reason="RECORD_ID_TAKEN")
    keys = sorted(
        {*content.finding["clause_keys"], *(k for e in content.evidence for k in e["clause_keys"])}
    )
    await check_clauses(session, keys)


def _transfer_event(transfer: FindingTransfer, **more: Any) -> dict[str, Any]:
    change: dict[str, Any] = {
        "transfer_id": str(transfer.id),
        "from_tenant": transfer.from_tenant,
        "to_tenant": transfer.to_tenant,
    }
    change.update(more)
    return jsonable(change)  # type: ignore[no-any-return]


async def _logged(session: AsyncSession, transfer: FindingTransfer, action: str) -> bool:
    """Whether the session's tenant log has ``action`` for this transfer."""
    found = select(EventLogEntry.seq).where(
        EventLogEntry.record_type == Finding.record_type,
        EventLogEntry.record_id == str(transfer.finding_id),
        EventLogEntry.action == action,
        EventLogEntry.change["transfer_id"].astext == str(transfer.id),
    )
    return bool(await session.scalar(select(exists(found))))


async def log_refusal(
    runtime: Runtime,
    *,
    owner: str,
    finding_id: uuid.UUID,
    actor: str,
    attempt: dict[str, Any],
    error: AccordError,
) -> None:
    """Append a refused attempt to the owner's log, in a transaction of its own."""
    detail = dict(attempt)
    try:
        async with tenant_session(runtime, owner) as session:
            await record_refusal(
                session=session,
                actor=actor,
                record_type=Finding.record_type,
                record_id=finding_id,
                attempt=str(detail.pop("attempt")),
                error=error,
                detail=detail,
                action="finding.transfer_refused",
            )
    except AccordError as exc:  # no such owner (or not reachable): nowhere to log it
        log.warning("transfer refusal not logged for %r: %s", owner, exc)


# --------------------------------------------------------------------------- reading


async def get_transfer(runtime: Runtime, transfer_id: uuid.UUID) -> FindingTransfer:
    async with runtime.control_session() as control:
        return await _get(control, transfer_id)


async def _get(
    control: AsyncSession, transfer_id: uuid.UUID, *, for_update: bool = False
) -> FindingTransfer:
    transfer = await control.get(FindingTransfer, transfer_id, with_for_update=for_update)
    if transfer is None:
        raise NotFound("No such transfer.", reason="TRANSFER_NOT_FOUND", field="transfer_id")
    return transfer


async def list_transfers(runtime: Runtime, *, tenant: str) -> Sequence[FindingTransfer]:
    """The transfers ``tenant`` is a party to, newest first."""
    async with runtime.control_session() as control:
        stmt = (
            select(FindingTransfer)
            .where(or_(FindingTransfer.from_tenant == tenant, FindingTransfer.to_tenant == tenant))
            .order_by(FindingTransfer.proposed_at.desc(), FindingTransfer.id)
        )
        return (await control.scalars(stmt)).all()


async def unfinished_moves(runtime: Runtime) -> Sequence[FindingTransfer]:
    """Accepted transfers whose move has not completed (for a sweeper to roll forward)."""
    async with runtime.control_session() as control:
        stmt = (
            select(FindingTransfer)
            .where(FindingTransfer.state == TransferState.ACCEPTED.value)
            .order_by(FindingTransfer.proposed_at)
        )
        return (await control.scalars(stmt)).all()


def current_owner(transfer: FindingTransfer) -> str:
    return transfer.to_tenant if transfer.state == TransferState.COMPLETED else transfer.from_tenant


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
        await _check_movable(sender, content)
        async with tenant_session(runtime, to_tenant) as receiver:
            await _check_receiver(receiver, content)
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
            change=_transfer_event(transfer, proposed_by_tenant=tenant, reason=transfer.reason),
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
            await _check_movable(sender, content)
            async with tenant_session(runtime, transfer.to_tenant) as receiver:
                await _check_receiver(receiver, content)
            await append_event(
                sender,
                actor=actor,
                action="finding.transfer_accepted",
                record_type=Finding.record_type,
                record_id=str(transfer.finding_id),
                change=_transfer_event(transfer, accepted_by_tenant=tenant),
            )
            async with runtime.control_session() as control:
                locked = await _get(control, transfer.id, for_update=True)
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
            change=_transfer_event(transfer, by_tenant=tenant, reason=note),
        )
        async with runtime.control_session() as control:
            locked = await _get(control, transfer.id, for_update=True)
            _require_proposed(locked)
            locked.state = state.value
            locked.ended_by, locked.ended_at, locked.end_reason = actor, _now(), note
    return locked


# --------------------------------------------------------------------------- the move


async def complete_transfer(runtime: Runtime, transfer_id: uuid.UUID) -> FindingTransfer:
    """Move an accepted transfer's finding, or roll an interrupted move forward.

    Idempotent: a completed transfer is returned as it is.
    """
    async with runtime.control_session() as lease:
        if not await lease.scalar(select(func.pg_try_advisory_xact_lock(move_lock(transfer_id)))):
            raise Conflict("This transfer is being moved right now.", reason="TRANSFER_IN_PROGRESS")
        transfer = await _get(lease, transfer_id)
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
        transfer = await _get(control, transfer_id, for_update=True)
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
            if not await _logged(sender, transfer, "finding.transferred_out"):
                raise Conflict(
                    "The sender no longer holds the finding, and not because of this transfer.",
                    reason="TRANSFER_SOURCE_MISSING",
                    field="finding_id",
                )
            # Step 2 committed before an interruption; only the bookkeeping is left.
        else:
            try:
                await _check_movable(sender, source)
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
                change=_transfer_event(
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
        if not await _logged(receiver, transfer, "finding.transferred_in"):
            raise Conflict("The receiver holds a record with this id.", reason="RECORD_ID_TAKEN")
        replaced = existing.digest()
        if replaced == digest:
            return
        await _check_receiver(receiver, source, staging=True)
        await _remove_copy(receiver, existing)
    else:
        await _check_receiver(receiver, source)
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
        change=_transfer_event(
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
    change = _transfer_event(transfer, code=error.code.value, reason=error.reason)
    async with tenant_session(runtime, transfer.to_tenant) as receiver:
        copy = await read_content(receiver, transfer.finding_id, lock=True)
        if copy is not None and await _logged(receiver, transfer, "finding.transferred_in"):
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
