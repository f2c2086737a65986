"""A partner network for the review commands: members, keys, a frozen review, the CLI."""

from __future__ import annotations

import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete

from accord.compliance.reviews import flows as review_flows
from accord.compliance.reviews import service as review_service
from accord.compliance.reviews.signatures import flows as signature_flows
from accord.compliance.reviews.signatures import jws as jws
from accord.platform.runtime import Runtime
from accord.policies import service as policy_service
from accord.policies.models import PolicyDomain, RaciMatrix
from accord.tenants.models import Tenant
from accord.tenants.provisioning import create_tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import subprocess_env, unique_slug
from tests.factories.reviews import REVIEW, add_signer, sign_off_matrix

AUTHOR = "user:hanna.vogt"


def accord(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "accord", *args],
        capture_output=True,
        text=True,
        env=env or subprocess_env(COLUMNS="250"),
        timeout=120,
        check=False,
    )


def offline(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """``accord`` with no reachable database: a bundle verifies with nothing but itself."""
    return accord(
        *args,
        env=subprocess_env(
            COLUMNS="250",
            ACCORD_DATABASE_URL="postgresql://nobody@127.0.0.1:9/nothing",
            ACCORD_DATA_DIR=str(tmp / "no-data"),
        ),
    )


@dataclass
class Network:
    owner: Tenant
    review: uuid.UUID
    digest: str
    keys: dict[str, Path]  # label -> PEM file
    signers: dict[str, str]  # label -> TENANT/SUBJECT
    thumbprints: dict[str, str]  # label -> the kid each key was registered under


def _pem(key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@asynccontextmanager
async def partner_network(runtime: Runtime, keydir: Path) -> AsyncIterator[Network]:
    """Three partners, each with an executive holding a registered key (a PEM file in
    ``keydir``), and a frozen review of northwind's that the three must sign."""
    tenants = {
        label: await create_tenant(
            runtime,
            slug=unique_slug(label),
            legal_name=f"{label.title()} AG",
            jurisdiction="DE",
            store="home",
        )
        for label in ("globex", "meridian", "northwind")
    }
    people: dict[str, tuple[str, str, Ed25519PrivateKey | ec.EllipticCurvePrivateKey]] = {
        "katrin": ("northwind", "katrin.maier", Ed25519PrivateKey.generate()),
        "liam": ("globex", "liam.chen", ec.generate_private_key(ec.SECP256R1())),
        "dana": ("meridian", "dana.okafor", Ed25519PrivateKey.generate()),
    }
    keys, signers, thumbprints = {}, {}, {}
    for label, (tenant, subject, key) in people.items():
        # Registered without a kid: the key is known by its RFC 7638 thumbprint.
        await add_signer(runtime, tenants[tenant], subject, ["executive"], key, None)
        keys[label] = _pem(key, keydir / f"{label}.pem")
        signers[label] = f"{tenants[tenant].slug}/{subject}"
        thumbprints[label] = jws.thumbprint(jws.public_jwk(key))
    tag = secrets.token_hex(3)
    process = f"cli-mr-{tag}"
    slugs = sorted(t.slug for t in tenants.values())
    async with runtime.control_session() as control:
        await policy_service.import_matrix(
            session=control, text=sign_off_matrix(tag, process, slugs), fmt="yaml"
        )
    owner = tenants["northwind"]
    async with (
        tenant_session(runtime, owner.slug) as session,
        runtime.control_session() as control,
    ):
        review = await review_service.create_review(session=session, actor=AUTHOR, data=REVIEW)
        await signature_flows.assign_signatories(
            session=session, control=control, actor=AUTHOR, review=review, process=process
        )
        await review_flows.compile_inputs(session=session, actor=AUTHOR, review=review)
        await review_service.freeze(session=session, actor=AUTHOR, review=review)
        assert review.content_digest is not None
        found = Network(owner, review.id, review.content_digest, keys, signers, thumbprints)
    try:
        yield found
    finally:
        async with runtime.control_session() as control:
            await control.execute(delete(RaciMatrix).where(RaciMatrix.name.like(f"%{tag}%")))
            await control.execute(delete(PolicyDomain).where(PolicyDomain.domain.in_(slugs)))
