"""Management reviews over HTTP: members with signing keys, the review mutations, signing."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.compliance.reviews.signatures import jws as jws
from accord.compliance.reviews.signatures.jws import Binding, Signer
from accord.platform.canonical import canonical_digest
from accord.tenants import service as tenant_service
from accord.tenants.identity import member_keys
from accord.tenants.models import Tenant
from tests.factories.api import payload
from tests.factories.reviews import sign_off_matrix
from tests.graphql.conftest import Api

REVIEW_FIELDS = "id tenant status revision contentDigest requiredSignatories approvedBy"


CREATE = f"""
mutation($input: CreateManagementReviewInput!) {{
  createManagementReview(input: $input) {{
    review {{ {REVIEW_FIELDS} }}
    errors {{ field code reason reasonCode }}
  }}
}}
"""


ASSIGN = f"""
mutation($id: ID!, $process: String!) {{
  assignReviewSignatories(reviewId: $id, process: $process) {{
    review {{ {REVIEW_FIELDS} }}
    errors {{ field code reason reasonCode }}
  }}
}}
"""


FREEZE = f"""
mutation($id: ID!, $process: String) {{
  freezeManagementReview(reviewId: $id, process: $process) {{
    review {{ {REVIEW_FIELDS} }}
    errors {{ field code reason reasonCode }}
  }}
}}
"""


SIGN = f"""
mutation($id: ID!, $jws: String!, $process: String) {{
  signManagementReview(reviewId: $id, jws: $jws, process: $process) {{
    signature {{ id signer revision contentDigest kid alg missing }}
    review {{ {REVIEW_FIELDS} }}
    errors {{ field code reason reasonCode message }}
  }}
}}
"""


BUNDLE = (
    "query($id: ID!, $process: String) { signedReviewBundle(reviewId: $id, process: $process) }"
)


PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Member:
    """A signed-in member: token, identity, and (executives) a registered signing key."""

    tenant: str
    subject: str
    token: str
    key: PrivateKey | None = None
    kid: str | None = None

    @property
    def signer(self) -> Signer:
        return Signer(self.tenant, self.subject)


async def sign_in(
    api: Api, tenant: Tenant, subject: str, role: str, kind: str | None = None
) -> Member:
    """A member with ``role``; with ``kind`` ("ed25519" / "p256") also a registered key."""
    token = await api.sign_in(tenant, subject, role)
    if kind is None:
        return Member(tenant.slug, subject, token)
    key: PrivateKey = (
        Ed25519PrivateKey.generate()
        if kind == "ed25519"
        else ec.generate_private_key(ec.SECP256R1())
    )
    kid = f"{subject}-{secrets.token_hex(3)}"
    async with api.runtime.control_session() as control:
        member = next(
            m
            for m in await tenant_service.list_members(session=control, tenant=tenant)
            if m.subject == subject
        )
        jwk = {**jws.public_jwk(key), "kid": kid}
        await member_keys.add_member_key(
            session=control, member=member, jwk=jwk, alg=jws.key_algorithm(jwk)
        )
    return Member(tenant.slug, subject, token, key, kid)


def review_matrix(process: str, owner: str, *partners: str) -> str:
    """The owner's quality manager compiles (R); each tenant's executive signs off its part."""
    return sign_off_matrix(secrets.token_hex(3), process, [owner, *partners])


async def bundle_of(api: Api, who: Member, review: str, process: str | None) -> dict[str, Any]:
    body = await api.post(BUNDLE, {"id": review, "process": process}, token=who.token)
    assert "errors" not in body, body
    bundle: dict[str, Any] = body["data"]["signedReviewBundle"]
    return bundle


def binding_of(bundle: dict[str, Any], who: Member) -> Binding:
    """What a careful signer binds: the digest it recomputed from the content it read."""
    document = bundle["document"]
    digest = canonical_digest(document)
    assert digest == bundle["content_digest"], "the content does not match its digest"
    return Binding(document["id"], document["revision"], digest, who.signer)


def signature(who: Member, binding: Binding, *, key_of: Member | None = None) -> str:
    """``who``'s detached JWS over ``binding`` (made with ``key_of``'s key and kid if given)."""
    holder = key_of or who
    assert holder.key is not None and holder.kid is not None
    return jws.sign_detached(holder.key, kid=holder.kid, binding=binding)


async def submit(
    api: Api, who: Member, review: str, compact: str, process: str | None
) -> dict[str, Any]:
    variables = {"id": review, "jws": compact, "process": process}
    return payload(await api.post(SIGN, variables, token=who.token), "signManagementReview")


async def sign(api: Api, who: Member, review: str, process: str | None) -> dict[str, Any]:
    """Read the bundle, recompute and sign its digest locally, submit the JWS."""
    binding = binding_of(await bundle_of(api, who, review, process), who)
    return await submit(api, who, review, signature(who, binding), process)
