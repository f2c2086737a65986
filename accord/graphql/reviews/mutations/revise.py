"""``reviseManagementReview``: a new draft revision of a frozen or approved review, with
optional changes. The revised revision's signatures are kept, marked superseded, and no
longer count; every signatory signs the new content anew."""

from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.reviews import service as review_service
from accord.compliance.reviews.models import ManagementReview
from accord.graphql.context import Context
from accord.graphql.errors import ManagementReviewError
from accord.graphql.listing import Process
from accord.graphql.records.reviews import ManagementReviewNode
from accord.graphql.reviews.access import change_review
from accord.graphql.reviews.inputs import ChangesInput, require_registered_signatories
from accord.platform.errors import AccordError


@strawberry.type
class ReviseManagementReviewPayload:
    review: ManagementReviewNode | None = strawberry.field(description="The new revision.")
    errors: list[ManagementReviewError]


async def revise_management_review(
    info: strawberry.Info[Context, None],
    review_id: strawberry.ID,
    input: ChangesInput | None = None,
    process: Process = None,
) -> ReviseManagementReviewPayload:
    changes = input.as_changes() if input is not None else {}

    async def revise(
        session: AsyncSession, review: ManagementReview, actor: str
    ) -> ManagementReview:
        if input is not None:
            await require_registered_signatories(info.context, input.required_signatories)
        revised = await review_service.new_revision(session=session, actor=actor, review=review)
        if changes:
            revised = await review_service.edit_review(
                session=session, actor=actor, review=revised, changes=changes
            )
        return revised

    try:
        node = await change_review(
            info.context, review_id=review_id, attempt="revise", process=process, change=revise
        )
    except AccordError as exc:
        return ReviseManagementReviewPayload(review=None, errors=[ManagementReviewError.of(exc)])
    return ReviseManagementReviewPayload(review=node, errors=[])
