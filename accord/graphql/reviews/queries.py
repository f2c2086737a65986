"""``signedReviewBundle``: a frozen review's signed-review bundle as JSON — the canonical
content, its digest, every signature with its signer's public key — which
``accord review verify FILE`` checks offline. It is also what a signatory reads before
signing: recompute the digest from ``document``, compare it with ``content_digest``, sign.
Gates: see ``accord.graphql.reviews.access``; a caller who may not read the review gets
NOT_FOUND, and a partner's read is in the owner's access log.
"""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from accord.compliance.reviews import service as review_service
from accord.compliance.reviews.signatures import flows as signature_flows
from accord.graphql.context import Context
from accord.graphql.listing import Process
from accord.graphql.reviews.access import (
    may_read,
    record_read,
    review_gid,
    review_not_found,
    standing_for,
)
from accord.tenants.sessions import tenant_session


@strawberry.type
class ReviewBundleQueries:
    @strawberry.field(
        description="The signed-review bundle of a frozen management review (JSON), for "
        "`accord review verify` and for signatories to read what they sign."
    )
    async def signed_review_bundle(
        self,
        info: strawberry.Info[Context, None],
        review_id: strawberry.ID,
        process: Process = None,
    ) -> JSON:
        context = info.context
        gid = review_gid(review_id)
        standing = await standing_for(context, owner=gid.tenant)
        async with (
            tenant_session(context.runtime, gid.tenant) as session,
            context.runtime.control_session() as control,
        ):
            review = await review_service.get_review(session=session, review_id=gid.record_id)
            if not may_read(context, standing, review, process):
                raise review_not_found()
            bundle = await signature_flows.export_bundle(
                session=session, control=control, tenant=gid.tenant, review_id=review.id
            )
            record_read(context, session, standing)
        return JSON(bundle)
