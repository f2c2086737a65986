"""The webhook contract: headers, limits, delivery policy and outcomes, a partner's terms."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import httpx

from accord.compliance.incidents.schemas import NotificationPolicy
from accord.compliance.incidents.webhooks.models import Channel
from accord.platform.eventlog import EventLogEntry

SYSTEM_ACTOR = "system:incident-notifications"
SIGNATURE_HEADER = "X-Accord-Signature"
TIMESTAMP_HEADER = "X-Accord-Timestamp"
DELIVERY_HEADER = "X-Accord-Delivery"
EVENT_TYPE = "incident.notification"
RECEIVED_ACTION = "incident.notification_received"
RECEIVED_RECORD_TYPE = "incident_notification"
SECRET_MIN_LENGTH = 24
SECRET_MAX_LENGTH = 256
URL_MAX_LENGTH = 2048


# --------------------------------------------------------------------------- endpoints


@dataclass(frozen=True, slots=True)
class ResolvedEndpoint:
    """An endpoint with its secret in clear (never persisted, never logged)."""

    id: uuid.UUID
    tenant: str
    url: str
    secret: str = ""

    def __repr__(self) -> str:
        return f"ResolvedEndpoint(id={self.id}, tenant={self.tenant!r}, url={self.target!r})"

    @property
    def target(self) -> str:
        return target_of(self.url)


def target_of(url: str) -> str:
    """Scheme, host, port and path: what the owner may record of a partner's URL."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(query=None, fragment=None, username=None, password=None))


# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True, slots=True)
class PartnerTerms:
    """A partner's notification policy, from one agreement with the owner."""

    partner: str
    agreement_id: uuid.UUID
    policy: NotificationPolicy


# --------------------------------------------------------------------------- delivery


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    attempts: int = 5
    timeout_seconds: float = 10.0
    base_seconds: float = 1.0
    max_seconds: float = 60.0
    #: after a failed delivery, the next run waits this long before trying that partner again
    cooldown: timedelta = timedelta(minutes=5)
    #: notifications delivered at once by ``deliver_pending``
    concurrency: int = 4

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_seconds)
        # Full jitter: receivers that failed together are not retried together.
        return random.uniform(0, min(self.max_seconds, self.base_seconds * 2 ** (attempt - 1)))


class OutcomeStatus(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    #: no way to reach the partner (not an Accord tenant, no webhook)
    SKIPPED = "skipped"
    #: a recent delivery failed; the cool-down has not passed
    DEFERRED = "deferred"
    #: delivered already, or being delivered by another process
    CLAIMED = "claimed"


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    owner: str
    status: OutcomeStatus
    #: None when the owner's notifications could not even be listed
    notification_id: uuid.UUID | None = None
    partner: str | None = None
    incident_reference: str | None = None
    channel: Channel | None = None
    #: why it failed or was skipped, e.g. WEBHOOK_TIMEOUT, NO_CHANNEL
    code: str | None = None
    message: str | None = None
    delivery_id: uuid.UUID | None = None
    attempts: int = 0
    notified_at: datetime | None = None
    #: delivered after the deadline, or (not delivered) the deadline has passed
    late: bool | None = None


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """One notification as it reached the partner's event log."""

    seq: int
    at: datetime
    notification_id: uuid.UUID
    owner: str
    incident_reference: str
    severity: int
    occurred_at: datetime
    reported_at: datetime
    due_by: datetime
    received_at: datetime
    late: bool
    channel: Channel

    @classmethod
    def from_entry(cls, entry: EventLogEntry) -> ReceivedEvent:
        c = entry.change
        return cls(
            seq=entry.seq,
            at=entry.at,
            notification_id=uuid.UUID(str(c["notification_id"])),
            owner=str(c["owner"]),
            incident_reference=str(c["incident_reference"]),
            severity=int(c["severity"]),
            occurred_at=datetime.fromisoformat(str(c["occurred_at"])),
            reported_at=datetime.fromisoformat(str(c["reported_at"])),
            due_by=datetime.fromisoformat(str(c["required_by"])),
            received_at=datetime.fromisoformat(str(c["received_at"])),
            late=bool(c["late"]),
            channel=Channel(str(c["channel"])),
        )
