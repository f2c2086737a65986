"""Signed-review bundles, verified offline.

A bundle (``signing.export_bundle``) holds a review's canonical content, its digest and
every signature with the signer's public key. Checking it with nothing but itself shows
that it is *internally consistent*: the content matches its digest, and each required
signatory's signature verifies with the key listed next to it. That alone proves nothing
about who signed — anyone can edit the content, sign it with fresh keys and list those.

So a bundle is *verified* only against keys the verifier trusts (``trust``): each
signature's key must be one its signer's organisation published, under the same kid and
holder, valid at the signing instant; the signature is then checked with the trusted key,
never with the one the bundle carries. ``BundleVerdict`` says which of the two was
established.

Pure: no database, no network, no settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from accord.compliance.reviews.signatures.jws import (
    BUNDLE_FORMAT,
    BUNDLE_TYPE,
    REVIEW_DOCUMENT_TYPE,
    DetachedJws,
    SignatureRefused,
    Signer,
    parse_detached,
    thumbprint,
    verify_signature,
)
from accord.compliance.reviews.signatures.trust import TrustedKey, TrustedKeys, matches
from accord.platform.canonical import canonical_digest
from accord.platform.errors import ErrorCode


@dataclass(frozen=True, slots=True)
class BundleProblem:
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(slots=True)
class BundleVerdict:
    """What ``verify_bundle`` found.

    ``ok``: no problem found — internally consistent, and when keys were trusted, every
    signature checked against them. ``verified``: ``ok`` *and* checked against trusted
    keys; without a trust anchor a bundle is never verified.
    """

    review: str | None = None
    revision: int | None = None
    digest: str | None = None
    anchored: bool = False  # checked against keys the verifier trusts
    signed: list[str] = field(default_factory=list)  # "tenant/subject (key …)" per signer
    problems: list[BundleProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def verified(self) -> bool:
        return self.ok and self.anchored


class BundleUnreadable(SignatureRefused):
    """A file that is not a signed-review bundle at all."""


def _unreadable(message: str) -> BundleUnreadable:
    return BundleUnreadable(message, reason="BUNDLE_UNREADABLE", code=ErrorCode.BAD_USER_INPUT)


def _required(document: Mapping[str, Any]) -> list[tuple[Signer, str]]:
    entries = document.get("required_signatories")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise _unreadable("The content has no list of required signatories.")
    return [
        (Signer(str(e.get("tenant")), str(e.get("subject"))), str(e.get("role"))) for e in entries
    ]


def verify_bundle(bundle: Any, trusted: TrustedKeys | None = None) -> BundleVerdict:
    """Verify a signed-review bundle, against ``trusted`` keys when given.

    The content's digest is recomputed (RFC 8785, SHA-256) and compared with the bundle's;
    every signature is verified over the *recomputed* digest, its binding (review,
    revision, digest, signer) checked against the content and the listed signer, and every
    required signatory of the content must have a valid one. With ``trusted``, the key of
    each signature is the signer's published key (kid, holder, window at the signed
    ``iat``); without, the key listed in the bundle, and the verdict is not ``verified``.
    """
    if not isinstance(bundle, dict) or bundle.get("type") != BUNDLE_TYPE:
        raise _unreadable(f"Not a signed-review bundle (type {BUNDLE_TYPE!r} expected).")
    if bundle.get("format") != BUNDLE_FORMAT:
        raise _unreadable(f"Bundle format {bundle.get('format')!r} is not {BUNDLE_FORMAT}.")
    document, signatures = bundle.get("document"), bundle.get("signatures")
    if not isinstance(document, dict) or not isinstance(signatures, list):
        raise _unreadable("A bundle has a 'document' object and a 'signatures' list.")
    if document.get("type") != REVIEW_DOCUMENT_TYPE:
        raise _unreadable(f"The content is not a {REVIEW_DOCUMENT_TYPE} document.")
    required = _required(document)
    digest = canonical_digest(document)
    verdict = BundleVerdict(
        review=str(document.get("id")),
        revision=document.get("revision"),
        digest=digest,
        anchored=trusted is not None,
    )
    problem = verdict.problems.append
    stated = bundle.get("content_digest")
    if stated != digest:
        problem(
            BundleProblem(
                "CONTENT_DIGEST_MISMATCH",
                f"the content's SHA-256 is {digest} but the bundle states {stated}: the "
                "content was changed after it was signed",
            )
        )
    valid: set[Signer] = set()
    for index, entry in enumerate(signatures):
        found = _check_entry(index, entry, document, digest, required, trusted)
        if isinstance(found, BundleProblem):
            problem(found)
            continue
        signer, key = found
        if signer in valid:
            problem(BundleProblem("DUPLICATE_SIGNATURE", f"{signer} signed more than once"))
            continue
        valid.add(signer)
        verdict.signed.append(f"{signer} ({key})")
    for signer, role in required:
        if signer not in valid:
            problem(
                BundleProblem(
                    "MISSING_SIGNATORY",
                    f"required signatory {signer} ({role}) has no valid signature",
                )
            )
    return verdict


def _check_entry(
    index: int,
    entry: Any,
    document: Mapping[str, Any],
    digest: str,
    required: Iterable[tuple[Signer, str]],
    trusted: TrustedKeys | None,
) -> tuple[Signer, str] | BundleProblem:
    """The signer and a description of the key that verified it, or what is wrong."""
    where = f"signature {index + 1}"
    if not isinstance(entry, dict) or not isinstance(entry.get("signer"), dict):
        return BundleProblem("BAD_SIGNATURE_ENTRY", f"{where} is not a signature entry")
    listed = Signer(str(entry["signer"].get("tenant")), str(entry["signer"].get("subject")))
    where = f"signature {index + 1} ({listed})"
    jwk = entry.get("jwk")
    if not isinstance(jwk, dict):
        return BundleProblem("BAD_SIGNATURE_ENTRY", f"{where} lists no public key")
    try:
        parsed = parse_detached(str(entry.get("jws", "")))
    except SignatureRefused as exc:
        return BundleProblem(exc.reason, f"{where}: {exc.message}")
    binding = parsed.binding
    if binding.signer != listed:
        return BundleProblem(
            "SIGNER_MISMATCH", f"{where} is listed for {listed} but was made by {binding.signer}"
        )
    if listed not in {s for s, _ in required}:
        return BundleProblem("NOT_A_SIGNATORY", f"{where}: {listed} is not a required signatory")
    if jwk.get("kid") is not None and jwk.get("kid") != parsed.kid:
        return BundleProblem(
            "KEY_MISMATCH", f"{where} names key '{parsed.kid}' but lists key '{jwk.get('kid')}'"
        )
    if (binding.review, binding.revision) != (str(document.get("id")), document.get("revision")):
        return BundleProblem(
            "CLAIMS_MISMATCH",
            f"{where} binds review {binding.review} revision {binding.revision}, not this "
            f"content (review {document.get('id')} revision {document.get('revision')})",
        )
    if binding.digest != digest:
        return BundleProblem(
            "CLAIMS_MISMATCH",
            f"{where} binds digest {binding.digest}, not the content's digest {digest}",
        )
    key: Mapping[str, Any] = jwk
    described = f"key {thumbprint(jwk)}"
    if trusted is not None:
        found = _trusted_key(where, listed, parsed, jwk, trusted)
        if isinstance(found, BundleProblem):
            return found
        key = found.jwk
        described = f"key '{found.kid}' trusted from {found.source}, {found.window()}"
    try:
        verify_signature(parsed, jwk=key, digest=digest)
    except SignatureRefused as exc:
        return BundleProblem(exc.reason, f"{where}: {exc.message}")
    return listed, described


def _trusted_key(
    where: str, signer: Signer, parsed: DetachedJws, listed: Mapping[str, Any], trusted: TrustedKeys
) -> TrustedKey | BundleProblem:
    """The trusted key that must have made this signature, or why there is none."""
    if signer.tenant not in trusted.organisations:
        return BundleProblem(
            "NO_TRUSTED_KEYS",
            f"{where}: no key set of organisation {signer.tenant} is trusted, so its signature "
            "was not checked against a key it published (pass its exported keys with --trust)",
        )
    key = trusted.key(signer, parsed.kid)
    source = trusted.organisations[signer.tenant]
    if key is None:
        return BundleProblem(
            "UNTRUSTED_KEY",
            f"{where} was made with key '{parsed.kid}', which is not a key of {signer} in the "
            f"trusted key set of {signer.tenant} ({source}): the key the bundle carries is "
            "not one the organisation published",
        )
    if not matches(key, listed):
        return BundleProblem(
            "UNTRUSTED_KEY",
            f"{where}: the bundle lists another public key under '{parsed.kid}' than the one "
            f"{signer.tenant} published ({source})",
        )
    signed_at = datetime.fromtimestamp(parsed.signed_at, UTC)
    if not key.valid_at(signed_at):
        return BundleProblem(
            "KEY_NOT_VALID_WHEN_SIGNED",
            f"{where} was signed at {signed_at.isoformat()}, outside the window of key "
            f"'{key.kid}' ({key.window()})",
        )
    return key
