"""Signing a review: assigning signatories, submitting a signature, approval, export."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.records.day import now
from accord.compliance.records.history import log_change
from accord.compliance.records.refusals import record_refusal
from accord.compliance.reviews import service as review_service
from accord.compliance.reviews.models import ManagementReview, ReviewStatus
from accord.compliance.reviews.schemas import review_document
from accord.compliance.reviews.signatures.jws import (
    BUNDLE_FORMAT,
    BUNDLE_TYPE,
    Binding,
    SignatureRefused,
    Signer,
    parse_detached,
    thumbprint,
    verify_signature,
)
from accord.compliance.reviews.signatures.models import ReviewSignature
from accord.compliance.reviews.signatures.schemas import REVIEW_RECORD_TYPE, SignOutcome
from accord.compliance.reviews.signatures.service import (
    check_signable,
    list_signatures,
    locked_review,
    missing_signatories,
    refuse_signature,
    refused_signature_detail,
    required_signers,
    resolve_signatories,
    signer_actor,
    signing_key,
)
from accord.platform.errors import Conflict, ErrorCode
from accord.platform.runtime import Runtime
from accord.tenants.models import Member
from accord.tenants.sessions import tenant_session


async def assign_signatories(
    *,
    session: AsyncSession,
    control: AsyncSession,
    actor: str,
    review: ManagementReview,
    process: str,
) -> ManagementReview:
    """Set a draft's required signatories to those ``process``'s RACI names."""
    signatories = await resolve_signatories(control=control, process=process)
    return await review_service.edit_review(
        session=session,
        actor=actor,
        review=review,
        changes={"required_signatories": signatories},
    )


async def _check_binding(session: AsyncSession, review: ManagementReview, binding: Binding) -> None:
    earlier = (await review_service.history(session=session, review=review))[:-1]
    stale = [
        r for r in earlier if binding.review == str(r.id) or binding.digest == r.content_digest
    ]
    if stale:
        old = stale[-1]
        refuse_signature(
            ErrorCode.CONFLICT,
            "STALE_DIGEST",
            f"The signature is over revision {old.revision} (digest {old.content_digest}); "
            f"this review is at revision {review.revision} (digest {review.content_digest}). "
            "Sign the current content.",
            "digest",
        )
    if binding.review != str(review.id):
        refuse_signature(
            ErrorCode.CONFLICT,
            "REVIEW_MISMATCH",
            f"The signature was made for review {binding.review}, not {review.id}: a "
            "signature is never replayed on another review.",
            "review",
        )
    if binding.revision != review.revision:
        refuse_signature(
            ErrorCode.CONFLICT,
            "REVISION_MISMATCH",
            f"The signature names revision {binding.revision}; this is revision {review.revision}.",
            "revision",
        )
    if binding.digest != review.content_digest:
        refuse_signature(
            ErrorCode.CONFLICT,
            "DIGEST_MISMATCH",
            f"The signature is over digest {binding.digest}; the content's digest is "
            f"{review.content_digest}.",
            "digest",
        )


async def submit_signature(
    *,
    session: AsyncSession,
    control: AsyncSession,
    review_id: uuid.UUID,
    signer: Signer,
    jws: str,
) -> ReviewSignature:
    """Verify and record ``signer``'s detached JWS on a frozen review; approve the review
    when it was the last missing valid signature. ``signer`` is who submits (the
    authenticated member); the JWS must say the same, with one of their keys.

    ``SignatureRefused`` for every refusal, before anything is written.
    """
    review = await locked_review(session, review_id)
    parsed = parse_detached(jws)
    await check_signable(session, review)
    binding = parsed.binding
    await _check_binding(session, review, binding)
    if binding.signer != signer:
        refuse_signature(
            ErrorCode.FORBIDDEN,
            "SIGNER_MISMATCH",
            f"The signature says it is by {binding.signer}; it was submitted by {signer}.",
            "signer",
        )
    required = required_signers(review)
    if signer not in required:
        refuse_signature(
            ErrorCode.FORBIDDEN,
            "NOT_A_SIGNATORY",
            f"{signer} is not a required signatory of this review (required: "
            f"{', '.join(map(str, required))}).",
            "signer",
        )
    key = await signing_key(control, signer, parsed)
    assert review.content_digest is not None  # check_signable
    verify_signature(parsed, jwk=key.jwk, digest=review.content_digest)
    signatures = await list_signatures(session=session, review=review)
    if signer not in missing_signatories(review, signatures):
        refuse_signature(
            ErrorCode.CONFLICT,
            "ALREADY_SIGNED",
            f"{signer} has signed revision {review.revision} already.",
            "signer",
        )
    actor = signer_actor(signer)
    signature = ReviewSignature(
        review_id=review.id,
        revision=review.revision,
        content_digest=review.content_digest,
        signer_tenant=signer.tenant,
        signer_subject=signer.subject,
        signer_role=required[signer],
        kid=parsed.kid,
        alg=parsed.alg,
        jwk=dict(key.jwk),
        jws=parsed.compact,
        signed_at=datetime.fromtimestamp(parsed.signed_at, UTC),
        recorded_by=actor,
    )
    session.add(signature)
    await session.flush()
    signatures.append(signature)
    missing = missing_signatories(review, signatures)
    await log_change(
        session,
        actor=actor,
        action="review.signed",
        record=review,
        change={
            "signature_id": signature.id,
            "signer": str(signer),
            "role": signature.signer_role,
            "kid": signature.kid,
            "alg": signature.alg,
            "revision": review.revision,
            "content_digest": review.content_digest,
            "missing": [str(s) for s in missing],
        },
    )
    if not missing:
        await review_service.approve(session=session, actor=actor, review=review)
    return signature


async def sign_review(
    runtime: Runtime, *, tenant: str, review_id: uuid.UUID, signer: Signer, jws: str
) -> SignOutcome:
    """Submit a signature on ``tenant``'s review in one transaction; on a refusal, log the
    attempt in the tenant's event log (a transaction of its own) and re-raise."""
    try:
        async with (
            tenant_session(runtime, tenant) as session,
            runtime.control_session() as control,
        ):
            signature = await submit_signature(
                session=session, control=control, review_id=review_id, signer=signer, jws=jws
            )
            review = await review_service.get_review(session=session, review_id=review_id)
            missing = missing_signatories(
                review, await list_signatures(session=session, review=review)
            )
            return SignOutcome(
                signature_id=signature.id,
                review_id=review.id,
                revision=review.revision,
                content_digest=signature.content_digest,
                kid=signature.kid,
                alg=signature.alg,
                status=review.status,
                missing=[str(s) for s in missing],
            )
    except SignatureRefused as refusal:
        async with tenant_session(runtime, tenant) as session:
            await record_refusal(
                session=session,
                actor=signer_actor(signer),
                record_type=REVIEW_RECORD_TYPE,
                record_id=review_id,
                attempt="sign",
                error=refusal,
                detail=refused_signature_detail(signer, jws),
                action="review.signature_refused",
            )
        raise


# --- what a signer signs, and what an export holds ---------------------------------------


async def signing_document(
    *, session: AsyncSession, review_id: uuid.UUID
) -> tuple[ManagementReview, dict[str, Any]]:
    """A frozen review and its canonical document, re-digested from the stored row: what a
    signer is shown and signs (the ``content_digest`` must match it)."""
    review = await review_service.get_review(session=session, review_id=review_id)
    await check_signable(session, review)
    return review, review_document(review)


async def export_bundle(
    *, session: AsyncSession, control: AsyncSession, tenant: str, review_id: uuid.UUID
) -> dict[str, Any]:
    """A signed-review bundle: the canonical content, its digest, every current signature,
    the signers' identities and public keys — checked offline (``bundles.verify_bundle``)
    against the key sets the signatories' organisations published (``published_key_set``)."""
    review = await review_service.get_review(session=session, review_id=review_id)
    if review.status is ReviewStatus.DRAFT:
        raise Conflict(
            "A draft has no signatures to export; freeze it first.",
            reason="REVIEW_NOT_FROZEN",
            field="status",
        )
    successor = await session.scalar(
        select(ManagementReview.id).where(ManagementReview.previous_id == review.id)
    )
    signatures = await list_signatures(session=session, review=review)
    required = required_signers(review)
    names = {
        Signer(m.tenant, m.subject): m
        for m in await control.scalars(
            select(Member).where(Member.tenant.in_({s.signer_tenant for s in signatures}))
        )
    }
    entries = []
    for s in signatures:
        who = Signer(s.signer_tenant, s.signer_subject)
        member = names.get(who)
        entries.append(
            {
                "signer": {
                    "tenant": who.tenant,
                    "subject": who.subject,
                    "role": required.get(who, s.signer_role),
                    "display_name": member.display_name if member else None,
                },
                "kid": s.kid,
                "alg": s.alg,
                "jwk": s.jwk,
                "jwk_thumbprint": thumbprint(s.jwk),
                "jws": s.jws,
                "signed_at": s.signed_at.astimezone(UTC).isoformat(),
                "recorded_at": s.recorded_at.astimezone(UTC).isoformat(),
                "superseded_at": (
                    None if s.superseded_at is None else s.superseded_at.astimezone(UTC).isoformat()
                ),
            }
        )
    return {
        "type": BUNDLE_TYPE,
        "format": BUNDLE_FORMAT,
        "owner": tenant,
        "review": {
            "id": str(review.id),
            "revision": review.revision,
            "status": review.status.value,
            "title": review.title,
            "superseded_by": None if successor is None else str(successor),
        },
        "document": review_document(review),
        "digest_algorithm": "SHA-256 of the RFC 8785 canonical JSON of document",
        "content_digest": review.content_digest,
        "signatures": entries,
        "exported_at": now().isoformat(),
    }
