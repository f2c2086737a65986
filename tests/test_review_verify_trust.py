"""``accord review verify --trust``: a signed review is verified only against the signing
keys its signatories' organisations published (``accord review keys``), each valid when
it signed — never against the keys a bundle carries."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from accord.compliance.reviews.signatures import flows as signature_flows
from accord.compliance.reviews.signatures import jws as jws
from accord.compliance.reviews.signatures.jws import Binding, Signer
from accord.platform.canonical import canonical_digest
from accord.platform.runtime import Runtime
from accord.tenants.identity import member_keys
from accord.tenants.models import Member
from accord.tenants.sessions import tenant_session
from tests.factories.review_cli import Network, accord, offline, partner_network

LABELS = ("katrin", "liam", "dana")


@dataclass
class Signed:
    net: Network
    bundle: dict[str, Any]
    path: Path  # the genuine bundle
    dir: Path

    def tenant(self, label: str) -> str:
        return self.net.signers[label].split("/")[0]

    def private(self, label: str) -> jws.PrivateKey:
        return jws.load_private_key(self.net.keys[label].read_bytes())

    def write(self, name: str, document: dict[str, Any]) -> Path:
        path = self.dir / name
        path.write_text(json.dumps(document, indent=2), "utf-8")
        return path

    def key_set(self, name: str, *labels: str) -> Path:
        """The published key set of the organisations of ``labels``, exported by the CLI."""
        path = self.dir / name
        tenants = [f"--tenant={self.tenant(label)}" for label in labels]
        exported = accord("review", "keys", *tenants, "--out", str(path))
        assert exported.returncode == 0, exported.stderr
        return path

    def verify(self, bundle: Path, *trust: Path) -> subprocess.CompletedProcess[str]:
        options = [f"--trust={path}" for path in trust]
        return offline("review", "verify", str(bundle), *options, tmp=self.dir)


@pytest.fixture(scope="module")
async def signed(
    runtime: Runtime, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Signed]:
    """A review of three partners, signed by the three executives and exported."""
    async with partner_network(runtime, tmp_path_factory.mktemp("trust-keys")) as net:
        for label in LABELS:
            who = Signer.parse(net.signers[label])
            binding = Binding(str(net.review), 1, net.digest, who)
            key = jws.load_private_key(net.keys[label].read_bytes())
            compact = jws.sign_detached(key, kid=net.thumbprints[label], binding=binding)
            await signature_flows.sign_review(
                runtime, tenant=net.owner.slug, review_id=net.review, signer=who, jws=compact
            )
        async with (
            tenant_session(runtime, net.owner.slug) as session,
            runtime.control_session() as control,
        ):
            bundle = await signature_flows.export_bundle(
                session=session, control=control, tenant=net.owner.slug, review_id=net.review
            )
        workdir = tmp_path_factory.mktemp("trust")
        found = Signed(net, bundle, workdir / "genuine.json", workdir)
        found.write("genuine.json", bundle)
        yield found


def failures(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("FAILED")]


def resigned(
    s: Signed, document: dict[str, Any], keys: dict[str, jws.PrivateKey], *, keep_kids: bool
) -> dict[str, Any]:
    """The bundle over ``document``, every signature made anew with ``keys`` (by label)
    and the signing key listed next to it — what anyone can write. The new keys are named
    by their thumbprints, or with ``keep_kids`` by the kids of the genuine ones."""
    forged = copy.deepcopy(s.bundle)
    forged["document"] = document
    forged["content_digest"] = digest = canonical_digest(document)
    for entry, label in zip(forged["signatures"], LABELS, strict=True):
        jwk = jws.public_jwk(keys[label])
        kid = entry["kid"] if keep_kids else jws.thumbprint(jwk)
        who = Signer(entry["signer"]["tenant"], entry["signer"]["subject"])
        binding = Binding(document["id"], document["revision"], digest, who)
        entry.update(
            kid=kid,
            jwk={**jwk, "kid": kid, "alg": jws.key_algorithm(jwk), "use": "sig"},
            jwk_thumbprint=jws.thumbprint(jwk),
            jws=jws.sign_detached(keys[label], kid=kid, binding=binding),
        )
    return forged


async def test_a_genuine_bundle_verifies_against_each_organisations_published_keys(
    signed: Signed,
) -> None:
    s = signed
    sets = [s.key_set(f"{label}-keys.json", label) for label in LABELS]
    verified = s.verify(s.path, *sets)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.splitlines()[-1] == (
        "verified: content matches its digest; every required signatory signed it with a key "
        "their organisation published, valid when they signed"
    )
    for label, key_set in zip(LABELS, sets, strict=True):
        assert (
            f"  trusted signature: {s.net.signers[label]} (key '{s.net.thumbprints[label]}' "
            f"trusted from {key_set}, valid from " in verified.stdout
        )
    # One organisation's keys not given: its signature was checked against nothing trusted.
    partial = s.verify(s.path, *sets[:2])
    assert partial.returncode == 1
    dana = s.net.signers["dana"]
    assert failures(partial) == [
        f"FAILED NO_TRUSTED_KEYS: signature 3 ({dana}): no key set of organisation "
        f"{s.tenant('dana')} is trusted, so its signature was not checked against a key it "
        "published (pass its exported keys with --trust)",
        f"FAILED MISSING_SIGNATORY: required signatory {dana} (executive) has no valid signature",
    ]
    assert "verified" not in partial.stdout


async def test_a_bundle_edited_and_re_signed_with_keys_of_its_own_fails(signed: Signed) -> None:
    s = signed
    document = copy.deepcopy(s.bundle["document"])
    document["decisions"][0]["text"] = "No joint supplier audit this year"
    fresh: dict[str, jws.PrivateKey] = {  # of the genuine keys' kinds
        "katrin": Ed25519PrivateKey.generate(),
        "liam": ec.generate_private_key(ec.SECP256R1()),
        "dana": Ed25519PrivateKey.generate(),
    }
    forged = s.write("forged.json", resigned(s, document, fresh, keep_kids=False))
    trusted = s.key_set("network-keys.json", *LABELS)

    # Alone, the forgery is as consistent as the genuine bundle: so neither is "verified".
    alone = s.verify(forged)
    assert alone.returncode == 3
    assert "verified:" not in alone.stdout and failures(alone) == []
    assert "but no signature was checked against a key you trust" in " ".join(alone.stderr.split())
    summary = offline("review", "verify", str(forged), "--json", tmp=s.dir)
    assert summary.returncode == 3
    assert {k: json.loads(summary.stdout)[k] for k in ("ok", "verified", "trusted_key_sets")} == {
        "ok": True,
        "verified": False,
        "trusted_key_sets": [],
    }

    # Against the published keys it fails, naming each key the organisations never published.
    refused = s.verify(forged, trusted)
    assert refused.returncode == 1
    lines = failures(refused)
    assert [line.split(":")[0] for line in lines] == ["FAILED UNTRUSTED_KEY"] * 3 + [
        "FAILED MISSING_SIGNATORY"
    ] * 3
    katrin = s.net.signers["katrin"]
    assert lines[0] == (
        f"FAILED UNTRUSTED_KEY: signature 1 ({katrin}) was made with key "
        f"'{jws.thumbprint(jws.public_jwk(fresh['katrin']))}', which is not a key of {katrin} "
        f"in the trusted key set of {s.tenant('katrin')} ({trusted}): the key the bundle "
        "carries is not one the organisation published"
    )
    assert "verified" not in refused.stdout

    # The fresh keys under the genuine kids: another key than the one published.
    renamed = s.write("renamed.json", resigned(s, document, fresh, keep_kids=True))
    refused = s.verify(renamed, trusted)
    assert refused.returncode == 1
    assert failures(refused)[0] == (
        f"FAILED UNTRUSTED_KEY: signature 1 ({katrin}): the bundle lists another public key "
        f"under '{s.net.thumbprints['katrin']}' than the one {s.tenant('katrin')} published "
        f"({trusted})"
    )

    # The genuine keys listed, the signatures still made with fresh ones: checked with the
    # published key, they do not verify.
    posing = resigned(s, document, fresh, keep_kids=True)
    for entry, genuine in zip(posing["signatures"], s.bundle["signatures"], strict=True):
        entry["jwk"] = genuine["jwk"]
    refused = s.verify(s.write("posing.json", posing), trusted)
    assert refused.returncode == 1
    assert [line.split(":")[0] for line in failures(refused)] == [
        "FAILED SIGNATURE_INVALID"
    ] * 3 + ["FAILED MISSING_SIGNATORY"] * 3
    assert f"does not verify with key '{s.net.thumbprints['katrin']}'" in failures(refused)[0]


async def test_a_rotated_key_verifies_what_it_signed_while_valid_and_nothing_else(
    runtime: Runtime, signed: Signed
) -> None:
    s = signed
    katrin, old_kid = Signer.parse(s.net.signers["katrin"]), s.net.thumbprints["katrin"]
    successor = Ed25519PrivateKey.generate()
    async with runtime.control_session() as control:
        holder = await control.scalar(
            select(Member).where(Member.tenant == katrin.tenant, Member.subject == katrin.subject)
        )
        assert holder is not None
        await member_keys.add_member_key(
            session=control,
            member=holder,
            jwk={**jws.public_jwk(successor), "kid": "katrin-next"},
            alg="Ed25519",
        )
        await member_keys.revoke_member_key(session=control, member=holder, kid=old_kid)
    rotated = s.key_set("rotated-keys.json", *LABELS)
    published = {k["kid"]: k for k in json.loads(rotated.read_text("utf-8"))["keys"]}
    old, new = published[old_kid], published["katrin-next"]
    assert (old["tenant"], old["subject"], new["tenant"], new["subject"]) == (
        katrin.tenant,
        katrin.subject,
        katrin.tenant,
        katrin.subject,
    )
    assert old["revoked_at"] is not None and old["not_after"] == old["revoked_at"]
    assert new["not_after"] is None
    assert datetime.fromisoformat(new["not_before"]) <= datetime.fromisoformat(old["revoked_at"])

    # What the old key signed before it was revoked still verifies.
    still = s.verify(s.path, rotated)
    assert still.returncode == 0, still.stderr
    assert (
        f"key '{old_kid}' trusted from {rotated}, valid from {old['not_before']}, until "
        f"{old['not_after']}" in " ".join(still.stdout.split())
    )

    # A signature the old key made after its revocation (a stolen key, say) does not; nor
    # one dated before the key was registered.
    revoked_at = datetime.fromisoformat(old["revoked_at"])
    registered = datetime.fromisoformat(old["not_before"])
    for name, signed_at in (
        ("after-revocation.json", revoked_at + timedelta(minutes=1)),
        ("before-registration.json", registered - timedelta(minutes=1)),
    ):
        late = copy.deepcopy(s.bundle)
        entry = late["signatures"][0]
        binding = Binding(str(s.net.review), 1, s.net.digest, katrin)
        entry["jws"] = jws.sign_detached(
            s.private("katrin"), kid=old_kid, binding=binding, signed_at=int(signed_at.timestamp())
        )
        refused = s.verify(s.write(name, late), rotated)
        assert refused.returncode == 1, refused.stdout
        at = datetime.fromtimestamp(int(signed_at.timestamp()), revoked_at.tzinfo)
        assert failures(refused) == [
            f"FAILED KEY_NOT_VALID_WHEN_SIGNED: signature 1 ({katrin}) was signed at "
            f"{at.isoformat()}, outside the window of key '{old_kid}' (valid from "
            f"{registered.isoformat()}, until {revoked_at.isoformat()})",
            f"FAILED MISSING_SIGNATORY: required signatory {katrin} (executive) has no valid "
            "signature",
        ]


async def test_what_is_not_a_key_set_is_not_trusted(signed: Signed) -> None:
    s = signed
    good = json.loads(s.key_set("good-keys.json", "katrin").read_text("utf-8"))
    with_private = copy.deepcopy(good)
    with_private["keys"][0]["d"] = jws.b64url_encode(b"\x01" * 32)
    other = copy.deepcopy(good)
    other["keys"][0]["x"] = jws.public_jwk(Ed25519PrivateKey.generate())["x"]
    cases = {
        "not-json.json": ("{not json", "is not JSON"),
        "jwks.json": (json.dumps({"keys": good["keys"]}), "type 'accord.member_signing_keys'"),
        "private.json": (json.dumps(with_private), "contains private key material"),
    }
    for name, (text, phrase) in cases.items():
        (s.dir / name).write_text(text, "utf-8")
        refused = s.verify(s.path, s.dir / name)
        assert refused.returncode == 2, refused.stdout
        assert "error BAD_USER_INPUT/TRUST_UNREADABLE:" in refused.stderr
        assert phrase in " ".join(refused.stderr.split())
    # Two different key sets for one organisation: which to trust is the verifier's choice.
    conflicting = s.verify(s.path, s.dir / "good-keys.json", s.write("other.json", other))
    assert conflicting.returncode == 2
    assert f"it lists other keys for {s.tenant('katrin')} than" in " ".join(
        conflicting.stderr.split()
    )
