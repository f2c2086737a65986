"""Finding transfers: propose, accept, decline or withdraw, and the caller's transfers.

The caller acts for its own organisation, which must be a party to the transfer, and its
role must allow closing findings there (``close`` on ``finding`` in its own domain): giving
a finding away or taking one over is that decision. Expected failures are payload errors
with codes; a refusal by the action gate is logged with the finding's owner, as the
service logs its own refusals. See ``accord.compliance.workflow.transfers``.

What the caller may not see does not exist for it: a finding of another organisation that
does not share its findings with the caller's (at ``full`` or ``summary``), or whose
findings the caller's role may not read, is answered ``FINDING_NOT_FOUND`` exactly as an
id that names nothing; a transfer the caller's organisation is not a party to is
``TRANSFER_NOT_FOUND``. Such attempts are not written to anyone's event log (the log
would tell the owner's auditors nothing about its records, and a stranger could fill it).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum

import strawberry

from accord.compliance.workflow.transfers import flows as transfer_flows
from accord.compliance.workflow.transfers import schemas as transfer_schemas
from accord.compliance.workflow.transfers import service as transfer_service
from accord.compliance.workflow.transfers.models import FindingTransfer, TransferState
from accord.graphql.audits.access import may_read, sovereign
from accord.graphql.auth import require_principal, require_tenant
from accord.graphql.context import Context
from accord.graphql.errors import FindingError
from accord.graphql.findings.access import clear
from accord.graphql.relay import GlobalId
from accord.platform.errors import AccordError, BadInput, Forbidden, NotFound
from accord.policies.schemas import Resource
from accord.policies.vocab import user_subject

#: The action gate's action for every transfer mutation (on findings, in the caller's tenant).
TRANSFER_ACTION = "close"


@strawberry.enum(name="FindingTransferState")
class FindingTransferStateEnum(Enum):
    PROPOSED = TransferState.PROPOSED.value
    ACCEPTED = TransferState.ACCEPTED.value
    COMPLETED = TransferState.COMPLETED.value
    DECLINED = TransferState.DECLINED.value
    CANCELLED = TransferState.CANCELLED.value
    ABORTED = TransferState.ABORTED.value


@strawberry.type(
    name="FindingTransfer",
    description="A two-party agreed move of a finding from its owner to another organisation.",
)
class FindingTransferType:
    id: strawberry.ID = strawberry.field(
        description="Opaque global id (FindingTransfer, named by the sending organisation)."
    )
    finding_id: strawberry.ID = strawberry.field(
        description="The finding's global id under its current owner."
    )
    finding_reference: str
    from_tenant: str = strawberry.field(description="The owner the finding moves from.")
    to_tenant: str = strawberry.field(description="The organisation it moves to.")
    reason: str
    state: FindingTransferStateEnum
    proposed_by_tenant: str
    proposed_by: str
    proposed_at: datetime
    sender_agreed_by: str | None
    sender_agreed_at: datetime | None
    receiver_agreed_by: str | None
    receiver_agreed_at: datetime | None
    ended_by: str | None
    ended_at: datetime | None
    end_reason: str | None
    content_digest: str | None = strawberry.field(
        description="SHA-256 of the moved content; both event logs record the same value."
    )
    completed_at: datetime | None

    @classmethod
    def from_model(cls, transfer: FindingTransfer) -> FindingTransferType:
        owner = transfer_service.current_owner(transfer)
        return cls(
            id=GlobalId("FindingTransfer", transfer.from_tenant, transfer.id).encode(),
            finding_id=GlobalId("Finding", owner, transfer.finding_id).encode(),
            finding_reference=transfer.finding_reference,
            from_tenant=transfer.from_tenant,
            to_tenant=transfer.to_tenant,
            reason=transfer.reason,
            state=FindingTransferStateEnum(transfer.state),
            proposed_by_tenant=transfer.proposed_by_tenant,
            proposed_by=transfer.proposed_by,
            proposed_at=transfer.proposed_at,
            sender_agreed_by=transfer.sender_agreed_by,
            sender_agreed_at=transfer.sender_agreed_at,
            receiver_agreed_by=transfer.receiver_agreed_by,
            receiver_agreed_at=transfer.receiver_agreed_at,
            ended_by=transfer.ended_by,
            ended_at=transfer.ended_at,
            end_reason=transfer.end_reason,
            content_digest=transfer.content_digest,
            completed_at=transfer.completed_at,
        )


@strawberry.type
class FindingTransferPayload:
    transfer: FindingTransferType | None
    errors: list[FindingError]


def _refused(exc: AccordError) -> FindingTransferPayload:
    return FindingTransferPayload(transfer=None, errors=[FindingError.of(exc)])


def _transfer_id(value: str) -> uuid.UUID:
    """The transfer a ``FindingTransfer.id`` names; the raw UUIDs 0.1.0 returned are still
    taken (deprecated)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        pass
    return GlobalId.decode(value, expected="FindingTransfer").record_id


async def _clear(
    context: Context, process: str | None, *, on_denied: transfer_schemas.RefusalLogger
) -> tuple[str, str]:
    """The caller's tenant and actor, if its role may close findings there."""
    principal, own = require_tenant(context)
    try:
        clearance = await clear(context, owner=own, action=TRANSFER_ACTION, process=process)
    except Forbidden as exc:
        await on_denied(own, user_subject(own, principal.subject), exc)
        raise
    return own, clearance.actor


def _finding_not_found() -> NotFound:
    return NotFound("No such finding.", reason="FINDING_NOT_FOUND", field="finding_id")


def _transfer_not_found() -> NotFound:
    return NotFound("No such transfer.", reason="TRANSFER_NOT_FOUND", field="transfer_id")


async def _sees_findings(context: Context, *, owner: str, process: str | None) -> bool:
    """Whether the caller could read ``owner``'s findings: both gates for ``read``."""
    try:
        caller = await sovereign(
            context, owner=owner, record_type="finding", unshared=_finding_not_found
        )
    except NotFound:
        return False
    return may_read(context, caller, Resource(owner, "finding", process))


async def _party_transfer(context: Context, transfer_id: uuid.UUID) -> FindingTransfer:
    """The transfer, if the caller's organisation is a party to it and the caller may read
    its findings (as ``findingTransfers`` lists them); else it does not exist for it."""
    principal, own = require_tenant(context)
    if not context.authorizer.authorize(principal, "read", Resource(own, "finding")).allowed:
        raise _transfer_not_found()
    try:
        transfer = await transfer_service.get_transfer(context.runtime, transfer_id)
    except NotFound:
        raise _transfer_not_found() from None
    if own not in (transfer.from_tenant, transfer.to_tenant):
        raise _transfer_not_found()
    return transfer


def _on_transfer(
    context: Context, transfer_id: uuid.UUID, attempt: str
) -> transfer_schemas.RefusalLogger:
    async def logger(tenant: str, actor: str, error: AccordError) -> None:
        try:
            transfer = await _party_transfer(context, transfer_id)
        except AccordError:
            return  # no such transfer, or none of the caller's: no owner to tell
        await transfer_flows.log_transfer_refusal(
            context.runtime, transfer, attempt=attempt, tenant=tenant, actor=actor, error=error
        )

    return logger


async def propose_finding_transfer(
    info: strawberry.Info[Context, None],
    finding_id: strawberry.ID,
    to: str,
    reason: str,
    process: str | None = None,
) -> FindingTransferPayload:
    context = info.context
    require_principal(context)
    try:
        try:
            gid = GlobalId.decode(finding_id, expected="Finding")
        except BadInput as exc:
            exc.field = "finding_id"
            raise

        visible = await _sees_findings(context, owner=gid.tenant, process=process)

        async def denied(tenant: str, actor: str, error: AccordError) -> None:
            if not visible:
                return
            attempt = {"attempt": "propose", "by_tenant": tenant, "from": gid.tenant, "to": to}
            await transfer_service.log_refusal(
                context.runtime,
                owner=gid.tenant,
                finding_id=gid.record_id,
                actor=actor,
                attempt=attempt,
                error=error,
            )

        own, actor = await _clear(context, process, on_denied=denied)
        if not visible:
            raise _finding_not_found()
        transfer = await transfer_flows.propose_transfer(
            context.runtime,
            finding_id=gid.record_id,
            from_tenant=gid.tenant,
            to_tenant=to,
            reason=reason,
            tenant=own,
            actor=actor,
        )
    except AccordError as exc:
        return _refused(exc)
    return FindingTransferPayload(transfer=FindingTransferType.from_model(transfer), errors=[])


async def accept_finding_transfer(
    info: strawberry.Info[Context, None], id: strawberry.ID, process: str | None = None
) -> FindingTransferPayload:
    context = info.context
    require_principal(context)
    try:
        transfer_id = _transfer_id(id)
        own, actor = await _clear(
            context, process, on_denied=_on_transfer(context, transfer_id, "accept")
        )
        await _party_transfer(context, transfer_id)
        transfer = await transfer_flows.accept_transfer(
            context.runtime, transfer_id=transfer_id, tenant=own, actor=actor
        )
    except AccordError as exc:
        return _refused(exc)
    return FindingTransferPayload(transfer=FindingTransferType.from_model(transfer), errors=[])


async def decline_finding_transfer(
    info: strawberry.Info[Context, None],
    id: strawberry.ID,
    reason: str | None = None,
    process: str | None = None,
) -> FindingTransferPayload:
    """The party asked to accept declines; the proposing side withdraws its own proposal."""
    context = info.context
    require_principal(context)
    try:
        transfer_id = _transfer_id(id)
        own, actor = await _clear(
            context, process, on_denied=_on_transfer(context, transfer_id, "decline")
        )
        current = await _party_transfer(context, transfer_id)
        end = (
            transfer_flows.cancel_transfer
            if current.proposed_by_tenant == own
            else transfer_flows.decline_transfer
        )
        transfer = await end(
            context.runtime, transfer_id=transfer_id, tenant=own, actor=actor, reason=reason
        )
    except AccordError as exc:
        return _refused(exc)
    return FindingTransferPayload(transfer=FindingTransferType.from_model(transfer), errors=[])


@strawberry.type
class TransferQueries:
    @strawberry.field(
        description="Your organisation's finding transfers, incoming and outgoing, newest first."
    )
    async def finding_transfers(
        self, info: strawberry.Info[Context, None], state: FindingTransferStateEnum | None = None
    ) -> list[FindingTransferType]:
        context = info.context
        principal, own = require_tenant(context)
        if not context.authorizer.authorize(principal, "read", Resource(own, "finding")).allowed:
            raise Forbidden("You may not read findings.", reason="NO_READ")
        transfers = await transfer_service.list_transfers(context.runtime, tenant=own)
        return [
            FindingTransferType.from_model(t)
            for t in transfers
            if state is None or t.state == state.value
        ]
