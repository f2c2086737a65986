"""Management reviews (ISO 9.3): draft → frozen → approved, and new revisions.

A draft is edited and its inputs compiled from the tenant's records (ISO 9.3.2). Freezing
fixes the content as a canonical document whose SHA-256 is stored as ``content_digest``;
from then on the content is locked (``Conflict(REVIEW_FROZEN)``, and a database trigger
behind it), and a change needs ``new_revision``. The caller owns the transaction;
refusals write nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.kpis import service as kpi_service
from accord.compliance.records.day import now
from accord.compliance.records.history import log_change
from accord.compliance.records.inputs import choice, parse_input
from accord.compliance.records.provenance import provenance_of, reject_duplicate
from accord.compliance.reviews.models import (
    ActionStatus,
    ManagementReview,
    ReviewAction,
    ReviewStatus,
)
from accord.compliance.reviews.schemas import (
    EDITABLE,
    ReviewContentIn,
    ReviewIn,
    content_of,
    document_digest,
)
from accord.compliance.reviews.signatures.service import (
    list_signatures,
    missing_signatories,
    supersede_signatures,
)
from accord.platform.errors import BadInput, Conflict, NotFound


def _stored(content: ReviewContentIn) -> dict[str, Any]:
    return content.model_dump(mode="python") | content.model_dump(
        mode="json", include={"decisions", "required_signatories"}
    )


def refuse_unless_draft(review: ManagementReview) -> None:
    if review.status is not ReviewStatus.DRAFT:
        raise Conflict(
            f"Revision {review.revision} of this review is {review.status}: its content is "
            "locked; make a new revision to change it.",
            reason="REVIEW_FROZEN",
            field="status",
        )


async def create_review(
    *, session: AsyncSession, actor: str, data: ReviewIn | Mapping[str, Any]
) -> ManagementReview:
    review_in = parse_input(ReviewIn, data)
    await kpi_service.require_standards(session=session, standards=review_in.standards)
    await reject_duplicate(session, ManagementReview, review_in)
    content = _stored(review_in)
    review = ManagementReview(
        **{k: v for k, v in content.items() if k in EDITABLE},
        inputs={},
        status=ReviewStatus.DRAFT,
        revision=1,
        **provenance_of(review_in),
        created_by=actor,
        updated_by=actor,
    )
    session.add(review)
    await session.flush()
    await log_change(
        session,
        actor=actor,
        action="review.created",
        record=review,
        change={k: v for k, v in content.items() if k in EDITABLE},
    )
    return review


async def get_review(*, session: AsyncSession, review_id: uuid.UUID) -> ManagementReview:
    review = await session.get(ManagementReview, review_id)
    if review is None:
        raise NotFound(f"No management review {review_id}.", reason="UNKNOWN_REVIEW")
    return review


async def list_reviews(*, session: AsyncSession) -> list[ManagementReview]:
    stmt = select(ManagementReview).order_by(
        ManagementReview.period_end.desc(), ManagementReview.revision.desc()
    )
    return list(await session.scalars(stmt))


async def history(*, session: AsyncSession, review: ManagementReview) -> list[ManagementReview]:
    """The revisions that ``review`` descends from, and it, oldest first."""
    chain = [review]
    while chain[-1].previous_id is not None:
        chain.append(await get_review(session=session, review_id=chain[-1].previous_id))
    return chain[::-1]


async def edit_review(
    *, session: AsyncSession, actor: str, review: ManagementReview, changes: Mapping[str, Any]
) -> ManagementReview:
    """Change a draft's title, period, standards, minutes, decisions or signatories.

    A changed period empties the compiled inputs: they described the old one."""
    refuse_unless_draft(review)
    if not changes:
        raise BadInput("Nothing to change.", reason="NO_CHANGES")
    content = _stored(parse_input(ReviewContentIn, {**content_of(review), **changes}))
    current = content_of(review)
    changed = {k: v for k, v in content.items() if v != current[k]}
    if "standards" in changed:
        await kpi_service.require_standards(session=session, standards=changed["standards"])
    period_moved = bool({"period_start", "period_end"} & set(changed))
    for field, value in changed.items():
        setattr(review, field, value)
    if period_moved:
        review.inputs = {}
    review.updated_by = actor
    await session.flush()
    await log_change(
        session,
        actor=actor,
        action="review.edited",
        record=review,
        change={"changed": changed, "inputs_cleared": period_moved},
    )
    return review


async def freeze(
    *, session: AsyncSession, actor: str, review: ManagementReview
) -> ManagementReview:
    """Fix the content: store the SHA-256 of its canonical document, lock it, and turn its
    decisions into tracked actions (those a previous revision already tracks are kept)."""
    refuse_unless_draft(review)
    for field, reason, present in (
        ("inputs", "INPUTS_NOT_COMPILED", review.inputs),
        ("minutes", "MINUTES_REQUIRED", review.minutes.strip()),
        ("required_signatories", "SIGNATORIES_REQUIRED", review.required_signatories),
    ):
        if not present:
            raise Conflict(
                f"A review is frozen with its {field.replace('_', ' ')}; it has none yet.",
                reason=reason,
                field=field,
            )
    # Digest what the database holds, so that anyone re-reading the row gets the same bytes.
    await session.flush()
    await session.refresh(review)
    review.content_digest = document_digest(review)
    review.status, review.frozen_at, review.frozen_by = ReviewStatus.FROZEN, now(), actor
    review.updated_by = actor
    await session.flush()
    await log_change(
        session,
        actor=actor,
        action="review.frozen",
        record=review,
        change={"content_digest": review.content_digest, "revision": review.revision},
    )
    await _track_decisions(session, actor, review)
    return review


async def _track_decisions(session: AsyncSession, actor: str, review: ManagementReview) -> None:
    earlier = [r.id for r in await history(session=session, review=review)][:-1]
    tracked = {
        (a.text, a.owner, a.due_at.isoformat())
        for a in await session.scalars(
            select(ReviewAction).where(ReviewAction.review_id.in_(earlier))
        )
    }
    for index, decision in enumerate(review.decisions):
        if (decision["text"], decision["owner"], decision["due_at"]) in tracked:
            continue
        action = ReviewAction(
            review_id=review.id,
            text=decision["text"],
            owner=decision["owner"],
            due_at=date.fromisoformat(decision["due_at"]),
            status=ActionStatus.OPEN,
            created_by=actor,
            updated_by=actor,
        )
        session.add(action)
        await session.flush()
        await log_change(
            session,
            actor=actor,
            action="review_action.opened",
            record=action,
            change={"review_id": review.id, "decision": index, **decision},
        )


async def approve(
    *, session: AsyncSession, actor: str, review: ManagementReview
) -> ManagementReview:
    """Mark a frozen review approved: only once every required signatory has signed it.

    Signing calls this in the transaction that records the last missing signature.
    """
    if review.status is not ReviewStatus.FROZEN:
        raise Conflict(
            f"Only a frozen review can be approved; this one is {review.status}.",
            reason="REVIEW_NOT_FROZEN",
            field="status",
        )
    missing = missing_signatories(review, await list_signatures(session=session, review=review))
    if missing:
        raise Conflict(
            "The review still needs the signatures of "
            + ", ".join(f"{m.tenant}/{m.subject}" for m in missing)
            + ".",
            reason="SIGNATURES_MISSING",
            field="status",
        )
    review.status, review.approved_at, review.approved_by = ReviewStatus.APPROVED, now(), actor
    review.updated_by = actor
    await session.flush()
    await log_change(
        session,
        actor=actor,
        action="review.approved",
        record=review,
        change={"content_digest": review.content_digest},
    )
    return review


async def new_revision(
    *, session: AsyncSession, actor: str, review: ManagementReview
) -> ManagementReview:
    """An editable copy of a frozen (or approved) review, revision + 1, linked to it."""
    if review.status is ReviewStatus.DRAFT:
        raise Conflict(
            "A draft is edited directly; only a frozen review gets a new revision.",
            reason="REVIEW_NOT_FROZEN",
            field="status",
        )
    successor = await session.scalar(
        select(ManagementReview.id).where(ManagementReview.previous_id == review.id)
    )
    if successor is not None:
        raise Conflict(
            f"Revision {review.revision} already has a successor ({successor}); "
            "revise the latest revision.",
            reason="REVISION_EXISTS",
            field="review_id",
        )
    revised = ManagementReview(
        **content_of(review),
        inputs=dict(review.inputs),
        status=ReviewStatus.DRAFT,
        revision=review.revision + 1,
        previous_id=review.id,
        created_by=actor,
        updated_by=actor,
    )
    session.add(revised)
    await session.flush()
    await log_change(
        session,
        actor=actor,
        action="review.revised",
        record=revised,
        change={
            "previous_id": review.id,
            "previous_digest": review.content_digest,
            "revision": revised.revision,
        },
    )
    # The revised content's signatures stop counting: kept, marked superseded.
    await supersede_signatures(session=session, actor=actor, review=review, successor=revised)
    return revised


async def list_review_actions(
    *,
    session: AsyncSession,
    review: ManagementReview | None = None,
    status: ActionStatus | None = None,
) -> list[ReviewAction]:
    stmt = select(ReviewAction).order_by(ReviewAction.due_at, ReviewAction.text)
    if review is not None:
        stmt = stmt.where(ReviewAction.review_id == review.id)
    if status is not None:
        stmt = stmt.where(ReviewAction.status == status)
    return list(await session.scalars(stmt))


async def set_action_status(
    *,
    session: AsyncSession,
    actor: str,
    action: ReviewAction,
    status: ActionStatus | str,
    note: str | None = None,
) -> ReviewAction:
    """Complete or cancel an open action; cancelling needs a note saying why."""
    target = choice(ActionStatus, status, field="status")
    note = (note or "").strip() or None
    if action.status is not ActionStatus.OPEN:
        raise Conflict(
            f"The action is {action.status} already.", reason="ACTION_CLOSED", field="status"
        )
    if target is ActionStatus.OPEN:
        raise BadInput("The action is open already.", reason="INVALID_CHOICE", field="status")
    if target is ActionStatus.CANCELLED and note is None:
        raise BadInput("Cancelling an action needs a note.", reason="NOTE_REQUIRED", field="note")
    action.status, action.note, action.updated_by = target, note, actor
    action.completed_at = now() if target is ActionStatus.DONE else None
    await session.flush()
    await log_change(
        session,
        actor=actor,
        action="review_action.updated",
        record=action,
        change={"status": target, "note": note},
    )
    return action
