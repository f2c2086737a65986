"""``accord review sign|export|verify`` as subprocesses: three executives sign with their key
files, the signed review is exported, verified offline, and tampered with."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from accord.compliance.reviews import service as review_service
from accord.compliance.reviews.models import ReviewStatus
from accord.platform.eventlog import EventLogEntry
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session
from tests.factories.review_cli import Network, accord, offline, partner_network
from tests.factories.reviews import REVIEW


@pytest.fixture(scope="module")
async def network(
    runtime: Runtime, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Network]:
    async with partner_network(runtime, tmp_path_factory.mktemp("keys")) as found:
        yield found


def sign(net: Network, signer: str, key: str) -> subprocess.CompletedProcess[str]:
    return accord(
        "review",
        "sign",
        str(net.review),
        "--tenant",
        net.owner.slug,
        "--signer",
        net.signers[signer],
        "--key",
        str(net.keys[key]),
    )


def _write(path: Path, bundle: dict[str, Any]) -> Path:
    path.write_text(json.dumps(bundle, indent=2), "utf-8")
    return path


async def test_executives_sign_from_a_terminal_and_the_bundle_verifies_offline(
    runtime: Runtime, network: Network, tmp_path: Path
) -> None:
    net = network
    # liam tries dana's key file: refused by the server, and logged.
    stolen = sign(net, "liam", "dana")
    assert stolen.returncode == 2, stolen.stderr
    assert (
        f"error FORBIDDEN/FOREIGN_KEY: Key '{net.thumbprints['dana']}' is registered to "
        f"{net.signers['dana']}, not to {net.signers['liam']}" in stolen.stderr
    )
    async with tenant_session(runtime, net.owner.slug) as session:
        refused = await session.scalar(
            select(EventLogEntry)
            .where(EventLogEntry.record_id == str(net.review))
            .order_by(EventLogEntry.seq.desc())
            .limit(1)
        )
    assert refused is not None and refused.action == "review.signature_refused"
    assert (refused.actor, refused.change["reason"]) == (
        f"user:{net.signers['liam']}",
        "FOREIGN_KEY",
    )

    first = sign(net, "katrin", "katrin")
    assert first.returncode == 0, first.stderr
    assert f"revision 1, digest {net.digest}, as {net.signers['katrin']}" in first.stderr
    assert first.stdout.splitlines() == [
        f"signed revision 1 of review {net.review} (Ed25519, key {net.thumbprints['katrin']})",
        f"review is frozen; still to sign: {net.signers['liam']}, {net.signers['dana']}",
    ]
    second = sign(net, "liam", "liam")
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [
        f"signed revision 1 of review {net.review} (ES256, key {net.thumbprints['liam']})",
        f"review is frozen; still to sign: {net.signers['dana']}",
    ]
    again = sign(net, "liam", "liam")
    assert again.returncode == 2 and "error CONFLICT/ALREADY_SIGNED" in again.stderr
    last = sign(net, "dana", "dana")
    assert last.returncode == 0, last.stderr
    assert last.stdout.splitlines()[-1] == (
        "review is approved: every required signatory has signed"
    )
    async with tenant_session(runtime, net.owner.slug) as session:
        review = await review_service.get_review(session=session, review_id=net.review)
    assert review.status is ReviewStatus.APPROVED

    out = tmp_path / "signed-review.json"
    exported = accord(
        "review", "export", str(net.review), "--tenant", net.owner.slug, "--out", str(out)
    )
    assert exported.returncode == 0, exported.stderr
    assert f"(approved, 3 signature(s)) to {out}" in exported.stdout
    bundle = json.loads(out.read_text("utf-8"))
    assert (bundle["type"], bundle["format"], bundle["owner"]) == (
        "accord.signed_management_review",
        1,
        net.owner.slug,
    )
    assert bundle["content_digest"] == net.digest and bundle["document"]["id"] == str(net.review)
    assert bundle["review"] == {
        "id": str(net.review),
        "revision": 1,
        "status": "approved",
        "title": REVIEW["title"],
        "superseded_by": None,
    }
    assert [
        (e["signer"]["tenant"] + "/" + e["signer"]["subject"], e["signer"]["role"], e["alg"])
        for e in bundle["signatures"]
    ] == [
        (net.signers["katrin"], "executive", "Ed25519"),
        (net.signers["liam"], "executive", "ES256"),
        (net.signers["dana"], "executive", "Ed25519"),
    ]
    assert [e["jwk_thumbprint"] for e in bundle["signatures"]] == [
        net.thumbprints[x] for x in ("katrin", "liam", "dana")
    ]
    assert [sorted(e["jwk"]) for e in bundle["signatures"]] == [
        ["alg", "crv", "kid", "kty", "use", "x"],
        ["alg", "crv", "kid", "kty", "use", "x", "y"],
        ["alg", "crv", "kid", "kty", "use", "x"],
    ]

    # With nothing but itself, a bundle is only internally consistent: never "verified".
    alone = offline("review", "verify", str(out), tmp=tmp_path)
    assert alone.returncode == 3, alone.stderr
    assert alone.stdout.splitlines() == [
        f"review {net.review} revision 1, content digest {net.digest}",
        *(
            f"  consistent signature: {net.signers[x]} (key {net.thumbprints[x]})"
            for x in ("katrin", "liam", "dana")
        ),
    ]
    assert " ".join(alone.stderr.split()).startswith(
        "NOT VERIFIED: the bundle is internally consistent (its content matches its digest "
        "and each required signatory's signature verifies with the key the bundle itself "
        "carries), but no signature was checked against a key you trust"
    )

    # Against the keys the three organisations published, it is verified.
    keys = tmp_path / "network-keys.json"
    slugs = sorted(s.split("/")[0] for s in net.signers.values())
    published = accord("review", "keys", *(f"--tenant={t}" for t in slugs), "--out", str(keys))
    assert published.returncode == 0, published.stderr
    assert published.stdout.strip() == (
        f"exported 3 signing key(s) of {', '.join(slugs)} to {keys}"
    )
    verified = offline("review", "verify", str(out), "--trust", str(keys), tmp=tmp_path)
    assert verified.returncode == 0, verified.stderr
    lines = verified.stdout.splitlines()
    assert lines[0] == f"review {net.review} revision 1, content digest {net.digest}"
    assert [line.split(" trusted from ")[0] for line in lines[1:4]] == [
        f"  trusted signature: {net.signers[x]} (key '{net.thumbprints[x]}'"
        for x in ("katrin", "liam", "dana")
    ]
    assert all(f"trusted from {keys}, valid from " in line for line in lines[1:4])
    assert lines[4:] == [
        "verified: content matches its digest; every required signatory signed it with a key "
        "their organisation published, valid when they signed"
    ]
    assert not (tmp_path / "no-data").exists()  # no embedded database was started either

    def check(name: str, changed: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        path = _write(tmp_path / name, changed)
        return offline("review", "verify", str(path), "--trust", str(keys), tmp=tmp_path)

    # One byte of the content changed.
    content = copy.deepcopy(bundle)
    content["document"]["minutes"] = content["document"]["minutes"].replace("three", "thre3")
    changed = check("c.json", content)
    assert changed.returncode == 1
    failed = [line for line in changed.stderr.splitlines() if line.startswith("FAILED")]
    assert failed[0].startswith(
        "FAILED CONTENT_DIGEST_MISMATCH: the content's SHA-256 is "
    ) and failed[0].endswith(
        f"but the bundle states {net.digest}: the content was changed after it was signed"
    )
    assert sum("CLAIMS_MISMATCH" in line for line in failed) == 3
    assert sum("MISSING_SIGNATORY" in line for line in failed) == 3
    assert "verified" not in changed.stdout

    # One signature changed (a character in the middle of liam's signature).
    forged = copy.deepcopy(bundle)
    header, _, signature = forged["signatures"][1]["jws"].split(".")
    flipped = signature[:20] + ("A" if signature[20] != "A" else "B") + signature[21:]
    forged["signatures"][1]["jws"] = f"{header}..{flipped}"
    bad = check("s.json", forged)
    assert bad.returncode == 1
    assert [line for line in bad.stderr.splitlines() if line.startswith("FAILED")] == [
        f"FAILED SIGNATURE_INVALID: signature 2 ({net.signers['liam']}): The signature does not "
        f"verify with key '{net.thumbprints['liam']}' over digest {net.digest}: it was made "
        "with another key or over other content.",
        f"FAILED MISSING_SIGNATORY: required signatory {net.signers['liam']} (executive) has "
        "no valid signature",
    ]
    assert f"trusted signature: {net.signers['dana']}" in bad.stdout

    # One signatory left out.
    partial = copy.deepcopy(bundle)
    del partial["signatures"][2]
    short = check("m.json", partial)
    assert short.returncode == 1
    assert short.stderr.strip() == (
        f"FAILED MISSING_SIGNATORY: required signatory {net.signers['dana']} (executive) has "
        "no valid signature"
    )

    # A signatory's key swapped for another's (the signature no longer verifies with it).
    swapped = copy.deepcopy(bundle)
    swapped["signatures"][0]["jwk"] = bundle["signatures"][2]["jwk"]
    mixed = check("k.json", swapped)
    assert mixed.returncode == 1
    assert f"FAILED KEY_MISMATCH: signature 1 ({net.signers['katrin']}) names key" in mixed.stderr

    # Not a bundle at all.
    junk = tmp_path / "junk.json"
    junk.write_text("{not json", "utf-8")
    unreadable = offline("review", "verify", str(junk), tmp=tmp_path)
    assert unreadable.returncode == 2
    assert "error BAD_USER_INPUT/BUNDLE_UNREADABLE:" in unreadable.stderr


async def test_sign_refuses_a_digest_the_signer_did_not_expect(network: Network) -> None:
    result = accord(
        "review",
        "sign",
        str(network.review),
        "--tenant",
        network.owner.slug,
        "--signer",
        network.signers["katrin"],
        "--key",
        str(network.keys["katrin"]),
        "--expect-digest",
        "0" * 64,
    )
    assert result.returncode == 2
    assert (
        f"error CONFLICT/UNEXPECTED_DIGEST: The content's digest is {network.digest}, not the "
        f"expected {'0' * 64}; not signing." in result.stderr
    )


def test_review_commands_explain_themselves() -> None:
    for command, phrase in (
        ((), "executives sign them"),
        (("sign",), "with your own key"),
        (("export",), "signed-review bundle"),
        (("verify",), "offline (no database) against the signing keys you trust"),
        (("keys",), "published signing keys"),
    ):
        result = accord("review", *command, "--help")
        assert result.returncode == 0, result.stderr
        assert phrase in " ".join(result.stdout.split())
