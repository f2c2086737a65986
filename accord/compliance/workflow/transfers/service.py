"""Reading transfers and their content, the checks a move needs, the events it writes."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.capa.models import capa_findings
from accord.compliance.catalog.service import check_clauses
from accord.compliance.findings.models import Finding
from accord.compliance.findings.states import FindingState
from accord.compliance.records.history import jsonable
from accord.compliance.records.refusals import record_refusal
from accord.compliance.workflow.transfers.models import FindingTransfer, TransferState
from accord.compliance.workflow.transfers.schemas import EVIDENCE, FINDINGS, MovedContent
from accord.platform.errors import (
    AccordError,
    Conflict,
    NotFound,
)
from accord.platform.eventlog import EventLogEntry
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session

log = logging.getLogger("accord.transfers")


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


async def check_movable(session: AsyncSession, content: MovedContent) -> None:
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


async def check_receiver(
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


def transfer_event(transfer: FindingTransfer, **more: Any) -> dict[str, Any]:
    change: dict[str, Any] = {
        "transfer_id": str(transfer.id),
        "from_tenant": transfer.from_tenant,
        "to_tenant": transfer.to_tenant,
    }
    change.update(more)
    return jsonable(change)  # type: ignore[no-any-return]


async def transfer_logged(session: AsyncSession, transfer: FindingTransfer, action: str) -> bool:
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
        return await load_transfer(control, transfer_id)


async def load_transfer(
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
