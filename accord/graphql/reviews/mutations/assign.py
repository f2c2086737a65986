"""``assignReviewSignatories``: a draft's required signatories, resolved from the RACI of
the review process (each participating partner's Accountable sign-off party)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.reviews.models import ManagementReview
from accord.compliance.reviews.signatures import flows as signature_flows
from accord.graphql.context import Context
from accord.graphql.errors import ManagementReviewError
from accord.graphql.records.reviews import ManagementReviewNode
from accord.graphql.reviews.access import change_review
from accord.platform.errors import AccordError


@strawberry.type
class AssignReviewSignatoriesPayload:
    review: ManagementReviewNode | None
    errors: list[ManagementReviewError]


async def assign_review_signatories(
    info: strawberry.Info[Context, None],
    review_id: strawberry.ID,
    process: Annotated[
        str,
        strawberry.argument(
            description="The review process whose RACI names who signs off (also the process "
            "in which you compile)."
        ),
    ],
) -> AssignReviewSignatoriesPayload:
    runtime = info.context.runtime

    async def assign(
        session: AsyncSession, review: ManagementReview, actor: str
    ) -> ManagementReview:
        async with runtime.control_session() as control:
            return await signature_flows.assign_signatories(
                session=session, control=control, actor=actor, review=review, process=process
            )

    try:
        node = await change_review(
            info.context,
            review_id=review_id,
            attempt="assign_signatories",
            process=process,
            change=assign,
        )
    except AccordError as exc:
        return AssignReviewSignatoriesPayload(review=None, errors=[ManagementReviewError.of(exc)])
    return AssignReviewSignatoriesPayload(review=node, errors=[])
