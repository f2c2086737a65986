"""Management review sign-off (ISO 9.3) by the partners' executives: detached JWS signatures.

**Who must sign.** ``resolve_signatories`` reads the compiled RACI of the shared process
the review belongs to (``accord.policy_rules``, what the action gate enforces): every
owning tenant *d* that has a ``sign`` grant on ``management_review`` for its Accountable
letter role is a participating tenant, and the party linked to that role (the
Accountable of *d*'s sign-off activity) signs for it — a named member (``user:t/s``) as
is, a role (``role:t/executive``) as the one member of *t* holding it (members' roles
from the control plane; none or several is a refusal naming the tenant, since a sign-off
needs one person). ``assign_signatories`` writes the result into a draft's
``required_signatories``, so the list is part of the frozen content and of its digest:
every signer signs who else must sign, and an offline verifier reads it from the content.
From then on the frozen list is what counts; a later RACI change needs a new revision.

**Signing.** A signatory signs the review's ``content_digest`` with their own private key
(Ed25519 or ES256) as a detached JWS binding review id, revision, digest and signer (see
``jws``); Accord verifies it against the signer's registered public key
(``accord.tenants.identity.member_keys``) and never sees a private key. The review is
approved (``service.approve``) in the transaction that records the last missing valid
signature. The content is locked from freezing on (service and database trigger), so
before the first signature too; a change needs ``service.new_revision``, which marks the
old revision's signatures superseded — kept, visibly, never counted again.

**Refusals** raise ``SignatureRefused`` (a code, a reason) and change nothing. Since the
caller's transaction is then rolled back, the attempt is written to the review owner's
event log in a transaction of its own (``records.refusals.record_refusal``, as a
``review.signature_refused`` entry): ``sign_review`` does both.

Services take keyword-only arguments and never commit; ``control`` is a control-plane
session (members and keys), ``session`` the review owner's tenant session.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.records.day import now
from accord.compliance.records.history import log_change
from accord.compliance.records.refusals import record_refusal
from accord.compliance.reviews import service as review_service
from accord.compliance.reviews.jws import (
    BUNDLE_FORMAT,
    BUNDLE_TYPE,
    Binding,
    DetachedJws,
    SignatureRefused,
    Signer,
    parse_detached,
    same_key,
    thumbprint,
    verify_signature,
)
from accord.compliance.reviews.models import ManagementReview, ReviewStatus
from accord.compliance.reviews.schemas import document_digest, review_document
from accord.compliance.reviews.signature_models import ReviewSignature
from accord.compliance.reviews.signatures import (
    list_signatures,
    locked_review,
    missing_signatories,
    required_signers,
)
from accord.platform.errors import Conflict, ErrorCode, NotFound
from accord.platform.runtime import Runtime
from accord.policies.baseline import role_closure
from accord.policies.models import PolicyRule, RaciMatrix
from accord.policies.raci import Party
from accord.policies.vocab import Letter, user_subject
from accord.tenants.identity.models import MemberKey
from accord.tenants.models import Member
from accord.tenants.sessions import tenant_session

SIGN_ACTION = "sign"
REVIEW_RECORD_TYPE = "management_review"


def signer_actor(signer: Signer) -> str:
    """How a signer appears as an event-log actor (the action gate's subject name)."""
    return user_subject(signer.tenant, signer.subject)


def _refuse(code: ErrorCode, reason: str, message: str, field: str | None = None) -> NoReturn:
    raise SignatureRefused(message, reason=reason, code=code, field=field)


# --- required signatories --------------------------------------------------------------


async def resolve_signatories(*, control: AsyncSession, process: str) -> list[dict[str, str]]:
    """The required signatories of a review made in ``process``: one per participating
    tenant, the Accountable of its sign-off, as ``{tenant, subject, role}`` by tenant."""
    matrix = await control.scalar(select(RaciMatrix).where(RaciMatrix.process == process))
    if matrix is None:
        raise NotFound(
            f"No RACI matrix governs process '{process}'.",
            reason="UNKNOWN_PROCESS",
            field="process",
        )
    rules = list(await control.scalars(select(PolicyRule).where(PolicyRule.matrix == matrix.name)))
    # The Accountable letter roles granted "sign" on management reviews, per owning domain.
    sign_roles = {
        (r.domain, r.v0)
        for r in rules
        if r.ptype == "p"
        and (r.v2, r.v4, r.v5) == (REVIEW_RECORD_TYPE, SIGN_ACTION, "allow")
        and r.letter == Letter.ACCOUNTABLE.value
    }
    accountable: dict[str, set[str]] = {domain: set() for domain, _ in sign_roles}
    for r in rules:
        if r.ptype == "g" and r.party and (r.domain, r.v1) in sign_roles:
            accountable[r.domain].add(r.party)
    if not accountable:
        raise Conflict(
            f"Matrix '{matrix.name}' has no sign-off of management reviews (an activity on "
            "management_review covering 'sign').",
            reason="NO_SIGN_OFF",
            field="process",
        )
    signatories: list[dict[str, str]] = []
    problems: list[str] = []
    for domain in sorted(accountable):
        parties = sorted(accountable[domain])
        if len(parties) != 1:
            problems.append(
                f"{domain}: several Accountable parties sign off ({', '.join(parties)})"
            )
            continue
        party = Party.parse(parties[0])
        if party is None:  # compiled from a validated matrix; never expected
            problems.append(f"{domain}: '{parties[0]}' is not a party")
            continue
        members = list(
            await control.scalars(
                select(Member).where(Member.tenant == party.tenant).order_by(Member.subject)
            )
        )
        if party.role is not None:
            holders = [m for m in members if party.role in role_closure(m.roles)]
            what = f"of {party.tenant} with role {party.role}"
        else:
            holders = [m for m in members if m.subject == party.subject]
            what = f"{party.subject} in {party.tenant}"
        if len(holders) != 1:
            problems.append(
                f"{domain}: no member {what} (Accountable: {party.key})"
                if not holders
                else f"{domain}: {len(holders)} members {what} "
                f"({', '.join(m.subject for m in holders)}) — name the one who signs "
                f"(user:{party.tenant}/<subject>) as Accountable"
            )
            continue
        entry = {"tenant": party.tenant, "subject": holders[0].subject}
        if entry not in ({"tenant": s["tenant"], "subject": s["subject"]} for s in signatories):
            signatories.append({**entry, "role": party.role or "accountable"})
    if problems:
        raise Conflict(
            f"The required signatories of process '{process}' cannot be resolved: "
            + "; ".join(problems)
            + ".",
            reason="SIGNATORIES_UNRESOLVED",
            field="process",
        )
    return signatories


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


# --- signatures ------------------------------------------------------------------------


async def _check_state(session: AsyncSession, review: ManagementReview) -> None:
    if review.status is ReviewStatus.DRAFT or review.content_digest is None:
        _refuse(
            ErrorCode.CONFLICT,
            "REVIEW_NOT_FROZEN",
            f"Revision {review.revision} of this review is a draft: only frozen content is signed.",
            "status",
        )
    successor = await session.scalar(
        select(ManagementReview).where(ManagementReview.previous_id == review.id)
    )
    if successor is not None:
        _refuse(
            ErrorCode.CONFLICT,
            "REVIEW_SUPERSEDED",
            f"Revision {review.revision} was changed: revision {successor.revision} "
            f"({successor.id}) replaces it, and its signatures no longer count; sign the "
            "latest revision.",
            "review_id",
        )
    if document_digest(review) != review.content_digest:
        _refuse(
            ErrorCode.INTERNAL,
            "CONTENT_DIGEST_MISMATCH",
            f"The stored content of review {review.id} no longer matches its digest.",
            "content_digest",
        )


async def _check_binding(session: AsyncSession, review: ManagementReview, binding: Binding) -> None:
    earlier = (await review_service.history(session=session, review=review))[:-1]
    stale = [
        r for r in earlier if binding.review == str(r.id) or binding.digest == r.content_digest
    ]
    if stale:
        old = stale[-1]
        _refuse(
            ErrorCode.CONFLICT,
            "STALE_DIGEST",
            f"The signature is over revision {old.revision} (digest {old.content_digest}); "
            f"this review is at revision {review.revision} (digest {review.content_digest}). "
            "Sign the current content.",
            "digest",
        )
    if binding.review != str(review.id):
        _refuse(
            ErrorCode.CONFLICT,
            "REVIEW_MISMATCH",
            f"The signature was made for review {binding.review}, not {review.id}: a "
            "signature is never replayed on another review.",
            "review",
        )
    if binding.revision != review.revision:
        _refuse(
            ErrorCode.CONFLICT,
            "REVISION_MISMATCH",
            f"The signature names revision {binding.revision}; this is revision {review.revision}.",
            "revision",
        )
    if binding.digest != review.content_digest:
        _refuse(
            ErrorCode.CONFLICT,
            "DIGEST_MISMATCH",
            f"The signature is over digest {binding.digest}; the content's digest is "
            f"{review.content_digest}.",
            "digest",
        )


async def _signing_key(control: AsyncSession, signer: Signer, parsed: DetachedJws) -> MemberKey:
    member = await control.scalar(
        select(Member).where(Member.tenant == signer.tenant, Member.subject == signer.subject)
    )
    if member is None:
        _refuse(ErrorCode.FORBIDDEN, "UNKNOWN_MEMBER", f"{signer} is not a member.", "signer")
    key = await control.scalar(
        select(MemberKey).where(MemberKey.member == member.id, MemberKey.kid == parsed.kid)
    )
    if key is None:
        holder = (
            await control.execute(
                select(Member.tenant, Member.subject)
                .join(MemberKey, MemberKey.member == Member.id)
                .where(MemberKey.kid == parsed.kid)
                .limit(1)
            )
        ).first()
        if holder is not None:
            _refuse(
                ErrorCode.FORBIDDEN,
                "FOREIGN_KEY",
                f"Key '{parsed.kid}' is registered to {holder[0]}/{holder[1]}, not to "
                f"{signer}: each executive signs with their own key.",
                "kid",
            )
        _refuse(
            ErrorCode.FORBIDDEN,
            "UNKNOWN_KID",
            f"{signer} has no registered key '{parsed.kid}'.",
            "kid",
        )
    if key.revoked_at is not None and key.revoked_at <= now():
        _refuse(
            ErrorCode.FORBIDDEN,
            "KEY_REVOKED",
            f"Key '{parsed.kid}' of {signer} was revoked at {key.revoked_at.isoformat()}.",
            "kid",
        )
    return key


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
    await _check_state(session, review)
    binding = parsed.binding
    await _check_binding(session, review, binding)
    if binding.signer != signer:
        _refuse(
            ErrorCode.FORBIDDEN,
            "SIGNER_MISMATCH",
            f"The signature says it is by {binding.signer}; it was submitted by {signer}.",
            "signer",
        )
    required = required_signers(review)
    if signer not in required:
        _refuse(
            ErrorCode.FORBIDDEN,
            "NOT_A_SIGNATORY",
            f"{signer} is not a required signatory of this review (required: "
            f"{', '.join(map(str, required))}).",
            "signer",
        )
    key = await _signing_key(control, signer, parsed)
    assert review.content_digest is not None  # _check_state
    verify_signature(parsed, jwk=key.jwk, digest=review.content_digest)
    signatures = await list_signatures(session=session, review=review)
    if signer not in missing_signatories(review, signatures):
        _refuse(
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


def _refused_signature(signer: Signer, jws: str) -> dict[str, Any]:
    """What a refused signing attempt keeps beside the refusal: who submitted it, a digest
    of the JWS (never the JWS) and, if it parses, what it claimed."""
    detail: dict[str, Any] = {
        "signer": str(signer),
        "jws_sha256": hashlib.sha256(jws.encode("utf-8", "replace")).hexdigest(),
        "jws_length": len(jws),
    }
    try:
        parsed = parse_detached(jws)
    except SignatureRefused:
        pass
    else:
        binding = parsed.binding
        detail["claimed"] = {
            "alg": parsed.alg,
            "kid": parsed.kid,
            "review": binding.review,
            "revision": binding.revision,
            "digest": binding.digest,
            "signer": str(binding.signer),
        }
    return detail


@dataclass(frozen=True, slots=True)
class SignOutcome:
    signature_id: uuid.UUID
    review_id: uuid.UUID
    revision: int
    content_digest: str
    kid: str
    alg: str
    status: ReviewStatus
    missing: list[str]


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
                detail=_refused_signature(signer, jws),
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
    await _check_state(session, review)
    return review, review_document(review)


async def key_id_for(*, control: AsyncSession, signer: Signer, jwk: dict[str, Any]) -> str:
    """The kid under which ``signer`` registered the public key ``jwk`` (its RFC 7638
    thumbprint when they did not, which the server will then refuse, naming why)."""
    keys = await control.scalars(
        select(MemberKey)
        .join(Member, Member.id == MemberKey.member)
        .where(
            Member.tenant == signer.tenant,
            Member.subject == signer.subject,
            MemberKey.revoked_at.is_(None),
        )
    )
    for key in keys:
        if same_key(key.jwk, jwk):
            return key.kid
    return thumbprint(jwk)


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
