"""Management reviews in the services: the review input, the sign-off matrix, signers."""

from __future__ import annotations

from datetime import date
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.compliance.reviews.signatures import jws as jws
from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service
from accord.tenants.identity import member_keys
from accord.tenants.models import Tenant
from tests.factories import raci

REVIEW: dict[str, Any] = {
    "title": "Network management review Q4 2026",
    "period_start": date(2026, 10, 1),
    "period_end": date(2026, 12, 31),
    "standards": ["iso9001:2015"],
    "minutes": "Attendees: the three managing directors and the QHSE leads.",
    "decisions": [
        {"text": "Joint supplier audit in Q1", "owner": "user:hanna.vogt", "due_at": "2027-03-31"}
    ],
}


PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey


def sign_off_matrix(tag: str, process: str, owners: list[str]) -> str:
    """One sign-off activity per owner, Accountable: that owner's executive role."""
    first = owners[0]
    return raci.matrix(
        name=f"Management review sign-off {tag} {process}",
        process=process,
        owners=owners,
        activities=[
            raci.Activity("Compile the review", "management_review", ["respond"], [first]),
            *(raci.Activity(f"Sign off {t}", "management_review", ["sign"], [t]) for t in owners),
        ],
        raci={
            "Compile the review": {
                f"role:{first}/quality_manager": "R",
                f"role:{first}/executive": "A",
            },
            **{f"Sign off {t}": {f"role:{t}/executive": "A"} for t in owners},
        },
    )


async def add_signer(
    runtime: Runtime,
    tenant: Tenant,
    subject: str,
    roles: list[str],
    key: PrivateKey,
    kid: str | None,
) -> None:
    async with runtime.control_session() as control:
        member = await tenant_service.add_member(
            session=control,
            tenant=tenant,
            subject=subject,
            display_name=subject.replace(".", " ").title(),
            roles=roles,
        )
        jwk: dict[str, Any] = jws.public_jwk(key)
        if kid is not None:
            jwk["kid"] = kid
        await member_keys.add_member_key(
            session=control, member=member, jwk=jwk, alg=jws.key_algorithm(jwk)
        )
