"""Both gates before a management review is compiled, signed or exported.

**Sovereignty.** A review is read, compiled and signed on its full content: the signature
binds the digest of every field, so a partner acts on another organisation's review only
under an active agreement sharing ``management_review`` with it at ``full`` (a summary
hides the minutes and inputs a signer would be signing blind). Without one the review does
not exist for the caller (NOT_FOUND); a summary-only agreement is FORBIDDEN
(NOT_SHARED_IN_FULL). What a partner is shown is written to the owner's access log under
that agreement, in the same transaction as the read.

**Action gate.** Compiling (create, edit, compile inputs, assign signatories, freeze,
revise) is ``respond`` in the owner's domain: the Responsible party of the review process.
Signing is ``sign`` asked in the *signer's own* domain: a network review is signed off
part by part, and a RACI matrix gives each partner's sign-off its own activity owned by
that partner (one Accountable per activity), which is exactly where
``signing.resolve_signatories`` finds the signatories. The owner's say in who signs is the
required-signatory list frozen into its content, which ``signing.submit_signature``
enforces (NOT_A_SIGNATORY). So the sign-off RACI alone does not let a partner see or sign
a review: the agreement is the owner's consent to the content leaving its store, the RACI
and the frozen list decide who signs.

Reading the signed-review bundle is ``read`` in the owner's domain, or — a signatory reads
what it signs — being a required signatory of that revision whose own domain grants
``sign``.

A refusal once the caller has standing (an agreement, or its own tenant) is rolled back
and written to the owner's event log in a transaction of its own
(``management_review.refused``); a refused signature is logged by ``signing.sign_review``.
A refused creation has no review to log against: it is only answered.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.records.refusals import record_refusal
from accord.compliance.reviews import service as review_service
from accord.compliance.reviews.models import ManagementReview
from accord.compliance.reviews.signatures.jws import SignatureRefused, Signer
from accord.compliance.reviews.signatures.schemas import SIGN_ACTION
from accord.compliance.reviews.signatures.service import required_signers
from accord.compliance.sharing.reads import SharedRecord
from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.graphql.records.reviews import RECORD_TYPE, ManagementReviewNode
from accord.graphql.relay import GlobalId
from accord.platform.errors import AccordError, Forbidden, NotFound
from accord.policies.schemas import Resource
from accord.policies.vocab import user_subject
from accord.tenants.agreements.models import SharingLevel
from accord.tenants.agreements.service import Grant, access_entries, grants_for
from accord.tenants.identity.principal import Principal, Unauthenticated
from accord.tenants.sessions import tenant_session

log = logging.getLogger("accord.graphql")

COMPILE_ACTION = "respond"
READ_ACTION = "read"

#: What a mutation does to a review, given the owner's session, the review and the actor.
Change = Callable[[AsyncSession, ManagementReview, str], Awaitable[ManagementReview]]


@dataclass(frozen=True, slots=True)
class Standing:
    """A caller who passed the sovereignty gate for ``owner``'s reviews."""

    principal: Principal
    tenant: str  # the caller's own organisation
    owner: str
    #: the agreement a partner stands on; None for the owner's own members
    grant: Grant | None

    @property
    def actor(self) -> str:
        return user_subject(self.tenant, self.principal.subject)

    @property
    def signer(self) -> Signer:
        """The caller as a signer: always the authenticated member, never a client's claim."""
        return Signer(self.tenant, self.principal.subject)


def review_not_found() -> NotFound:
    return NotFound(
        "No such management review.", reason="MANAGEMENT_REVIEW_NOT_FOUND", field="review_id"
    )


def review_gid(value: str) -> GlobalId:
    return GlobalId.decode(value, expected="ManagementReview")


async def standing_for(
    context: Context, *, owner: str, unshared: Callable[[], AccordError] = review_not_found
) -> Standing:
    """The caller, if ``owner`` is its organisation or shares its reviews with it in full."""
    principal, own = require_tenant(context)
    if owner == own:
        return Standing(principal, own, owner, None)
    async with context.runtime.control_session() as session:
        grants = await grants_for(session=session, grantee=own, record_type=RECORD_TYPE)
    grant = next((g for g in grants if g.grantor == owner), None)
    if grant is None or grant.level is SharingLevel.AGGREGATE:
        raise unshared()
    if grant.level is not SharingLevel.FULL:
        raise Forbidden(
            f"{owner} shares only a summary of its management reviews with {own}; reviews "
            "are compiled and signed on their full content.",
            reason="NOT_SHARED_IN_FULL",
        )
    return Standing(principal, own, owner, grant)


def _require(context: Context, standing: Standing, action: str, resource: Resource) -> None:
    decision = context.authorizer.authorize(standing.principal, action, resource)
    if not decision.allowed:
        log.info("%s: %s", standing.actor, decision.explain)
        raise Forbidden(f"You may not {action} {resource.describe()}.", reason="ACTION_DENIED")


def require_compiling(context: Context, standing: Standing, process: str | None) -> None:
    _require(context, standing, COMPILE_ACTION, Resource(standing.owner, RECORD_TYPE, process))


def require_signing(context: Context, standing: Standing, process: str | None) -> None:
    """``sign`` in the signer's own domain: the part of the review it signs off."""
    _require(context, standing, SIGN_ACTION, Resource(standing.tenant, RECORD_TYPE, process))


def may_read(
    context: Context, standing: Standing, review: ManagementReview, process: str | None
) -> bool:
    authorize = context.authorizer.authorize
    resource = Resource(standing.owner, RECORD_TYPE, process)
    if authorize(standing.principal, READ_ACTION, resource).allowed:
        return True
    own = Resource(standing.tenant, RECORD_TYPE, process)
    return (
        standing.signer in required_signers(review)
        and authorize(standing.principal, SIGN_ACTION, own).allowed
    )


def record_read(
    context: Context, session: AsyncSession, standing: Standing, records: int = 1
) -> None:
    """Add a partner's read to the owner's access log, in the owner's session (so the log
    entry commits with the read, or neither does)."""
    if standing.grant is None:
        return
    rows = access_entries(
        grants=[(standing.grant, records)],
        grantee=standing.tenant,
        principal=f"{standing.tenant}/{standing.principal.subject}",
        request_id=context.request_id,
    )
    session.add_all(rows.get(standing.owner, []))


async def shown(
    context: Context,
    session: AsyncSession,
    standing: Standing,
    review: ManagementReview,
    process: str | None,
) -> ManagementReviewNode:
    """The review as the ``ManagementReview`` type shows it (full level), re-read from the
    owner's session, its showing to a partner logged there."""
    await session.refresh(review)
    record_read(context, session, standing)
    fields = {
        attr.key: getattr(review, attr.key) for attr in inspect(ManagementReview).column_attrs
    }
    record = SharedRecord(
        owner=standing.owner,
        level=SharingLevel.FULL.value,
        record_type=RECORD_TYPE,
        fields=fields,
    )
    return ManagementReviewNode.from_shared(record, process)


def sees_reviews(context: Context, standing: Standing, process: str | None) -> bool:
    """Whether the caller may read the owner's reviews: refusals are logged only then."""
    resource = Resource(standing.owner, RECORD_TYPE, process)
    return context.authorizer.authorize(standing.principal, READ_ACTION, resource).allowed


def worth_logging(error: AccordError) -> bool:
    """Refusals of a caller with standing; not "no such review", nor a missing sign-in, nor
    a refused signature (``sign_review`` logs those itself)."""
    return not isinstance(error, NotFound | Unauthenticated | SignatureRefused)


async def log_refusal(
    context: Context,
    standing: Standing,
    *,
    review_id: uuid.UUID,
    attempt: str,
    error: AccordError,
) -> None:
    """Write the refused attempt to the owner's log, against a review that exists."""
    if not worth_logging(error):
        return
    try:
        async with tenant_session(context.runtime, standing.owner) as session:
            await review_service.get_review(session=session, review_id=review_id)
            await record_refusal(
                session=session,
                actor=standing.actor,
                record_type=RECORD_TYPE,
                record_id=review_id,
                attempt=attempt,
                error=error,
            )
    except AccordError as exc:
        log.warning("refused %s on %s/%s not logged: %s", attempt, standing.owner, review_id, exc)


async def change_review(
    context: Context, *, review_id: str, attempt: str, process: str | None, change: Change
) -> ManagementReviewNode:
    """Both gates for compiling, then ``change`` in the owner's tenant session; the result
    (the changed review, or the revision a change made) at full level."""
    gid = review_gid(review_id)
    standing: Standing | None = None
    try:
        standing = await standing_for(context, owner=gid.tenant)
        require_compiling(context, standing, process)
        async with tenant_session(context.runtime, gid.tenant) as session:
            review = await review_service.get_review(session=session, review_id=gid.record_id)
            changed = await change(session, review, standing.actor)
            return await shown(context, session, standing, changed, process)
    except AccordError as error:
        if standing is not None and sees_reviews(context, standing, process):
            await log_refusal(
                context, standing, review_id=gid.record_id, attempt=attempt, error=error
            )
        raise
