"""The signatures a management review holds: who must sign, who has, and what a new
revision does to them (marks them superseded, never counted again).

The review service (approving, revising) and the signing flow both build on this module;
how a signature is verified and recorded is ``signing``'s part.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.records.day import now
from accord.compliance.records.history import log_change
from accord.compliance.reviews.jws import SignatureRefused, Signer
from accord.compliance.reviews.models import ManagementReview
from accord.compliance.reviews.signature_models import ReviewSignature
from accord.platform.errors import ErrorCode


def required_signers(review: ManagementReview) -> dict[Signer, str]:
    """Required signatory -> role, as the (frozen) content lists them."""
    return {Signer(s["tenant"], s["subject"]): s["role"] for s in review.required_signatories}


async def list_signatures(
    *, session: AsyncSession, review: ManagementReview
) -> list[ReviewSignature]:
    """Every signature recorded on this revision (superseded ones included), oldest first."""
    stmt = (
        select(ReviewSignature)
        .where(ReviewSignature.review_id == review.id)
        .order_by(ReviewSignature.recorded_at, ReviewSignature.signer_tenant)
    )
    return list(await session.scalars(stmt))


def missing_signatories(
    review: ManagementReview, signatures: Sequence[ReviewSignature]
) -> list[Signer]:
    """Required signatories without a current (not superseded) signature on ``review``."""
    signed = {
        Signer(s.signer_tenant, s.signer_subject)
        for s in signatures
        if s.review_id == review.id and s.superseded_at is None
    }
    return [s for s in required_signers(review) if s not in signed]


async def locked_review(session: AsyncSession, review_id: uuid.UUID) -> ManagementReview:
    """The review, its row locked: signers of one review (and its revising) go one by one,
    so the last signature always sees all the others and approves."""
    review = await session.scalar(
        select(ManagementReview)
        .where(ManagementReview.id == review_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if review is None:
        raise SignatureRefused(
            f"No management review {review_id}.",
            reason="UNKNOWN_REVIEW",
            code=ErrorCode.NOT_FOUND,
            field="review_id",
        )
    return review


async def supersede_signatures(
    *,
    session: AsyncSession,
    actor: str,
    review: ManagementReview,
    successor: ManagementReview,
) -> list[uuid.UUID]:
    """Mark ``review``'s signatures superseded by its new revision (kept, never counted
    again); called by ``service.new_revision``."""
    await locked_review(session, review.id)
    marked = list(
        await session.scalars(
            update(ReviewSignature)
            .where(ReviewSignature.review_id == review.id, ReviewSignature.superseded_at.is_(None))
            .values(superseded_at=now(), superseded_by=successor.id)
            .returning(ReviewSignature.id)
            .execution_options(synchronize_session=False)
        )
    )
    if marked:
        await log_change(
            session,
            actor=actor,
            action="review.signatures_superseded",
            record=review,
            change={
                "superseded_by": successor.id,
                "revision": successor.revision,
                "signatures": sorted(str(m) for m in marked),
            },
        )
    return marked
