"""``compileReviewInputs``: the ISO 9.3.2 inputs of a draft, compiled from the owner's
records for the review's period (KPIs, audits, findings and CAPA, risks, earlier actions)
and from each participating partner (the required signatories' organisations) what the
compiler may see of it under the partner's agreements: shared counts, never records."""

from __future__ import annotations

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.reviews import flows as review_flows
from accord.compliance.reviews.models import ManagementReview
from accord.compliance.sharing.partners import partner_inputs
from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.graphql.errors import ManagementReviewError
from accord.graphql.listing import Process
from accord.graphql.records.reviews import ManagementReviewNode
from accord.graphql.reviews.access import change_review
from accord.platform import clock
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
    partners_process: Annotated[
        str | None,
        strawberry.argument(
            description="The shared process partners' counts are read in (their findings "
            "and CAPA, e.g. the supplier quality process); default: `process`."
        ),
    ] = None,
) -> CompileReviewInputsPayload:
    context = info.context

    async def compile_(
        session: AsyncSession, review: ManagementReview, actor: str
    ) -> ManagementReview:
        principal, own = require_tenant(context)
        others = {s["tenant"] for s in review.required_signatories or []} - {own}
        partners = await partner_inputs(
            context.runtime,
            authorizer=context.authorizer,
            principal=principal,
            partners=sorted(others),
            today=clock.today(),
            process=partners_process or process,
            request_id=context.request_id,
        )
        return await review_flows.compile_inputs(
            session=session,
            actor=actor,
            review=review,
            external_internal_issues=external_internal_issues,
            partners=partners,
        )

    try:
        node = await change_review(
            info.context, review_id=review_id, attempt="compile", process=process, change=compile_
        )
    except AccordError as exc:
        return CompileReviewInputsPayload(review=None, errors=[ManagementReviewError.of(exc)])
    return CompileReviewInputsPayload(review=node, errors=[])
