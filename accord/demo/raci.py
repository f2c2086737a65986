"""The demo network's shared processes (RACI) and the first two review signatures.

Processes as the demo story tells them: Supplier quality 2027 (northwind's lead auditor
Accountable for verifying CAPA and closing findings), Joint emergency response, the network
security overview (initech's aggregate share, followed by every partner) and Network
management review Q4 2026 (the other executives Informed of the compiled review they sign).
Executives' signing keys are generated here and their private halves written under
``<data_dir>/demo-keys`` (the server keeps only the public keys), so the remaining
executives can sign from a terminal with ``accord review sign``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.compliance.reviews import service as review_service
from accord.compliance.reviews.signatures import flows as signature_flows
from accord.compliance.reviews.signatures import jws as jws
from accord.compliance.reviews.signatures.jws import Binding, Signer
from accord.platform.runtime import Runtime
from accord.policies import service as policy_service
from accord.tenants import service as tenant_service
from accord.tenants.identity import member_keys
from accord.tenants.sessions import tenant_session

SUPPLIER_QUALITY = "supplier-quality-2027"
EMERGENCY = "joint-emergency-response"
REVIEW_PROCESS = "network-management-review-q4-2026"
#: initech shares its security findings in aggregate only; the partners follow them here.
SECURITY_OVERVIEW = "network-security-overview"

MATRICES = (
    f"""
name: Supplier quality 2027
process: {SUPPLIER_QUALITY}
owners: [globex]
parties: [role:globex/quality_manager, role:northwind/quality_manager,
          role:northwind/auditor, role:meridian/quality_manager]
activities:
  - {{name: Respond and plan CAPA, record_type: finding, actions: [respond, propose_capa]}}
  - {{name: Carry out CAPA actions, record_type: capa,
      actions: [complete_action, propose_capa]}}
  - {{name: Verify CAPA effectiveness, record_type: capa, actions: [verify]}}
  - {{name: Verify and close, record_type: finding, actions: [verify, close]}}
raci:
  Respond and plan CAPA:
    role:globex/quality_manager: R
    role:northwind/quality_manager: A
    role:meridian/quality_manager: I
  Carry out CAPA actions:
    role:globex/quality_manager: R
    role:northwind/quality_manager: A
  Verify CAPA effectiveness:
    role:northwind/auditor: A
    role:northwind/quality_manager: C
    role:globex/quality_manager: C
    role:meridian/quality_manager: I
  Verify and close:
    role:northwind/auditor: A
    role:northwind/quality_manager: C
    role:globex/quality_manager: C
    role:meridian/quality_manager: I
""",
    f"""
name: Joint emergency response
process: {EMERGENCY}
owners: [initech, meridian]
parties: [role:initech/quality_manager, role:meridian/quality_manager,
          role:northwind/quality_manager]
activities:
  - {{name: IT recovery, record_type: incident, actions: [respond]}}
  - {{name: Continuity decisions, record_type: incident, actions: [approve, close]}}
raci:
  IT recovery:
    role:initech/quality_manager: R
    role:meridian/quality_manager: A
    role:northwind/quality_manager: C
  Continuity decisions:
    role:meridian/quality_manager: A
    role:initech/quality_manager: C
    role:northwind/quality_manager: C
""",
    f"""
name: Network security overview
process: {SECURITY_OVERVIEW}
owners: [initech]
parties: [role:initech/quality_manager, role:northwind/quality_manager,
          role:globex/quality_manager, role:meridian/quality_manager]
activities:
  - {{name: Follow security findings, record_type: finding, actions: [close]}}
raci:
  Follow security findings:
    role:initech/quality_manager: A
    role:northwind/quality_manager: I
    role:globex/quality_manager: I
    role:meridian/quality_manager: I
""",
    f"""
name: Network management review Q4 2026
process: {REVIEW_PROCESS}
owners: [northwind, globex, meridian, initech]
parties: [role:northwind/quality_manager, role:northwind/executive, role:globex/executive,
          role:meridian/executive, role:initech/executive]
activities:
  - {{name: Compile the review, record_type: management_review, actions: [respond],
      owners: [northwind]}}
  - {{name: Sign off northwind, record_type: management_review, actions: [sign],
      owners: [northwind]}}
  - {{name: Sign off globex, record_type: management_review, actions: [sign], owners: [globex]}}
  - {{name: Sign off meridian, record_type: management_review, actions: [sign],
      owners: [meridian]}}
  - {{name: Sign off initech, record_type: management_review, actions: [sign],
      owners: [initech]}}
raci:
  Compile the review:
    role:northwind/quality_manager: R
    role:northwind/executive: A
    role:globex/executive: I
    role:meridian/executive: I
    role:initech/executive: I
  Sign off northwind: {{role:northwind/executive: A}}
  Sign off globex: {{role:globex/executive: A}}
  Sign off meridian: {{role:meridian/executive: A}}
  Sign off initech: {{role:initech/executive: A}}
""",
)

EXECUTIVES = (
    ("northwind", "jonas.brandt"),
    ("globex", "david.chen"),
    ("meridian", "tom.hughes"),
    ("initech", "conor.walsh"),
)
#: Who has signed by the time the demo starts ("two of four executives so far").
SIGNED_ALREADY = ("northwind", "globex")


async def import_matrices(runtime: Runtime) -> None:
    async with runtime.control_session() as session:
        for text in MATRICES:
            await policy_service.import_matrix(session=session, text=text, fmt="yaml")


async def executive_keys(runtime: Runtime, key_dir: Path) -> dict[str, Ed25519PrivateKey]:
    """An Ed25519 key per executive: public half registered, private half on disk (0600)."""
    key_dir.mkdir(parents=True, exist_ok=True)
    keys: dict[str, Ed25519PrivateKey] = {}
    async with runtime.control_session() as session:
        for tenant_slug, subject in EXECUTIVES:
            key = Ed25519PrivateKey.generate()
            kid = f"{subject}-2026"
            tenant = await tenant_service.get(session=session, slug=tenant_slug)
            member = next(
                m
                for m in await tenant_service.list_members(session=session, tenant=tenant)
                if m.subject == subject
            )
            await member_keys.add_member_key(
                session=session,
                member=member,
                jwk={**jws.public_jwk(key), "kid": kid},
                alg="Ed25519",
            )
            path = key_dir / f"{tenant_slug}-{subject}.pem"
            path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            path.chmod(0o600)
            keys[tenant_slug] = key
    return keys


async def sign_review_so_far(
    runtime: Runtime, review_id: uuid.UUID, keys: dict[str, Ed25519PrivateKey]
) -> list[str]:
    """The first executives sign the frozen review (each with their own key); the missing."""
    missing: list[str] = []
    for tenant_slug, subject in EXECUTIVES:
        if tenant_slug not in SIGNED_ALREADY:
            continue
        async with tenant_session(runtime, "northwind") as session:
            review = await review_service.get_review(session=session, review_id=review_id)
            assert review.content_digest is not None
            binding = Binding(
                str(review.id), review.revision, review.content_digest, Signer(tenant_slug, subject)
            )
        outcome = await signature_flows.sign_review(
            runtime,
            tenant="northwind",
            review_id=review_id,
            signer=Signer(tenant_slug, subject),
            jws=jws.sign_detached(keys[tenant_slug], kid=f"{subject}-2026", binding=binding),
        )
        missing = outcome.missing
    return missing


async def seed_governance(
    runtime: Runtime, review_id: uuid.UUID, key_dir: Path, *, say: Callable[[str], None]
) -> None:
    await import_matrices(runtime)
    say(
        "  RACI: supplier quality 2027, joint emergency response, network security overview, "
        "Q4 management review"
    )
    keys = await executive_keys(runtime, key_dir)
    missing = await sign_review_so_far(runtime, review_id, keys)
    say(
        f"  Q4 review signed by {len(SIGNED_ALREADY)} of {len(EXECUTIVES)} executives; "
        f"waiting for {', '.join(missing)} (keys in {key_dir})"
    )
