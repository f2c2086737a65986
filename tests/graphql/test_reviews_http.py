"""Management review sign-off over HTTP, with real tokens of three tenants' members.

northwind-like ``owner`` compiles and owns the review; the executives of the owner,
``partner`` (second store) and ``third`` sign it with their own Ed25519 / P-256 keys. The
owner shares ``management_review`` with both partners in full; a RACI matrix of the review
process makes the owner's quality manager Responsible for compiling and each tenant's
executive Accountable for its own sign-off. Each signer reads the bundle, recomputes the
digest from the content, signs it locally and submits only the detached JWS.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from accord.compliance.reviews.models import ManagementReview
from accord.compliance.reviews.signatures import bundles as bundles
from accord.compliance.reviews.signatures import jws as jws
from accord.compliance.reviews.signatures.jws import Binding
from accord.compliance.reviews.signatures.models import ReviewSignature
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.policies import service as policy_service
from accord.tenants.agreements.access import read_access_log
from accord.tenants.models import Tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, TenantFactory
from tests.factories.api import payload
from tests.factories.audit_api import record_id
from tests.factories.review_api import (
    ASSIGN,
    BUNDLE,
    CREATE,
    FREEZE,
    REVIEW_FIELDS,
    Member,
    binding_of,
    bundle_of,
    review_matrix,
    sign,
    sign_in,
    signature,
    submit,
)
from tests.factories.sharing import grant
from tests.graphql.conftest import Api

COMPILE = f"""
mutation($id: ID!, $process: String) {{
  compileReviewInputs(reviewId: $id, process: $process,
                      externalInternalIssues: "Supplier base consolidating.") {{
    review {{ {REVIEW_FIELDS} inputs }}
    errors {{ field code reason reasonCode }}
  }}
}}
"""
REVISE = f"""
mutation($id: ID!, $input: ManagementReviewChangesInput, $process: String) {{
  reviseManagementReview(reviewId: $id, input: $input, process: $process) {{
    review {{ {REVIEW_FIELDS} previousId }}
    errors {{ field code reason reasonCode }}
  }}
}}
"""


async def compile_review(
    api: Api, compiler: Member, process: str, title: str, **content: Any
) -> dict[str, Any]:
    """Create, assign signatories from the RACI, compile inputs and freeze: the review."""
    review_input = {
        "process": process,
        "title": title,
        "periodStart": "2026-10-01",
        "periodEnd": "2026-12-31",
        "standards": ["iso9001:2015"],
        "minutes": "Attendees: the managing directors and the QHSE leads.",
        "decisions": [
            {"text": "Joint supplier audit in Q1", "owner": "user:hanna", "dueAt": "2027-03-31"}
        ],
        **content,
    }
    created = payload(
        await api.post(CREATE, {"input": review_input}, token=compiler.token),
        "createManagementReview",
    )
    assert created["errors"] == [], created
    review: dict[str, Any] = created["review"]
    for document, name in ((ASSIGN, "assignReviewSignatories"), (COMPILE, "compileReviewInputs")):
        done = payload(
            await api.post(
                document, {"id": review["id"], "process": process}, token=compiler.token
            ),
            name,
        )
        assert done["errors"] == [], done
    frozen = payload(
        await api.post(FREEZE, {"id": review["id"], "process": process}, token=compiler.token),
        "freezeManagementReview",
    )
    assert frozen["errors"] == [], frozen
    review = frozen["review"]
    assert review["status"] == "FROZEN" and review["contentDigest"]
    return review


def codes(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(generic class, typed domain reason) of each error; the deprecated text agrees."""
    assert all(e["reason"] == e["reasonCode"] for e in result["errors"]), result["errors"]
    return [(e["code"], e["reasonCode"]) for e in result["errors"]]


@dataclass(frozen=True)
class Network:
    owner: Tenant
    partner: Tenant
    third: Tenant
    process: str
    hanna: Member  # owner's quality manager: compiles
    katrin: Member  # owner's executive, Ed25519
    liam: Member  # partner's executive, P-256 (second store)
    dana: Member  # third's executive, Ed25519


@pytest.fixture
async def network(api: Api, make_tenant: TenantFactory) -> AsyncIterator[Network]:
    owner = await make_tenant(label="nw")
    partner = await make_tenant(SECOND_STORE, label="gx")
    third = await make_tenant(label="md")
    for grantee in (partner, third):
        await grant(
            api.runtime, owner.slug, grantee.slug, "full", record_types=["management_review"]
        )
    process = f"network-mr-{secrets.token_hex(4)}"
    name = await api.import_matrix(review_matrix(process, owner.slug, partner.slug, third.slug))
    yield Network(
        owner,
        partner,
        third,
        process,
        hanna=await sign_in(api, owner, "hanna", "quality_manager"),
        katrin=await sign_in(api, owner, "katrin", "executive", "ed25519"),
        liam=await sign_in(api, partner, "liam", "executive", "p256"),
        dana=await sign_in(api, third, "dana", "executive", "ed25519"),
    )
    async with api.runtime.control_session() as session:
        await policy_service.delete_matrix(session=session, name=name)


async def test_three_executives_of_three_tenants_sign_and_the_review_is_approved(
    api: Api, network: Network
) -> None:
    net = network
    review = await compile_review(api, net.hanna, net.process, "Network management review Q4")
    assert review["tenant"] == net.owner.slug
    assert review["requiredSignatories"] == [
        {"tenant": t, "subject": s, "role": "executive"}
        for t, s in sorted(
            [(net.owner.slug, "katrin"), (net.partner.slug, "liam"), (net.third.slug, "dana")]
        )
    ]
    digest = review["contentDigest"]

    outcomes = [await sign(api, m, review["id"], net.process) for m in (net.liam, net.dana)]
    # The owner's own executive signs without naming the process: baseline rights suffice.
    outcomes.append(await sign(api, net.katrin, review["id"], None))
    assert [o["errors"] for o in outcomes] == [[], [], []]
    assert [(o["signature"]["signer"], o["signature"]["alg"]) for o in outcomes] == [
        (f"{net.partner.slug}/liam", "ES256"),
        (f"{net.third.slug}/dana", "Ed25519"),
        (f"{net.owner.slug}/katrin", "Ed25519"),
    ]
    assert {o["signature"]["contentDigest"] for o in outcomes} == {digest}
    assert [o["signature"]["missing"] for o in outcomes] == [
        sorted([f"{net.third.slug}/dana", f"{net.owner.slug}/katrin"]),
        [f"{net.owner.slug}/katrin"],
        [],
    ]
    assert [o["review"]["status"] for o in outcomes] == ["FROZEN", "FROZEN", "APPROVED"]
    assert outcomes[-1]["review"]["approvedBy"] == f"user:{net.owner.slug}/katrin"

    # The bundle verifies with nothing but itself, for the owner's compiler as for a partner.
    bundle = await bundle_of(api, net.hanna, review["id"], net.process)
    verdict = bundles.verify_bundle(bundle)
    assert verdict.ok, verdict.problems
    assert (verdict.review, verdict.digest) == (str(record_id(review["id"])), digest)
    assert len(verdict.signed) == 3 and bundle["review"]["status"] == "approved"

    # Every read of the partners (bundles, payloads) is in the owner's access log.
    async with tenant_session(api.runtime, net.owner.slug) as session:
        logged = list(await read_access_log(session=session))
    assert {(e.grantee, e.principal, e.record_type, e.level) for e in logged} == {
        (net.partner.slug, f"{net.partner.slug}/liam", "management_review", "full"),
        (net.third.slug, f"{net.third.slug}/dana", "management_review", "full"),
    }
    assert len(logged) == 4  # one bundle and one signing payload each

    async with tenant_session(api.runtime, net.owner.slug) as session:
        assert (await verify_chain(session)).ok
        actions = list(
            await session.scalars(
                select(EventLogEntry.action)
                .where(EventLogEntry.record_id == str(record_id(review["id"])))
                .order_by(EventLogEntry.seq)
            )
        )
    assert actions == [
        "review.created",
        "review.edited",
        "review.compiled",
        "review.frozen",
        *["review.signed"] * 3,
        "review.approved",
    ]


async def _state(api: Api, slug: str) -> tuple[Any, ...]:
    """Signatures, reviews (status, last change) and the length of the owner's log."""
    async with tenant_session(api.runtime, slug) as session:
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


async def _last_event(api: Api, slug: str, review: str) -> EventLogEntry:
    async with tenant_session(api.runtime, slug) as session:
        entry = await session.scalar(
            select(EventLogEntry)
            .where(EventLogEntry.record_id == str(record_id(review)))
            .order_by(EventLogEntry.seq.desc())
            .limit(1)
        )
    assert entry is not None
    return entry


async def test_forged_stale_and_replayed_signatures_are_refused_and_change_nothing(
    api: Api, network: Network, make_tenant: TenantFactory
) -> None:
    net = network
    owner = net.owner.slug
    first = await compile_review(api, net.hanna, net.process, "Review to be revised")
    other = await compile_review(api, net.hanna, net.process, "Another review")
    first_bundle = await bundle_of(api, net.hanna, first["id"], net.process)
    katrin_on_first = signature(net.katrin, binding_of(first_bundle, net.katrin))
    signed = await submit(api, net.katrin, first["id"], katrin_on_first, net.process)
    assert signed["errors"] == []
    liam_on_first = signature(net.liam, binding_of(first_bundle, net.liam))

    # A change after the first signature: a new revision, frozen; katrin's signature lapses.
    revised = payload(
        await api.post(
            REVISE,
            {
                "id": first["id"],
                "input": {"minutes": "Addendum: the board asked for a cyber item."},
                "process": net.process,
            },
            token=net.hanna.token,
        ),
        "reviseManagementReview",
    )
    assert revised["errors"] == [], revised
    assert (revised["review"]["revision"], revised["review"]["status"]) == (2, "DRAFT")
    assert revised["review"]["previousId"] == str(record_id(first["id"]))
    second_id = revised["review"]["id"]
    frozen = payload(
        await api.post(FREEZE, {"id": second_id, "process": net.process}, token=net.hanna.token),
        "freezeManagementReview",
    )
    assert frozen["review"]["contentDigest"] not in (None, first["contentDigest"])
    second_bundle = await bundle_of(api, net.liam, second_id, net.process)
    new = binding_of(second_bundle, net.liam)
    old_digest = Binding(new.review, new.revision, first["contentDigest"], new.signer)

    wrong_digest = Binding(new.review, new.revision, "ab" * 32, new.signer)
    attempts: list[tuple[str, Member, str, str, tuple[str, str]]] = [
        # (what, submitted by, review, JWS, expected refusal)
        (
            "another executive's key",
            net.liam,
            second_id,
            signature(net.liam, new, key_of=net.dana),
            ("FORBIDDEN", "FOREIGN_KEY"),
        ),
        (
            "the old revision's signature on the new one",
            net.liam,
            second_id,
            liam_on_first,
            ("CONFLICT", "STALE_DIGEST"),
        ),
        (
            "the old digest under the new revision",
            net.liam,
            second_id,
            signature(net.liam, old_digest),
            ("CONFLICT", "STALE_DIGEST"),
        ),
        (
            "the superseded revision",
            net.liam,
            first["id"],
            liam_on_first,
            ("CONFLICT", "REVIEW_SUPERSEDED"),
        ),
        (
            "a replay on another review",
            net.katrin,
            other["id"],
            katrin_on_first,
            ("CONFLICT", "REVIEW_MISMATCH"),
        ),
        (
            "a digest of other content",
            net.liam,
            second_id,
            signature(net.liam, wrong_digest),
            ("CONFLICT", "DIGEST_MISMATCH"),
        ),
        (
            "someone else's genuine signature (the signer is the token's)",
            net.liam,
            second_id,
            signature(net.dana, binding_of(second_bundle, net.dana)),
            ("FORBIDDEN", "SIGNER_MISMATCH"),
        ),
    ]
    for what, who, target, compact, expected in attempts:
        before = await _state(api, owner)
        refused = await submit(api, who, target, compact, net.process)
        assert codes(refused) == [expected], what
        assert refused["signature"] is None and refused["review"] is None
        signatures, reviews, events = await _state(api, owner)
        assert (signatures, reviews, events) == (*before[:2], before[2] + 1), what
        logged = await _last_event(api, owner, target)
        assert (logged.action, logged.actor) == (
            "review.signature_refused",
            f"user:{who.tenant}/{who.subject}",
        ), what
        assert logged.change["reason"] == expected[1]

    # The compiler is no signatory: the action gate refuses before any signature is looked
    # at, and the attempt is logged against the review.
    hanna_binding = Binding(new.review, new.revision, new.digest, net.hanna.signer)
    before = await _state(api, owner)
    forged = jws.sign_detached(Ed25519PrivateKey.generate(), kid="x", binding=hanna_binding)
    refused = await submit(api, net.hanna, second_id, forged, net.process)
    assert codes(refused) == [("FORBIDDEN", "ACTION_DENIED")]
    assert (await _state(api, owner))[:2] == before[:2]
    logged = await _last_event(api, owner, second_id)
    assert (logged.action, logged.actor, logged.change["attempt"]) == (
        "management_review.refused",
        f"user:{owner}/hanna",
        "sign",
    )

    # Without an agreement the review does not exist for an outsider; a summary is not
    # enough to sign (nor to read) content.
    outsider_tenant = await make_tenant(label="it")
    outsider = await sign_in(api, outsider_tenant, "conor", "executive", "ed25519")
    stranger = signature(outsider, Binding(new.review, new.revision, new.digest, outsider.signer))
    before = await _state(api, owner)
    unseen = await submit(api, outsider, second_id, stranger, None)
    assert codes(unseen) == [("NOT_FOUND", "MANAGEMENT_REVIEW_NOT_FOUND")]
    body = await api.post(BUNDLE, {"id": second_id}, token=outsider.token)
    assert body["errors"][0]["extensions"]["reason"] == "MANAGEMENT_REVIEW_NOT_FOUND"
    assert body["data"] is None
    await grant(
        api.runtime, owner, outsider_tenant.slug, "summary", record_types=["management_review"]
    )
    summary = await submit(api, outsider, second_id, stranger, None)
    assert codes(summary) == [("FORBIDDEN", "NOT_SHARED_IN_FULL")]
    assert await _state(api, owner) == before  # an outsider's probing writes nothing

    # The genuine signatures still go through, and approve the new revision only.
    for who in (net.katrin, net.liam, net.dana):
        done = await sign(api, who, second_id, net.process)
        assert done["errors"] == [], done
    assert done["review"]["status"] == "APPROVED"
    old = await bundle_of(api, net.hanna, first["id"], net.process)
    assert old["review"]["status"] == "frozen" and old["review"]["superseded_by"] == str(
        record_id(second_id)
    )
    assert [p.code for p in bundles.verify_bundle(old).problems] == ["MISSING_SIGNATORY"] * 2


async def test_compiling_is_the_responsible_party_s_work(api: Api, network: Network) -> None:
    net = network
    review_input = {
        "process": net.process,
        "title": "Compiled by the wrong party",
        "periodStart": "2026-10-01",
        "periodEnd": "2026-12-31",
        "standards": ["iso9001:2015"],
    }
    # A partner's executive may not create the owner's review, nor the owner's executive
    # under the review process (only the sign-off is theirs there).
    for who, tenant, reason in (
        (net.liam, net.owner.slug, "ACTION_DENIED"),
        (net.katrin, None, "ACTION_DENIED"),
    ):
        refused = payload(
            await api.post(CREATE, {"input": {**review_input, "tenant": tenant}}, token=who.token),
            "createManagementReview",
        )
        assert codes(refused) == [("FORBIDDEN", reason)]
    created = payload(
        await api.post(CREATE, {"input": review_input}, token=net.hanna.token),
        "createManagementReview",
    )
    rid = created["review"]["id"]
    early = payload(
        await api.post(FREEZE, {"id": rid, "process": net.process}, token=net.hanna.token),
        "freezeManagementReview",
    )
    assert [(e["field"], e["code"], e["reason"]) for e in early["errors"]] == [
        ("inputs", "CONFLICT", "INPUTS_NOT_COMPILED")
    ]
    body = await api.post(BUNDLE, {"id": rid, "process": net.process}, token=net.hanna.token)
    assert body["errors"][0]["extensions"]["reason"] == "REVIEW_NOT_FROZEN"
    by_partner = payload(
        await api.post(COMPILE, {"id": rid, "process": net.process}, token=net.liam.token),
        "compileReviewInputs",
    )
    assert codes(by_partner) == [("FORBIDDEN", "ACTION_DENIED")]
    async with tenant_session(api.runtime, net.owner.slug) as session:
        refused = list(
            await session.scalars(
                select(EventLogEntry)
                .where(
                    EventLogEntry.record_id == str(record_id(rid)),
                    EventLogEntry.action == "management_review.refused",
                )
                .order_by(EventLogEntry.seq)
            )
        )
    # The partner may not read the owner's reviews (it signs, and is no signatory of this
    # one): for it the review does not exist, so its attempt leaves no trace in the log.
    assert [(e.actor, e.change["attempt"], e.change["reason"]) for e in refused] == [
        (f"user:{net.owner.slug}/hanna", "freeze", "INPUTS_NOT_COMPILED"),
    ]


EDIT = f"""
mutation($id: ID!, $input: ManagementReviewChangesInput!, $process: String) {{
  editManagementReview(reviewId: $id, input: $input, process: $process) {{
    review {{ {REVIEW_FIELDS} }}
    errors {{ field code reason reasonCode message }}
  }}
}}
"""


async def test_only_registered_members_can_be_named_to_sign(api: Api, network: Network) -> None:
    net = network
    ghost = {"tenant": net.partner.slug, "subject": "nobody.here", "role": "executive"}
    real = {"tenant": net.partner.slug, "subject": "liam", "role": "executive"}
    review_input = {
        "process": net.process,
        "title": "Q4 review",
        "periodStart": "2026-10-01",
        "periodEnd": "2026-12-31",
        "standards": ["iso9001:2015"],
    }

    async def reviews() -> int:
        async with tenant_session(api.runtime, net.owner.slug) as session:
            return int(await session.scalar(select(func.count()).select_from(ManagementReview)))

    before = await reviews()
    refused = payload(
        await api.post(
            CREATE,
            {"input": {**review_input, "requiredSignatories": [real, ghost]}},
            token=net.hanna.token,
        ),
        "createManagementReview",
    )
    assert refused["review"] is None
    [error] = refused["errors"]
    assert (error["field"], error["code"], error["reason"]) == (
        "requiredSignatories",
        "BAD_USER_INPUT",
        "SIGNATORY_NOT_A_MEMBER",
    )
    assert await reviews() == before, "nothing written"

    created = payload(
        await api.post(
            CREATE,
            {"input": {**review_input, "requiredSignatories": [real]}},
            token=net.hanna.token,
        ),
        "createManagementReview",
    )
    assert created["errors"] == [] and created["review"]["requiredSignatories"] == [real]
    rid = created["review"]["id"]
    edited = payload(
        await api.post(
            EDIT,
            {"id": rid, "input": {"requiredSignatories": [ghost]}, "process": net.process},
            token=net.hanna.token,
        ),
        "editManagementReview",
    )
    assert codes(edited) == [("BAD_USER_INPUT", "SIGNATORY_NOT_A_MEMBER")]
    assert f"{net.partner.slug}/nobody.here" in edited["errors"][0]["message"]
    # Who may not compile learns nothing about membership: the gates answer first.
    by_partner = payload(
        await api.post(
            EDIT,
            {"id": rid, "input": {"requiredSignatories": [ghost]}, "process": net.process},
            token=net.liam.token,
        ),
        "editManagementReview",
    )
    assert [e["code"] for e in by_partner["errors"]] in (["FORBIDDEN"], ["NOT_FOUND"])


def test_the_error_codes_mirror_the_platform_s() -> None:
    from graphql import GraphQLEnumType

    from accord.graphql.schema import schema
    from accord.platform.errors import ErrorCode

    enum = schema._schema.get_type("ManagementReviewErrorCode")
    assert isinstance(enum, GraphQLEnumType)
    assert [(name, v.value) for name, v in enum.values.items()] == [
        (c.name, c.value) for c in ErrorCode
    ]
