"""Signatures of a review: who must sign, who signed, keys, refusals written to the log."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any, NoReturn

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.records.day import now
from accord.compliance.records.history import log_change
from accord.compliance.reviews.models import ManagementReview, ReviewStatus
from accord.compliance.reviews.schemas import document_digest
from accord.compliance.reviews.signatures.jws import (
    DetachedJws,
    SignatureRefused,
    Signer,
    parse_detached,
    same_key,
    thumbprint,
)
from accord.compliance.reviews.signatures.models import ReviewSignature
from accord.compliance.reviews.signatures.schemas import REVIEW_RECORD_TYPE, SIGN_ACTION
from accord.platform.errors import Conflict, ErrorCode, NotFound
from accord.policies.baseline import role_closure
from accord.policies.models import PolicyRule, RaciMatrix
from accord.policies.raci import Party
from accord.policies.vocab import Letter, user_subject
from accord.tenants.identity.models import MemberKey
from accord.tenants.models import Member


def required_signers(review: ManagementReview) -> dict[Signer, str]:
    """Required signatory -> role, as the (frozen) content lists them."""
    return {Signer(s["tenant"], s["subject"]): s["role"] for s in review.required_signatories}


async def list_signatures(
    *, session: AsyncSession, review: ManagementReview
) -> list[ReviewSignature]:
    """Every signature recorded on this revision (superseded ones included), oldest first."""
    stmt = (
        select(ReviewSignature)
        .where(ReviewSignature.review_id == review.id)
        .order_by(ReviewSignature.recorded_at, ReviewSignature.signer_tenant)
    )
    return list(await session.scalars(stmt))


def missing_signatories(
    review: ManagementReview, signatures: Sequence[ReviewSignature]
) -> list[Signer]:
    """Required signatories without a current (not superseded) signature on ``review``."""
    signed = {
        Signer(s.signer_tenant, s.signer_subject)
        for s in signatures
        if s.review_id == review.id and s.superseded_at is None
    }
    return [s for s in required_signers(review) if s not in signed]


async def locked_review(session: AsyncSession, review_id: uuid.UUID) -> ManagementReview:
    """The review, its row locked: signers of one review (and its revising) go one by one,
    so the last signature always sees all the others and approves."""
    review = await session.scalar(
        select(ManagementReview)
        .where(ManagementReview.id == review_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if review is None:
        raise SignatureRefused(
            f"No management review {review_id}.",
            reason="UNKNOWN_REVIEW",
            code=ErrorCode.NOT_FOUND,
            field="review_id",
        )
    return review


async def supersede_signatures(
    *,
    session: AsyncSession,
    actor: str,
    review: ManagementReview,
    successor: ManagementReview,
) -> list[uuid.UUID]:
    """Mark ``review``'s signatures superseded by its new revision (kept, never counted
    again); called by ``reviews.service.new_revision``."""
    await locked_review(session, review.id)
    marked = list(
        await session.scalars(
            update(ReviewSignature)
            .where(ReviewSignature.review_id == review.id, ReviewSignature.superseded_at.is_(None))
            .values(superseded_at=now(), superseded_by=successor.id)
            .returning(ReviewSignature.id)
            .execution_options(synchronize_session=False)
        )
    )
    if marked:
        await log_change(
            session,
            actor=actor,
            action="review.signatures_superseded",
            record=review,
            change={
                "superseded_by": successor.id,
                "revision": successor.revision,
                "signatures": sorted(str(m) for m in marked),
            },
        )
    return marked


def signer_actor(signer: Signer) -> str:
    """How a signer appears as an event-log actor (the action gate's subject name)."""
    return user_subject(signer.tenant, signer.subject)


def refuse_signature(
    code: ErrorCode, reason: str, message: str, field: str | None = None
) -> NoReturn:
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


# --- signatures ------------------------------------------------------------------------


async def check_signable(session: AsyncSession, review: ManagementReview) -> None:
    if review.status is ReviewStatus.DRAFT or review.content_digest is None:
        refuse_signature(
            ErrorCode.CONFLICT,
            "REVIEW_NOT_FROZEN",
            f"Revision {review.revision} of this review is a draft: only frozen content is signed.",
            "status",
        )
    successor = await session.scalar(
        select(ManagementReview).where(ManagementReview.previous_id == review.id)
    )
    if successor is not None:
        refuse_signature(
            ErrorCode.CONFLICT,
            "REVIEW_SUPERSEDED",
            f"Revision {review.revision} was changed: revision {successor.revision} "
            f"({successor.id}) replaces it, and its signatures no longer count; sign the "
            "latest revision.",
            "review_id",
        )
    if document_digest(review) != review.content_digest:
        refuse_signature(
            ErrorCode.INTERNAL,
            "CONTENT_DIGEST_MISMATCH",
            f"The stored content of review {review.id} no longer matches its digest.",
            "content_digest",
        )


async def signing_key(control: AsyncSession, signer: Signer, parsed: DetachedJws) -> MemberKey:
    member = await control.scalar(
        select(Member).where(Member.tenant == signer.tenant, Member.subject == signer.subject)
    )
    if member is None:
        refuse_signature(
            ErrorCode.FORBIDDEN, "UNKNOWN_MEMBER", f"{signer} is not a member.", "signer"
        )
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
            refuse_signature(
                ErrorCode.FORBIDDEN,
                "FOREIGN_KEY",
                f"Key '{parsed.kid}' is registered to {holder[0]}/{holder[1]}, not to "
                f"{signer}: each executive signs with their own key.",
                "kid",
            )
        refuse_signature(
            ErrorCode.FORBIDDEN,
            "UNKNOWN_KID",
            f"{signer} has no registered key '{parsed.kid}'.",
            "kid",
        )
    if key.revoked_at is not None and key.revoked_at <= now():
        refuse_signature(
            ErrorCode.FORBIDDEN,
            "KEY_REVOKED",
            f"Key '{parsed.kid}' of {signer} was revoked at {key.revoked_at.isoformat()}.",
            "kid",
        )
    return key


def refused_signature_detail(signer: Signer, jws: str) -> dict[str, Any]:
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
