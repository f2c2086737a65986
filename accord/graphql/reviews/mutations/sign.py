"""``signManagementReview``: the signed-in executive's detached JWS over a frozen review.

The signer is the authenticated caller — ``Signer(tenant, subject)`` from the token, never
an identity the client names — and the JWS must be by one of that member's registered
keys (Ed25519 or ES256), bind this review, revision and digest, and name that same
signer. A refused signature is a payload error with the signing service's code and reason
(FOREIGN_KEY, SIGNATURE_INVALID, STALE_DIGEST, REVIEW_MISMATCH, DIGEST_MISMATCH, …); it
changes nothing, and ``sign_review`` has logged the attempt in the owner's event log.
The last missing signature approves the review. Gates: see ``accord.graphql.reviews.access``.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from accord.compliance.reviews import service as review_service
from accord.compliance.reviews.signatures import flows as signature_flows
from accord.compliance.reviews.signatures import schemas as signature_schemas
from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.graphql.errors import ManagementReviewError
from accord.graphql.listing import Process
from accord.graphql.records.reviews import ManagementReviewNode
from accord.graphql.reviews.access import (
    Standing,
    log_refusal,
    require_signing,
    review_gid,
    sees_reviews,
    shown,
    standing_for,
)
from accord.platform.errors import AccordError, Forbidden
from accord.tenants.identity.principal import PrincipalKind
from accord.tenants.sessions import tenant_session


@strawberry.type(name="ManagementReviewSignature", description="A signature as recorded.")
class SignatureType:
    id: uuid.UUID
    signer: str = strawberry.field(description="TENANT/SUBJECT of the signing member.")
    revision: int
    content_digest: str = strawberry.field(description="The SHA-256 the signature covers.")
    kid: str = strawberry.field(description="The signer's registered key that verified it.")
    alg: str
    missing: list[str] = strawberry.field(
        description="Required signatories (TENANT/SUBJECT) who still have to sign."
    )

    @classmethod
    def from_outcome(cls, signer: str, outcome: signature_schemas.SignOutcome) -> SignatureType:
        return cls(
            id=outcome.signature_id,
            signer=signer,
            revision=outcome.revision,
            content_digest=outcome.content_digest,
            kid=outcome.kid,
            alg=outcome.alg,
            missing=list(outcome.missing),
        )


@strawberry.type
class SignManagementReviewPayload:
    signature: SignatureType | None
    review: ManagementReviewNode | None = strawberry.field(
        description="The review after signing: APPROVED once every signatory has signed."
    )
    errors: list[ManagementReviewError]


async def sign_management_review(
    info: strawberry.Info[Context, None],
    review_id: strawberry.ID,
    jws: Annotated[
        str,
        strawberry.argument(
            description="Your detached JWS (header..signature) over the review's contentDigest."
        ),
    ],
    process: Process = None,
) -> SignManagementReviewPayload:
    context = info.context
    standing: Standing | None = None
    try:
        principal, _ = require_tenant(context)
        if principal.kind is not PrincipalKind.USER:
            raise Forbidden(
                "A management review is signed by a person, signed in as themselves.",
                reason="SIGNER_NOT_A_PERSON",
            )
        gid = review_gid(review_id)
        standing = await standing_for(context, owner=gid.tenant)
        require_signing(context, standing, process)
        outcome = await signature_flows.sign_review(
            context.runtime,
            tenant=gid.tenant,
            review_id=gid.record_id,
            signer=standing.signer,
            jws=jws,
        )
    except AccordError as exc:
        if standing is not None and sees_reviews(context, standing, process):
            await log_refusal(context, standing, review_id=gid.record_id, attempt="sign", error=exc)
        return SignManagementReviewPayload(
            signature=None, review=None, errors=[ManagementReviewError.of(exc)]
        )
    signed = SignatureType.from_outcome(str(standing.signer), outcome)
    try:
        async with tenant_session(context.runtime, gid.tenant) as session:
            review = await review_service.get_review(session=session, review_id=gid.record_id)
            node = await shown(context, session, standing, review, process)
    except AccordError as exc:  # signed and recorded; only showing the review failed
        return SignManagementReviewPayload(
            signature=signed, review=None, errors=[ManagementReviewError.of(exc)]
        )
    return SignManagementReviewPayload(signature=signed, review=node, errors=[])
