"""``editManagementReview``: change a draft's content (a frozen one needs a revision)."""

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
class EditManagementReviewPayload:
    review: ManagementReviewNode | None
    errors: list[ManagementReviewError]


async def edit_management_review(
    info: strawberry.Info[Context, None],
    review_id: strawberry.ID,
    input: ChangesInput,
    process: Process = None,
) -> EditManagementReviewPayload:
    async def edit(session: AsyncSession, review: ManagementReview, actor: str) -> ManagementReview:
        await require_registered_signatories(info.context, input.required_signatories)
        return await review_service.edit_review(
            session=session, actor=actor, review=review, changes=input.as_changes()
        )

    try:
        node = await change_review(
            info.context, review_id=review_id, attempt="edit", process=process, change=edit
        )
    except AccordError as exc:
        return EditManagementReviewPayload(review=None, errors=[ManagementReviewError.of(exc)])
    return EditManagementReviewPayload(review=node, errors=[])
