"""Management review sign-off: required signatories from the RACI, detached JWS signatures
with real Ed25519 and P-256 keys, approval, superseded revisions, and every refusal."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws as joserfc_jws
from joserfc.errors import BadSignatureError, UnsupportedHeaderError
from joserfc.jwk import JWKRegistry
from joserfc.registry import HeaderParameter
from sqlalchemy import Connection, MetaData, delete, func, inspect, select, text
from sqlalchemy.exc import DBAPIError

from accord.compliance.reviews import flows as review_flows
from accord.compliance.reviews import service as review_service
from accord.compliance.reviews.models import ManagementReview, ReviewStatus
from accord.compliance.reviews.schemas import DOCUMENT_TYPE, document_digest
from accord.compliance.reviews.signatures import bundles as bundles
from accord.compliance.reviews.signatures import flows as signature_flows
from accord.compliance.reviews.signatures import jws as jws
from accord.compliance.reviews.signatures import schemas as signature_schemas
from accord.compliance.reviews.signatures import service as signature_service
from accord.compliance.reviews.signatures.jws import Binding, SignatureRefused, Signer
from accord.compliance.reviews.signatures.models import ReviewSignature
from accord.platform.db import TenantBase
from accord.platform.errors import Conflict, ErrorCode, NotFound
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.runtime import Runtime
from accord.policies import service as policy_service
from accord.policies.models import PolicyDomain, RaciMatrix
from accord.tenants import service as tenant_service
from accord.tenants.identity import member_keys
from accord.tenants.models import Tenant
from accord.tenants.provisioning import create_tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory, unique_slug
from tests.factories.reviews import REVIEW, PrivateKey, add_signer, sign_off_matrix

AUTHOR = "user:hanna.vogt"


@dataclass
class Scene:
    """Three partner tenants, each with an executive holding a registered signing key;
    the owner (northwind) also has a quality manager with a key, who is no signatory."""

    owner: Tenant
    tenants: dict[str, Tenant]
    process: str
    keys: dict[str, PrivateKey] = field(default_factory=dict)  # kid -> private key
    signers: dict[str, Signer] = field(default_factory=dict)  # label -> signer

    def signer(self, label: str) -> Signer:
        return self.signers[label]


EXECUTIVES = {  # label -> (tenant label, subject, key kind, kid)
    "katrin": ("northwind", "katrin.maier", "ed25519", "katrin-2026"),
    "liam": ("globex", "liam.chen", "p256", "liam-2026"),
    "dana": ("meridian", "dana.okafor", "ed25519", "dana-2026"),
}
KIDS = {label: kid for label, (_, _, _, kid) in EXECUTIVES.items()} | {"hanna": "hanna-2026"}


def _new_key(kind: str) -> PrivateKey:
    return (
        Ed25519PrivateKey.generate()
        if kind == "ed25519"
        else ec.generate_private_key(ec.SECP256R1())
    )


@pytest.fixture(scope="module")
async def scene(runtime: Runtime) -> AsyncIterator[Scene]:
    tenants = {}
    for label in ("globex", "meridian", "northwind"):
        tenants[label] = await create_tenant(
            runtime,
            slug=unique_slug(label),
            legal_name=f"{label.title()} GmbH",
            jurisdiction="DE",
            store="home",
        )
    tag = secrets.token_hex(3)
    process = f"network-mr-{tag}"
    found = Scene(owner=tenants["northwind"], tenants=tenants, process=process)
    for label, (tenant, subject, kind, kid) in EXECUTIVES.items():
        key = _new_key(kind)
        await add_signer(runtime, tenants[tenant], subject, ["executive"], key, kid)
        found.keys[kid] = key
        found.signers[label] = Signer(tenants[tenant].slug, subject)
    hanna = _new_key("ed25519")
    await add_signer(runtime, found.owner, "hanna.vogt", ["quality_manager"], hanna, "hanna-2026")
    found.keys["hanna-2026"], found.signers["hanna"] = hanna, Signer(found.owner.slug, "hanna.vogt")
    # A second, revoked key of dana's.
    old = _new_key("ed25519")
    async with runtime.control_session() as control:
        member = (await tenant_service.list_members(session=control, tenant=tenants["meridian"]))[0]
        await member_keys.add_member_key(
            session=control,
            member=member,
            jwk={**jws.public_jwk(old), "kid": "dana-old"},
            alg="Ed25519",
        )
        await member_keys.revoke_member_key(session=control, member=member, kid="dana-old")
    found.keys["dana-old"] = old
    slugs = sorted(t.slug for t in tenants.values())
    async with runtime.control_session() as control:
        await policy_service.import_matrix(
            session=control, text=sign_off_matrix(tag, process, slugs), fmt="yaml"
        )
    yield found
    async with runtime.control_session() as control:
        await control.execute(delete(RaciMatrix).where(RaciMatrix.name.like(f"%{tag}%")))
        await control.execute(delete(PolicyDomain).where(PolicyDomain.domain.in_(slugs)))


async def frozen_review(runtime: Runtime, scene: Scene, **change: Any) -> uuid.UUID:
    """A review of the owner, its signatories resolved from the RACI, compiled and frozen."""
    async with (
        tenant_session(runtime, scene.owner.slug) as session,
        runtime.control_session() as control,
    ):
        review = await review_service.create_review(
            session=session, actor=AUTHOR, data={**REVIEW, **change}
        )
        await signature_flows.assign_signatories(
            session=session, control=control, actor=AUTHOR, review=review, process=scene.process
        )
        await review_flows.compile_inputs(session=session, actor=AUTHOR, review=review)
        await review_service.freeze(session=session, actor=AUTHOR, review=review)
        return review.id


async def binding_of(runtime: Runtime, scene: Scene, review_id: uuid.UUID, who: Signer) -> Binding:
    async with tenant_session(runtime, scene.owner.slug) as session:
        review = await review_service.get_review(session=session, review_id=review_id)
        assert review.content_digest is not None
        return Binding(str(review.id), review.revision, review.content_digest, who)


async def signed_by(
    runtime: Runtime, scene: Scene, review_id: uuid.UUID, label: str, kid: str | None = None
) -> str:
    """``label``'s own JWS over the review (with their registered key unless ``kid``)."""
    who, kid = scene.signer(label), kid or KIDS[label]
    return jws.sign_detached(
        scene.keys[kid], kid=kid, binding=await binding_of(runtime, scene, review_id, who)
    )


async def sign(
    runtime: Runtime, scene: Scene, review_id: uuid.UUID, label: str
) -> signature_schemas.SignOutcome:
    return await signature_flows.sign_review(
        runtime,
        tenant=scene.owner.slug,
        review_id=review_id,
        signer=scene.signer(label),
        jws=await signed_by(runtime, scene, review_id, label),
    )


async def events(runtime: Runtime, tenant: Tenant, record_id: object) -> list[EventLogEntry]:
    async with tenant_session(runtime, tenant.slug) as session:
        assert (await verify_chain(session)).ok
        return list(
            await session.scalars(
                select(EventLogEntry)
                .where(EventLogEntry.record_id == str(record_id))
                .order_by(EventLogEntry.seq)
            )
        )


# --- who must sign ---------------------------------------------------------------------


async def test_required_signatories_are_the_accountable_executive_of_each_partner(
    runtime: Runtime, scene: Scene, make_tenant: TenantFactory
) -> None:
    async with runtime.control_session() as control:
        resolved = await signature_service.resolve_signatories(
            control=control, process=scene.process
        )
    t = scene.tenants
    assert resolved == [
        {"tenant": t["globex"].slug, "subject": "liam.chen", "role": "executive"},
        {"tenant": t["meridian"].slug, "subject": "dana.okafor", "role": "executive"},
        {"tenant": t["northwind"].slug, "subject": "katrin.maier", "role": "executive"},
    ]

    # A partner without an executive, and one with two: no sign-off can be resolved.
    nobody = await make_tenant(label="initech")
    twice = await make_tenant(label="umbrella")
    for subject in ("ada.one", "bo.two"):
        await add_signer(runtime, twice, subject, ["executive"], _new_key("ed25519"), None)
    tag, process = secrets.token_hex(3), f"unresolvable-{secrets.token_hex(3)}"
    try:
        async with runtime.control_session() as control:
            owners = sorted([scene.owner.slug, nobody.slug, twice.slug])
            await policy_service.import_matrix(
                session=control, text=sign_off_matrix(tag, process, owners), fmt="yaml"
            )
        async with runtime.control_session() as control:
            with pytest.raises(Conflict) as unresolved:
                await signature_service.resolve_signatories(control=control, process=process)
            with pytest.raises(NotFound) as unknown:
                await signature_service.resolve_signatories(
                    control=control, process="no-such-process"
                )
    finally:
        async with runtime.control_session() as control:
            await control.execute(delete(RaciMatrix).where(RaciMatrix.name.like(f"%{tag}%")))
    assert (unresolved.value.reason, unresolved.value.field) == (
        "SIGNATORIES_UNRESOLVED",
        "process",
    )
    assert unresolved.value.message == (
        f"The required signatories of process '{process}' cannot be resolved: "
        f"{nobody.slug}: no member of {nobody.slug} with role executive (Accountable: "
        f"role:{nobody.slug}/executive); {twice.slug}: 2 members of {twice.slug} with role "
        f"executive (ada.one, bo.two) — name the one who signs (user:{twice.slug}/<subject>) "
        "as Accountable."
    )
    assert scene.owner.slug + ":" not in unresolved.value.message  # katrin resolves fine
    assert unknown.value.reason == "UNKNOWN_PROCESS"


# --- signing and approval ----------------------------------------------------------------


async def test_three_executives_sign_and_the_review_is_approved(
    runtime: Runtime, scene: Scene
) -> None:
    review_id = await frozen_review(runtime, scene)
    katrin, liam, dana = (scene.signer(x) for x in ("katrin", "liam", "dana"))
    async with tenant_session(runtime, scene.owner.slug) as session:
        review = await review_service.get_review(session=session, review_id=review_id)
        digest = review.content_digest
        assert digest == document_digest(review)
        assert review.required_signatories == [
            {"tenant": liam.tenant, "subject": "liam.chen", "role": "executive"},
            {"tenant": dana.tenant, "subject": "dana.okafor", "role": "executive"},
            {"tenant": katrin.tenant, "subject": "katrin.maier", "role": "executive"},
        ]

    first = await sign(runtime, scene, review_id, "katrin")
    assert (first.status, first.revision, first.content_digest) == (ReviewStatus.FROZEN, 1, digest)
    assert (first.kid, first.alg, first.missing) == (
        "katrin-2026",
        "Ed25519",
        [str(liam), str(dana)],
    )
    # Locked from freezing on, and so after the first signature.
    async with tenant_session(runtime, scene.owner.slug) as session:
        review = await review_service.get_review(session=session, review_id=review_id)
        with pytest.raises(Conflict) as locked:
            await review_service.edit_review(
                session=session, actor=AUTHOR, review=review, changes={"minutes": "Rewritten."}
            )
    assert locked.value.reason == "REVIEW_FROZEN"

    second = await sign(runtime, scene, review_id, "liam")
    assert (second.status, second.alg, second.missing) == (
        ReviewStatus.FROZEN,
        "ES256",
        [str(dana)],
    )
    last = await sign(runtime, scene, review_id, "dana")
    assert (last.status, last.missing) == (ReviewStatus.APPROVED, [])

    async with tenant_session(runtime, scene.owner.slug) as session:
        review = await review_service.get_review(session=session, review_id=review_id)
        signatures = await signature_service.list_signatures(session=session, review=review)
    assert review.status is ReviewStatus.APPROVED
    assert review.approved_by == f"user:{dana.tenant}/dana.okafor"
    assert [
        (s.signer_tenant, s.signer_subject, s.signer_role, s.kid, s.alg, s.revision)
        for s in signatures
    ] == [
        (katrin.tenant, "katrin.maier", "executive", "katrin-2026", "Ed25519", 1),
        (liam.tenant, "liam.chen", "executive", "liam-2026", "ES256", 1),
        (dana.tenant, "dana.okafor", "executive", "dana-2026", "Ed25519", 1),
    ]
    assert {s.content_digest for s in signatures} == {digest}
    assert all(s.superseded_at is None and "d" not in s.jwk for s in signatures)
    header = jws.parse_detached(signatures[1].jws).header
    assert {k: v for k, v in header.items() if k != "iat"} == {
        "alg": "ES256",
        "kid": "liam-2026",
        "typ": "accord-review-signature+jws",
        "crit": ["review", "revision", "digest", "signer_tenant", "signer_subject"],
        "review": str(review_id),
        "revision": 1,
        "digest": digest,
        "signer_tenant": liam.tenant,
        "signer_subject": "liam.chen",
    }
    assert signatures[1].jws.split(".")[1] == ""  # detached payload

    log = await events(runtime, scene.owner, review_id)
    assert [e.action for e in log] == [
        "review.created",
        "review.edited",
        "review.compiled",
        "review.frozen",
        "review.signed",
        "review.signed",
        "review.signed",
        "review.approved",
    ]
    assert [e.actor for e in log[4:]] == [
        f"user:{katrin}",
        f"user:{liam}",
        f"user:{dana}",
        f"user:{dana}",
    ]
    assert log[5].change["missing"] == [str(dana)] and log[6].change["missing"] == []
    assert log[5].change["kid"] == "liam-2026" and log[5].change["content_digest"] == digest

    # The signed-review bundle verifies with nothing but itself.
    async with (
        tenant_session(runtime, scene.owner.slug) as session,
        runtime.control_session() as control,
    ):
        bundle = await signature_flows.export_bundle(
            session=session, control=control, tenant=scene.owner.slug, review_id=review_id
        )
    bundle = json.loads(json.dumps(bundle))  # as written to and read from a file
    verdict = bundles.verify_bundle(bundle)
    assert verdict.ok, verdict.problems
    assert (verdict.review, verdict.revision, verdict.digest) == (str(review_id), 1, digest)
    assert verdict.signed == [
        f"{s.signer_tenant}/{s.signer_subject} (key {jws.thumbprint(s.jwk)})" for s in signatures
    ]
    assert [e["signer"]["display_name"] for e in bundle["signatures"]] == [
        "Katrin Maier",
        "Liam Chen",
        "Dana Okafor",
    ]


# --- refusals ------------------------------------------------------------------------------


@dataclass
class Abuse:
    """Reviews to attack: ``open`` (katrin has signed), ``other`` (another frozen review),
    ``old`` (liam signed revision 1, then it was revised) and ``new`` (its frozen revision
    2), ``draft``; and liam's genuine signature of ``old``, katrin's of ``open``."""

    open: uuid.UUID
    other: uuid.UUID
    old: uuid.UUID
    new: uuid.UUID
    draft: uuid.UUID
    liam_on_old: str
    katrin_on_open: str


@pytest.fixture(scope="module")
async def abuse(runtime: Runtime, scene: Scene) -> Abuse:
    opened = await frozen_review(runtime, scene, title="Review under attack")
    katrin_on_open = await signed_by(runtime, scene, opened, "katrin")
    await signature_flows.sign_review(
        runtime,
        tenant=scene.owner.slug,
        review_id=opened,
        signer=scene.signer("katrin"),
        jws=katrin_on_open,
    )
    other = await frozen_review(runtime, scene, title="Another review")
    old = await frozen_review(runtime, scene, title="Revised review")
    liam_on_old = await signed_by(runtime, scene, old, "liam")
    await signature_flows.sign_review(
        runtime,
        tenant=scene.owner.slug,
        review_id=old,
        signer=scene.signer("liam"),
        jws=liam_on_old,
    )
    async with tenant_session(runtime, scene.owner.slug) as session:
        first = await review_service.get_review(session=session, review_id=old)
        second = await review_service.new_revision(session=session, actor=AUTHOR, review=first)
        await review_service.edit_review(
            session=session, actor=AUTHOR, review=second, changes={"minutes": "Corrected."}
        )
        await review_service.freeze(session=session, actor=AUTHOR, review=second)
        draft = await review_service.create_review(
            session=session, actor=AUTHOR, data={**REVIEW, "title": "Still a draft"}
        )
    return Abuse(opened, other, old, second.id, draft.id, liam_on_old, katrin_on_open)


def _segment(value: dict[str, Any] | str) -> str:
    data = value.encode() if isinstance(value, str) else json.dumps(value).encode()
    return jws.b64url_encode(data)


def _header(binding: Binding, **change: Any) -> dict[str, Any]:
    header = {
        "alg": "Ed25519",
        "kid": "katrin-2026",
        "typ": jws.TYP,
        "crit": list(jws.BINDING),
        "review": binding.review,
        "revision": binding.revision,
        "digest": binding.digest,
        "signer_tenant": binding.signer.tenant,
        "signer_subject": binding.signer.subject,
        "iat": 1_790_000_000,
    }
    return {k: v for k, v in {**header, **change}.items() if v is not None}


Attempt = tuple[uuid.UUID, str, str]  # target review, signer label, JWS
Case = Callable[[Runtime, Scene, Abuse], Any]


async def _foreign_kid(rt: Runtime, sc: Scene, ab: Abuse) -> Attempt:
    # liam signs with dana's key, naming dana's key id.
    binding = await binding_of(rt, sc, ab.open, sc.signer("liam"))
    return (
        ab.open,
        "liam",
        jws.sign_detached(sc.keys["dana-2026"], kid="dana-2026", binding=binding),
    )


async def _foreign_key_own_kid(rt: Runtime, sc: Scene, ab: Abuse) -> Attempt:
    # dana signs with katrin's key under her own key id: it does not verify.
    binding = await binding_of(rt, sc, ab.open, sc.signer("dana"))
    return (
        ab.open,
        "dana",
        jws.sign_detached(sc.keys["katrin-2026"], kid="dana-2026", binding=binding),
    )


async def _foreign_key_other_alg(rt: Runtime, sc: Scene, ab: Abuse) -> Attempt:
    # liam (a P-256 key) submits an Ed25519 signature made with dana's key under his kid.
    binding = await binding_of(rt, sc, ab.open, sc.signer("liam"))
    return (
        ab.open,
        "liam",
        jws.sign_detached(sc.keys["dana-2026"], kid="liam-2026", binding=binding),
    )


async def _old_signature_on_new_revision(rt: Runtime, sc: Scene, ab: Abuse) -> Attempt:
    return ab.new, "liam", ab.liam_on_old


async def _old_digest_under_new_id(rt: Runtime, sc: Scene, ab: Abuse) -> Attempt:
    old = await binding_of(rt, sc, ab.old, sc.signer("liam"))
    new = await binding_of(rt, sc, ab.new, sc.signer("liam"))
    binding = Binding(new.review, new.revision, old.digest, new.signer)
    return ab.new, "liam", jws.sign_detached(sc.keys["liam-2026"], kid="liam-2026", binding=binding)


async def _replay_on_other_review(rt: Runtime, sc: Scene, ab: Abuse) -> Attempt:
    return ab.other, "katrin", ab.katrin_on_open


async def _sign_superseded_revision(rt: Runtime, sc: Scene, ab: Abuse) -> Attempt:
    return ab.old, "dana", await signed_by(rt, sc, ab.old, "dana")


async def _not_a_signatory(rt: Runtime, sc: Scene, ab: Abuse) -> Attempt:
    return ab.open, "hanna", await signed_by(rt, sc, ab.open, "hanna", kid="hanna-2026")


async def _someone_elses_signature(rt: Runtime, sc: Scene, ab: Abuse) -> Attempt:
    return ab.open, "liam", await signed_by(rt, sc, ab.open, "dana")


async def _already_signed(rt: Runtime, sc: Scene, ab: Abuse) -> Attempt:
    return ab.open, "katrin", await signed_by(rt, sc, ab.open, "katrin")


async def _revoked_key(rt: Runtime, sc: Scene, ab: Abuse) -> Attempt:
    return ab.open, "dana", await signed_by(rt, sc, ab.open, "dana", kid="dana-old")


async def _draft(rt: Runtime, sc: Scene, ab: Abuse) -> Attempt:
    binding = Binding(str(ab.draft), 1, "0" * 64, sc.signer("dana"))
    return (
        ab.draft,
        "dana",
        jws.sign_detached(sc.keys["dana-2026"], kid="dana-2026", binding=binding),
    )


async def _wrong_revision(rt: Runtime, sc: Scene, ab: Abuse) -> Attempt:
    b = await binding_of(rt, sc, ab.open, sc.signer("dana"))
    binding = Binding(b.review, 2, b.digest, b.signer)
    return (
        ab.open,
        "dana",
        jws.sign_detached(sc.keys["dana-2026"], kid="dana-2026", binding=binding),
    )


async def _wrong_digest(rt: Runtime, sc: Scene, ab: Abuse) -> Attempt:
    b = await binding_of(rt, sc, ab.open, sc.signer("dana"))
    binding = Binding(b.review, b.revision, hashlib.sha256(b"other").hexdigest(), b.signer)
    return (
        ab.open,
        "dana",
        jws.sign_detached(sc.keys["dana-2026"], kid="dana-2026", binding=binding),
    )


async def _unknown_review(rt: Runtime, sc: Scene, ab: Abuse) -> Attempt:
    return uuid.UUID(int=7), "dana", await signed_by(rt, sc, ab.open, "dana")


def _crafted(**change: Any) -> Case:
    """A JWS of dana's with a hand-made header (and a real signature over it)."""

    async def make(rt: Runtime, sc: Scene, ab: Abuse) -> Attempt:
        binding = await binding_of(rt, sc, ab.open, sc.signer("dana"))
        header = _header(binding, kid="dana-2026", **change)
        protected = _segment(header)
        key = sc.keys["dana-2026"]
        assert isinstance(key, Ed25519PrivateKey)
        signature = key.sign(jws.signing_input(protected, binding.digest))
        return ab.open, "dana", f"{protected}..{jws.b64url_encode(signature)}"

    return make


def _raw(value: Callable[[str], str]) -> Case:
    """A variation of dana's genuine JWS."""

    async def make(rt: Runtime, sc: Scene, ab: Abuse) -> Attempt:
        return ab.open, "dana", value(await signed_by(rt, sc, ab.open, "dana"))

    return make


async def _alg_none(rt: Runtime, sc: Scene, ab: Abuse) -> Attempt:
    binding = await binding_of(rt, sc, ab.open, sc.signer("dana"))
    return ab.open, "dana", f"{_segment(_header(binding, alg='none', kid='dana-2026'))}.."


async def _hs256_with_the_public_key(rt: Runtime, sc: Scene, ab: Abuse) -> Attempt:
    # The classic confusion: HMAC keyed with the (public) registered key's bytes.
    binding = await binding_of(rt, sc, ab.open, sc.signer("dana"))
    protected = _segment(_header(binding, alg="HS256", kid="dana-2026"))
    secret = base64.urlsafe_b64decode(jws.public_jwk(sc.keys["dana-2026"])["x"] + "=")
    mac = hmac.new(secret, jws.signing_input(protected, binding.digest), hashlib.sha256).digest()
    return ab.open, "dana", f"{protected}..{jws.b64url_encode(mac)}"


def _attached(compact: str) -> str:
    header, _, signature = compact.split(".")
    return f"{header}.{_segment('0' * 64)}.{signature}"


def _duplicate_alg(compact: str) -> str:
    header = jws.b64url_decode(compact.split(".")[0]).decode()
    doubled = header.replace('"alg":"Ed25519",', '"alg":"Ed25519","alg":"ES256",', 1)
    return f"{jws.b64url_encode(doubled.encode())}..{compact.split('.')[2]}"


CASES: dict[str, tuple[Case, ErrorCode, str]] = {
    "another executive's key and kid": (_foreign_kid, ErrorCode.FORBIDDEN, "FOREIGN_KEY"),
    "another executive's key, own kid": (
        _foreign_key_own_kid,
        ErrorCode.FORBIDDEN,
        "SIGNATURE_INVALID",
    ),
    "another executive's key of another algorithm": (
        _foreign_key_other_alg,
        ErrorCode.FORBIDDEN,
        "ALG_KEY_MISMATCH",
    ),
    "old revision's signature": (
        _old_signature_on_new_revision,
        ErrorCode.CONFLICT,
        "STALE_DIGEST",
    ),
    "old digest under the new id": (_old_digest_under_new_id, ErrorCode.CONFLICT, "STALE_DIGEST"),
    "replay on another review": (_replay_on_other_review, ErrorCode.CONFLICT, "REVIEW_MISMATCH"),
    "signing after the content changed": (
        _sign_superseded_revision,
        ErrorCode.CONFLICT,
        "REVIEW_SUPERSEDED",
    ),
    "not a required signatory": (_not_a_signatory, ErrorCode.FORBIDDEN, "NOT_A_SIGNATORY"),
    "someone else's signature": (_someone_elses_signature, ErrorCode.FORBIDDEN, "SIGNER_MISMATCH"),
    "signing twice": (_already_signed, ErrorCode.CONFLICT, "ALREADY_SIGNED"),
    "revoked key": (_revoked_key, ErrorCode.FORBIDDEN, "KEY_REVOKED"),
    "draft": (_draft, ErrorCode.CONFLICT, "REVIEW_NOT_FROZEN"),
    "wrong revision": (_wrong_revision, ErrorCode.CONFLICT, "REVISION_MISMATCH"),
    "wrong digest": (_wrong_digest, ErrorCode.CONFLICT, "DIGEST_MISMATCH"),
    "unknown review": (_unknown_review, ErrorCode.NOT_FOUND, "UNKNOWN_REVIEW"),
    "alg none": (_alg_none, ErrorCode.BAD_USER_INPUT, "ALG_NOT_ALLOWED"),
    "alg HS256": (_hs256_with_the_public_key, ErrorCode.BAD_USER_INPUT, "ALG_NOT_ALLOWED"),
    "alg RS256": (_crafted(alg="RS256"), ErrorCode.BAD_USER_INPUT, "ALG_NOT_ALLOWED"),
    "not a JWS": (_raw(lambda _: "not-a-jws"), ErrorCode.BAD_USER_INPUT, "MALFORMED_JWS"),
    "attached payload": (_raw(_attached), ErrorCode.BAD_USER_INPUT, "MALFORMED_JWS"),
    "truncated signature": (_raw(lambda c: c[:-4]), ErrorCode.BAD_USER_INPUT, "MALFORMED_JWS"),
    "header not JSON": (
        _raw(lambda c: _segment("{alg") + c[c.index(".") :]),
        ErrorCode.BAD_USER_INPUT,
        "MALFORMED_JWS",
    ),
    "duplicate header parameter": (_raw(_duplicate_alg), ErrorCode.BAD_USER_INPUT, "MALFORMED_JWS"),
    "binding not critical": (_crafted(crit=["review"]), ErrorCode.BAD_USER_INPUT, "MALFORMED_JWS"),
    "digest claim missing": (
        _crafted(digest=None),
        ErrorCode.BAD_USER_INPUT,
        "MALFORMED_JWS",
    ),
    "embedded key": (
        _crafted(jwk={"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}),
        ErrorCode.BAD_USER_INPUT,
        "MALFORMED_JWS",
    ),
}


async def _state(runtime: Runtime, scene: Scene) -> tuple[Any, ...]:
    async with tenant_session(runtime, scene.owner.slug) as session:
        signatures = (
            await session.execute(
                select(ReviewSignature.id, ReviewSignature.superseded_at).order_by(
                    ReviewSignature.id
                )
            )
        ).all()
        reviews = (
            await session.execute(
                select(
                    ManagementReview.id, ManagementReview.status, ManagementReview.updated_at
                ).order_by(ManagementReview.id)
            )
        ).all()
        events = await session.scalar(select(func.count()).select_from(EventLogEntry))
    return tuple(signatures), tuple(reviews), events


@pytest.mark.parametrize(("case", "code", "reason"), CASES.values(), ids=list(CASES))
async def test_abuse_is_refused_logged_and_changes_nothing(
    runtime: Runtime, scene: Scene, abuse: Abuse, case: Case, code: ErrorCode, reason: str
) -> None:
    target, label, attempt = await case(runtime, scene, abuse)
    signatures, reviews, count = await _state(runtime, scene)
    with pytest.raises(SignatureRefused) as refused:
        await signature_flows.sign_review(
            runtime,
            tenant=scene.owner.slug,
            review_id=target,
            signer=scene.signer(label),
            jws=attempt,
        )
    assert (refused.value.code, refused.value.reason) == (code, reason), refused.value.message
    assert await _state(runtime, scene) == (signatures, reviews, count + 1)
    logged = (await events(runtime, scene.owner, target))[-1]
    assert (logged.action, logged.actor) == (
        "review.signature_refused",
        f"user:{scene.signer(label)}",
    )
    assert logged.change["reason"] == reason and logged.change["code"] == code.value
    assert logged.change["message"] == refused.value.message
    assert logged.change["jws_sha256"] == hashlib.sha256(attempt.encode()).hexdigest()


async def test_refusal_messages_name_what_is_wrong(
    runtime: Runtime, scene: Scene, abuse: Abuse
) -> None:
    liam, dana = scene.signer("liam"), scene.signer("dana")

    async def refusal(case: Case) -> str:
        target, label, attempt = await case(runtime, scene, abuse)
        with pytest.raises(SignatureRefused) as refused:
            await signature_flows.sign_review(
                runtime,
                tenant=scene.owner.slug,
                review_id=target,
                signer=scene.signer(label),
                jws=attempt,
            )
        return refused.value.message

    old = await binding_of(runtime, scene, abuse.old, liam)
    new = await binding_of(runtime, scene, abuse.new, liam)
    assert await refusal(_foreign_kid) == (
        f"Key 'dana-2026' is registered to {dana}, not to {liam}: each executive signs with "
        "their own key."
    )
    assert await refusal(_old_signature_on_new_revision) == (
        f"The signature is over revision 1 (digest {old.digest}); this review is at revision "
        f"2 (digest {new.digest}). Sign the current content."
    )
    assert await refusal(_sign_superseded_revision) == (
        f"Revision 1 was changed: revision 2 ({abuse.new}) replaces it, and its signatures no "
        "longer count; sign the latest revision."
    )
    assert await refusal(_alg_none) == (
        "Algorithm 'none' is not allowed; review signatures use Ed25519 (EdDSA) or ES256."
    )
    assert await refusal(_raw(_attached)) == (
        "Malformed JWS: the payload must be detached (header..signature, RFC 7515 App. F)."
    )


async def test_a_new_revision_supersedes_the_signatures_visibly(
    runtime: Runtime, scene: Scene
) -> None:
    first_id = await frozen_review(runtime, scene, title="Superseded review")
    await sign(runtime, scene, first_id, "katrin")
    await sign(runtime, scene, first_id, "liam")
    async with tenant_session(runtime, scene.owner.slug) as session:
        first = await review_service.get_review(session=session, review_id=first_id)
        second = await review_service.new_revision(session=session, actor=AUTHOR, review=first)
        await review_service.edit_review(
            session=session,
            actor=AUTHOR,
            review=second,
            changes={"minutes": REVIEW["minutes"] + " Addendum: the board asked for a cyber item."},
        )
        await review_service.freeze(session=session, actor=AUTHOR, review=second)
        old = await signature_service.list_signatures(session=session, review=first)
    assert [(s.signer_subject, s.superseded_by) for s in old] == [
        ("katrin.maier", second.id),
        ("liam.chen", second.id),
    ]
    assert all(s.superseded_at is not None for s in old)
    log = await events(runtime, scene.owner, first_id)
    assert [e.action for e in log][-3:] == [
        "review.signed",
        "review.signed",
        "review.signatures_superseded",
    ]
    assert log[-1].change == {
        "superseded_by": str(second.id),
        "revision": 2,
        "signatures": sorted(str(s.id) for s in old),
    }
    # The new revision needs every signature anew; the old one is never approved.
    outcomes = [await sign(runtime, scene, second.id, x) for x in ("katrin", "liam", "dana")]
    assert [o.status for o in outcomes] == [ReviewStatus.FROZEN] * 2 + [ReviewStatus.APPROVED]
    assert outcomes[0].missing == [str(scene.signer("liam")), str(scene.signer("dana"))]
    async with (
        tenant_session(runtime, scene.owner.slug) as session,
        runtime.control_session() as control,
    ):
        first = await review_service.get_review(session=session, review_id=first_id)
        assert first.status is ReviewStatus.FROZEN and first.approved_at is None
        assert signature_service.missing_signatories(first, old) == [
            scene.signer(x) for x in ("liam", "dana", "katrin")
        ]
        bundle = await signature_flows.export_bundle(
            session=session, control=control, tenant=scene.owner.slug, review_id=first_id
        )
    assert bundle["review"]["superseded_by"] == str(second.id)
    assert [e["superseded_at"] is not None for e in bundle["signatures"]] == [True, True]
    verdict = bundles.verify_bundle(bundle)
    assert [p.code for p in verdict.problems] == ["MISSING_SIGNATORY"]


async def test_the_database_keeps_signatures_as_recorded(runtime: Runtime, scene: Scene) -> None:
    review_id = await frozen_review(runtime, scene, title="Guarded signatures")
    await sign(runtime, scene, review_id, "dana")
    table = f'"t_{scene.owner.slug}".review_signatures'
    for statement in (
        f"update {table} set jws = 'forged' where review_id = '{review_id}'",
        f"update {table} set content_digest = repeat('0', 64) where review_id = '{review_id}'",
        f"delete from {table} where review_id = '{review_id}'",
    ):
        with pytest.raises(DBAPIError, match="is recorded"):
            async with tenant_session(runtime, scene.owner.slug) as session:
                await session.execute(text(statement))
    async with tenant_session(runtime, scene.owner.slug) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(ReviewSignature)
            .where(ReviewSignature.review_id == review_id)
        )
    assert count == 1


async def test_content_changed_behind_the_frozen_guard_is_not_signed(
    runtime: Runtime, scene: Scene
) -> None:
    """Were the database's frozen-review guard ever bypassed (here: disabled by the schema
    owner for one statement), the service still refuses to sign content whose digest no
    longer matches, and records nothing."""
    review_id = await frozen_review(runtime, scene, title="Changed behind the guard")
    attempt = await signed_by(runtime, scene, review_id, "dana")
    table = f'"t_{scene.owner.slug}".management_reviews'
    async with runtime.stores.migrator_engine(scene.owner.store).begin() as conn:
        await conn.execute(text(f"alter table {table} disable trigger frozen_review_guard"))
        changed = await conn.execute(
            text(f"update {table} set minutes = 'Rewritten after freezing.' where id = :id"),
            {"id": review_id},
        )
        await conn.execute(text(f"alter table {table} enable trigger frozen_review_guard"))
    assert changed.rowcount == 1
    with pytest.raises(SignatureRefused) as refused:
        await signature_flows.sign_review(
            runtime,
            tenant=scene.owner.slug,
            review_id=review_id,
            signer=scene.signer("dana"),
            jws=attempt,
        )
    assert (refused.value.code, refused.value.reason, refused.value.field) == (
        ErrorCode.INTERNAL,
        "CONTENT_DIGEST_MISMATCH",
        "content_digest",
    )
    assert refused.value.message == (
        f"The stored content of review {review_id} no longer matches its digest."
    )
    async with tenant_session(runtime, scene.owner.slug) as session:
        review = await review_service.get_review(session=session, review_id=review_id)
        recorded = await session.scalar(
            select(func.count())
            .select_from(ReviewSignature)
            .where(ReviewSignature.review_id == review_id)
        )
    assert (review.status, review.minutes, recorded) == (
        ReviewStatus.FROZEN,
        "Rewritten after freezing.",
        0,
    )
    logged = (await events(runtime, scene.owner, review_id))[-1]
    assert (logged.action, logged.change["reason"]) == (
        "review.signature_refused",
        "CONTENT_DIGEST_MISMATCH",
    )


TABLES = ("management_reviews", "review_signatures")


async def test_migration_creates_exactly_what_the_model_declares(
    runtime: Runtime, scene: Scene
) -> None:
    schema = f"t_{scene.owner.slug}"
    declared = MetaData()
    for table in (TenantBase.metadata.tables[f"tenant.{n}"] for n in TABLES):
        table.to_metadata(declared, schema=schema, referred_schema_fn=lambda *_: schema)

    def compare(sync: Connection) -> tuple[list[Any], set[str]]:
        context = MigrationContext.configure(
            sync,
            opts={
                "compare_type": True,
                "include_schemas": True,
                "include_name": lambda name, kind, _: (
                    name == schema if kind == "schema" else kind != "table" or name in TABLES
                ),
            },
        )
        checks = {
            str(c["name"])
            for c in inspect(sync).get_check_constraints("review_signatures", schema=schema)
        }
        return compare_metadata(context, declared), checks

    async with runtime.stores.migrator_engine(scene.owner.store).connect() as conn:
        differences, checks = await conn.run_sync(compare)
    assert differences == []
    assert checks == {"ck_review_signatures_alg", "ck_review_signatures_superseded"}


# --- the pure helpers ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ed25519", "p256"])
def test_signatures_interoperate_with_another_jose_implementation(kind: str) -> None:
    key = _new_key(kind)
    jwk = jws.public_jwk(key)
    binding = Binding(
        str(uuid.uuid4()), 3, hashlib.sha256(b"content").hexdigest(), Signer("t", "s")
    )
    compact = jws.sign_detached(key, kid="k", binding=binding, signed_at=1_790_000_000)
    public = JWKRegistry.import_key(dict(jwk))
    assert public.thumbprint() == jws.thumbprint(jwk)
    # A generic verifier refuses it until it understands the critical binding parameters …
    with pytest.raises(UnsupportedHeaderError, match="review"):
        joserfc_jws.deserialize_compact(
            compact.replace("..", "." + jws.b64url_encode(binding.digest.encode()) + "."), public
        )
    types = {n: "str" for n in jws.BINDING} | {"revision": "int", "iat": "int"}
    registry = joserfc_jws.JWSRegistry(
        header_registry={n: HeaderParameter(n, t, True) for n, t in types.items()},
        algorithms=["Ed25519", "ES256"],
    )
    # … and then verifies the detached payload (the digest) exactly as Accord does.
    found = joserfc_jws.deserialize_compact(
        compact, public, registry=registry, payload=binding.digest
    )
    assert found.payload == binding.digest.encode()
    with pytest.raises(BadSignatureError):
        joserfc_jws.deserialize_compact(compact, public, registry=registry, payload="0" * 64)
    # The other way round: a JWS made by joserfc verifies with Accord's helpers.
    private = JWKRegistry.import_key({**jwk, "d": jws.b64url_encode(_private_bytes(key))})
    header = _header(binding, alg="Ed25519" if kind == "ed25519" else "ES256", kid="k")
    made = joserfc_jws.serialize_compact(
        header, binding.digest, private, algorithms=["Ed25519", "ES256"], registry=registry
    )
    detached = joserfc_jws.detach_content(made)
    parsed = jws.parse_detached(detached)
    jws.verify_signature(parsed, jwk=jwk, digest=binding.digest)
    assert parsed.binding == binding


def _private_bytes(key: PrivateKey) -> bytes:
    if isinstance(key, Ed25519PrivateKey):
        from cryptography.hazmat.primitives import serialization

        return key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    return key.private_numbers().private_value.to_bytes(32, "big")


def test_the_review_document_type_is_the_one_bundles_check() -> None:
    assert jws.REVIEW_DOCUMENT_TYPE == DOCUMENT_TYPE


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("AQ", None),
        ("AR", "non-canonical"),  # the unused low bits are not zero
        ("AQ==", "not base64url"),
        ("A+B/", "not base64url"),
        ("A", "not base64url"),
    ],
)
def test_base64url_is_decoded_strictly(text: str, problem: str | None) -> None:
    if problem is None:
        assert jws.b64url_decode(text) == b"\x01"
    else:
        with pytest.raises(ValueError, match=problem):
            jws.b64url_decode(text)
