"""Members' signing keys: rotation with validity windows, revocation, removal of a member;
a signature made while a key was valid still verifies against the published key set
after the rotation, one made after its window does not; ``accord keys`` writes the
private key for its owner only and registers the public half."""

from __future__ import annotations

import hashlib
import json
import stat
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.compliance.reviews.signatures.jws import (
    Binding,
    SignatureRefused,
    Signer,
    load_private_key,
    parse_detached,
    public_jwk,
    sign_detached,
    verify_signature,
)
from accord.compliance.reviews.signatures.trust import TrustedKeys, read_key_set
from accord.platform import clock
from accord.platform.errors import AccordError
from accord.platform.runtime import Runtime
from accord.tenants.identity import flows
from accord.tenants.identity.member_keys import published_key_set
from tests.conftest import TenantFactory
from tests.factories.cli import accord

CEO = "ceo@keys.example"


def _binding(slug: str) -> Binding:
    digest = hashlib.sha256(b"management review 2026").hexdigest()
    return Binding(review=str(uuid.uuid4()), revision=1, digest=digest, signer=Signer(slug, CEO))


async def _trusted(runtime: Runtime, slug: str) -> TrustedKeys:
    async with runtime.control_session() as session:
        document = await published_key_set(session=session, tenants=[slug])
    # As a verifier gets it: exported to a file, read back.
    return read_key_set(json.loads(json.dumps(document)), source="keys.json")


async def test_a_signature_made_before_a_rotation_still_verifies_after_it(
    runtime: Runtime, make_tenant: TenantFactory, fixed_clock: clock.FixedClock
) -> None:
    tenant = await make_tenant(label="sigrot")
    await flows.add_member(
        runtime, tenant=tenant.slug, subject=CEO, display_name="CEO", roles=["executive"], actor="t"
    )
    old_private = Ed25519PrivateKey.generate()
    old = await flows.register_signing_key(
        runtime,
        tenant=tenant.slug,
        subject=CEO,
        jwk=public_jwk(old_private),
        alg="Ed25519",
        actor="t",
    )
    binding = _binding(tenant.slug)
    fixed_clock.advance(timedelta(minutes=5))
    before = sign_detached(old_private, kid=old.kid, binding=binding)

    fixed_clock.advance(timedelta(days=30))
    new_private = ec.generate_private_key(ec.SECP256R1())
    retired, new = await flows.rotate_signing_key(
        runtime,
        tenant=tenant.slug,
        subject=CEO,
        kid=old.kid,
        jwk=public_jwk(new_private),
        alg="ES256",
        overlap=timedelta(hours=1),
        actor="t",
    )
    assert retired.revoked_at == fixed_clock.at + timedelta(hours=1)
    fixed_clock.advance(timedelta(minutes=30))
    during_overlap = sign_detached(old_private, kid=old.kid, binding=binding)
    fixed_clock.advance(timedelta(hours=1))
    after_window = sign_detached(old_private, kid=old.kid, binding=binding)
    with_new = sign_detached(new_private, kid=new.kid, binding=binding)

    keys = await _trusted(runtime, tenant.slug)
    signer = Signer(tenant.slug, CEO)
    verdicts = {}
    for name, compact in [
        ("before", before),
        ("overlap", during_overlap),
        ("after", after_window),
        ("new", with_new),
    ]:
        parsed = parse_detached(compact)
        key = keys.key(signer, parsed.kid)
        assert key is not None
        verify_signature(parsed, jwk=key.jwk, digest=binding.digest)
        verdicts[name] = key.valid_at(datetime.fromtimestamp(parsed.signed_at, UTC))
    assert verdicts == {"before": True, "overlap": True, "after": False, "new": True}


async def test_revoking_and_removing_end_windows_and_refuse_what_cannot_be(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="sigrev")
    for subject, roles in ((CEO, ["executive"]), ("root@keys.example", ["tenant_admin"])):
        await flows.add_member(
            runtime,
            tenant=tenant.slug,
            subject=subject,
            display_name=subject,
            roles=roles,
            actor="t",
        )
    private = Ed25519PrivateKey.generate()
    key = await flows.register_signing_key(
        runtime, tenant=tenant.slug, subject=CEO, jwk=public_jwk(private), alg="Ed25519", actor="t"
    )
    with pytest.raises(AccordError) as duplicate:
        await flows.register_signing_key(
            runtime,
            tenant=tenant.slug,
            subject=CEO,
            jwk=public_jwk(private),
            alg="Ed25519",
            actor="t",
        )
    assert duplicate.value.reason == "DUPLICATE_KID"
    revoked = await flows.revoke_signing_key(
        runtime, tenant=tenant.slug, subject=CEO, kid=key.kid, actor="t"
    )
    assert revoked.revoked_at is not None
    with pytest.raises(AccordError) as again:
        await flows.rotate_signing_key(
            runtime,
            tenant=tenant.slug,
            subject=CEO,
            kid=key.kid,
            jwk=public_jwk(Ed25519PrivateKey.generate()),
            alg="Ed25519",
            actor="t",
        )
    assert again.value.reason == "KEY_REVOKED"

    second = await flows.register_signing_key(
        runtime,
        tenant=tenant.slug,
        subject=CEO,
        jwk=public_jwk(Ed25519PrivateKey.generate()),
        alg="Ed25519",
        actor="t",
    )
    await flows.remove_member(runtime, tenant=tenant.slug, subject=CEO, actor="t")
    # The removed member's keys stay published, each with its window closed.
    keys = await _trusted(runtime, tenant.slug)
    signer = Signer(tenant.slug, CEO)
    for kid in (key.kid, second.kid):
        published = keys.key(signer, kid)
        assert published is not None and published.not_after is not None
    with pytest.raises(AccordError) as gone:
        await flows.signing_keys(runtime, tenant=tenant.slug, subject=CEO)
    assert gone.value.reason == "UNKNOWN_MEMBER"


async def test_keys_generate_writes_a_private_file_and_registers_the_public_half(
    runtime: Runtime, make_tenant: TenantFactory, tmp_path: Path
) -> None:
    tenant = await make_tenant(label="sigcli")
    await flows.add_member(
        runtime, tenant=tenant.slug, subject=CEO, display_name="CEO", roles=["executive"], actor="t"
    )
    key_file = tmp_path / "ceo.pem"
    done = accord(
        *("keys", "generate", "--tenant", tenant.slug, "--member", CEO),
        *("--alg", "ES256", "--out", str(key_file), "--json"),
    )
    assert done.returncode == 0, done.stderr
    generated = json.loads(done.stdout)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    private = load_private_key(key_file.read_bytes())
    listed = json.loads(
        accord("keys", "list", "--tenant", tenant.slug, "--member", CEO, "--json").stdout
    )
    assert [(k["kid"], k["alg"], k["state"]) for k in listed] == [
        (generated["kid"], "ES256", "valid")
    ]
    # The registered key is the public half of the file's key: a signature verifies.
    binding = _binding(tenant.slug)
    parsed = parse_detached(sign_detached(private, kid=generated["kid"], binding=binding))
    keys = await _trusted(runtime, tenant.slug)
    published = keys.key(Signer(tenant.slug, CEO), generated["kid"])
    assert published is not None
    verify_signature(parsed, jwk=published.jwk, digest=binding.digest)
    assert "PRIVATE" not in json.dumps(published.jwk) and "d" not in published.jwk

    # A file that exists is never overwritten; a failed registration leaves no file.
    exists = accord(
        "keys", "generate", "--tenant", tenant.slug, "--member", CEO, "--out", str(key_file)
    )
    assert exists.returncode == 2 and "KEY_FILE_EXISTS" in exists.stderr
    stranger = tmp_path / "stranger.pem"
    unknown = accord(
        "keys", "generate", "--tenant", tenant.slug, "--member", "nobody", "--out", str(stranger)
    )
    assert unknown.returncode == 2 and "UNKNOWN_MEMBER" in unknown.stderr
    assert not stranger.exists()
    other = public_jwk(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(SignatureRefused) as forged:
        verify_signature(parsed, jwk=other, digest=binding.digest)
    assert forged.value.reason == "SIGNATURE_INVALID"
