"""The control-plane row of a finding's transfer and its states."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, ForeignKey, Integer, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from accord.platform.db import ControlBase


class TransferState(StrEnum):
    PROPOSED = "proposed"  # one side agreed (the proposer's)
    ACCEPTED = "accepted"  # both sides agreed; the move is under way (see the progress stamps)
    COMPLETED = "completed"  # the finding lives in the receiver's store only
    DECLINED = "declined"  # the other party said no
    CANCELLED = "cancelled"  # the proposer withdrew
    ABORTED = "aborted"  # the finding no longer qualified when the move ran; nothing moved

    @property
    def is_live(self) -> bool:
        return self in (TransferState.PROPOSED, TransferState.ACCEPTED)


LIVE_STATES = (TransferState.PROPOSED.value, TransferState.ACCEPTED.value)


class FindingTransfer(ControlBase):
    __tablename__ = "finding_transfers"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    finding_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    finding_reference: Mapped[str] = mapped_column(Text)
    #: the current owner (sender) and the receiver
    from_tenant: Mapped[str] = mapped_column(Text, ForeignKey("accord.tenants.slug"))
    to_tenant: Mapped[str] = mapped_column(Text, ForeignKey("accord.tenants.slug"))
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text)
    #: which party proposed (``from_tenant`` or ``to_tenant``), and who
    proposed_by_tenant: Mapped[str] = mapped_column(Text)
    proposed_by: Mapped[str] = mapped_column(Text)
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: each side's agreement (the proposer's side is stamped at proposal)
    sender_agreed_by: Mapped[str | None] = mapped_column(Text)
    sender_agreed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    receiver_agreed_by: Mapped[str | None] = mapped_column(Text)
    receiver_agreed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_by: Mapped[str | None] = mapped_column(Text)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(Text)
    #: the SHA-256 of the moved content (finding row and its evidence rows), set at copy
    content_digest: Mapped[str | None] = mapped_column(Text)
    evidence_count: Mapped[int | None] = mapped_column(Integer)
    #: the sender's audit the finding was raised in: it stays with the sender, so the moved
    #: row has no ``audit_id`` and this cross-tenant reference keeps it
    source_audit_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    copied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source_removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: the last failure of a move attempt (cleared when the move completes)
    last_error: Mapped[str | None] = mapped_column(Text)
