"""What signing names and returns: the action, the record type, a signing's outcome."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from accord.compliance.reviews.models import ReviewStatus

SIGN_ACTION = "sign"
REVIEW_RECORD_TYPE = "management_review"


@dataclass(frozen=True, slots=True)
class SignOutcome:
    signature_id: uuid.UUID
    review_id: uuid.UUID
    revision: int
    content_digest: str
    kid: str
    alg: str
    status: ReviewStatus
    missing: list[str]
