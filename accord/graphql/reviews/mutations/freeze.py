"""``freezeManagementReview``: fix a draft's content as the RFC 8785 document whose SHA-256
(``contentDigest``) the signatories sign; its decisions become tracked actions."""

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
from accord.platform.errors import AccordError


@strawberry.type
class FreezeManagementReviewPayload:
    review: ManagementReviewNode | None
    errors: list[ManagementReviewError]


async def freeze_management_review(
    info: strawberry.Info[Context, None], review_id: strawberry.ID, process: Process = None
) -> FreezeManagementReviewPayload:
    async def freeze(
        session: AsyncSession, review: ManagementReview, actor: str
    ) -> ManagementReview:
        return await review_service.freeze(session=session, actor=actor, review=review)

    try:
        node = await change_review(
            info.context, review_id=review_id, attempt="freeze", process=process, change=freeze
        )
    except AccordError as exc:
        return FreezeManagementReviewPayload(review=None, errors=[ManagementReviewError.of(exc)])
    return FreezeManagementReviewPayload(review=node, errors=[])
