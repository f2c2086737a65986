"""``createManagementReview``: a draft review, owned by the compiling party's organisation
(or a partner's, under its agreement), by its Responsible party (``respond``)."""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry

from accord.compliance.reviews import service as review_service
from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.graphql.errors import ManagementReviewError
from accord.graphql.records.reviews import ManagementReviewNode
from accord.graphql.reviews.access import require_compiling, shown, standing_for
from accord.graphql.reviews.inputs import (
    DecisionInput,
    SignatoryInput,
    require_registered_signatories,
)
from accord.platform.errors import AccordError, Forbidden
from accord.tenants.sessions import tenant_session


@strawberry.input
class CreateManagementReviewInput:
    tenant: str | None = strawberry.field(
        default=None, description="The organisation that owns the review; default: your own."
    )
    process: str | None = strawberry.field(
        default=None, description="The review process (RACI) in which you compile it."
    )
    title: str
    period_start: date
    period_end: date
    standards: list[str]
    minutes: str = ""
    decisions: list[DecisionInput] | None = None
    required_signatories: list[SignatoryInput] | None = strawberry.field(
        default=None,
        description="Usually set from the RACI with assignReviewSignatories instead.",
    )

    def as_data(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "period_start": self.period_start,
            "period_end": self.period_end,
            "standards": self.standards,
            "minutes": self.minutes,
            "decisions": [d.as_data() for d in self.decisions or []],
            "required_signatories": [s.as_data() for s in self.required_signatories or []],
        }


@strawberry.type
class CreateManagementReviewPayload:
    review: ManagementReviewNode | None
    errors: list[ManagementReviewError]


def _not_shared() -> Forbidden:
    return Forbidden(
        "That organisation does not share management reviews with yours.",
        reason="NOT_SHARED",
        field="tenant",
    )


async def create_management_review(
    info: strawberry.Info[Context, None], input: CreateManagementReviewInput
) -> CreateManagementReviewPayload:
    context = info.context
    try:
        _, own = require_tenant(context)
        owner = input.tenant or own
        standing = await standing_for(context, owner=owner, unshared=_not_shared)
        require_compiling(context, standing, input.process)
        await require_registered_signatories(context, input.required_signatories)
        async with tenant_session(context.runtime, owner) as session:
            review = await review_service.create_review(
                session=session, actor=standing.actor, data=input.as_data()
            )
            node = await shown(context, session, standing, review, input.process)
    except AccordError as exc:
        return CreateManagementReviewPayload(review=None, errors=[ManagementReviewError.of(exc)])
    return CreateManagementReviewPayload(review=node, errors=[])
