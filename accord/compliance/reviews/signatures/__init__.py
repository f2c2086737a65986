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
approved (``reviews.service.approve``) in the transaction that records the last missing valid
signature. The content is locked from freezing on (service and database trigger), so
before the first signature too; a change needs ``reviews.service.new_revision``, which marks the
old revision's signatures superseded — kept, visibly, never counted again.

**Refusals** raise ``SignatureRefused`` (a code, a reason) and change nothing. Since the
caller's transaction is then rolled back, the attempt is written to the review owner's
event log in a transaction of its own (``records.refusals.record_refusal``, as a
``review.signature_refused`` entry): ``flows.sign_review`` does both.

Services take keyword-only arguments and never commit; ``control`` is a control-plane
session (members and keys), ``session`` the review owner's tenant session.
"""
