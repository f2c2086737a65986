"""``compileReviewInputs``: the ISO 9.3.2 inputs of a draft, compiled from the owner's
records for the review's period (KPIs, audits, findings and CAPA, risks, earlier actions)."""

from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.reviews import flows as review_flows
from accord.compliance.reviews.models import ManagementReview
from accord.graphql.context import Context
from accord.graphql.findings.queries import Process
from accord.graphql.records.reviews import ManagementReviewNode
from accord.graphql.reviews.access import change_review
from accord.graphql.reviews.errors import ManagementReviewError, review_error
from accord.platform.errors import AccordError


@strawberry.type
class CompileReviewInputsPayload:
    review: ManagementReviewNode | None
    errors: list[ManagementReviewError]


async def compile_review_inputs(
    info: strawberry.Info[Context, None],
    review_id: strawberry.ID,
    external_internal_issues: str = "",
    process: Process = None,
) -> CompileReviewInputsPayload:
    async def compile_(
        session: AsyncSession, review: ManagementReview, actor: str
    ) -> ManagementReview:
        return await review_flows.compile_inputs(
            session=session,
            actor=actor,
            review=review,
            external_internal_issues=external_internal_issues,
        )

    try:
        node = await change_review(
            info.context, review_id=review_id, attempt="compile", process=process, change=compile_
        )
    except AccordError as exc:
        return CompileReviewInputsPayload(review=None, errors=[review_error(exc)])
    return CompileReviewInputsPayload(review=node, errors=[])
