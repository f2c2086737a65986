"""Detached JWS signatures over a management review's digest.

Pure: no database, no network, no settings — the server, the ``accord review`` command and
an offline verifier (``bundles``) all use these same functions.

A signature is a JWS in compact serialisation with a detached payload (RFC 7515
Appendix F): ``BASE64URL(protected header) + ".." + BASE64URL(signature)``. The payload
that was signed is the review's ``content_digest`` (the SHA-256, lower-case hex, of the
RFC 8785 form of its canonical document), as ASCII bytes; a verifier supplies it from the
content it holds. The protected header carries, besides ``alg`` and ``kid``:

* ``typ`` — ``accord-review-signature+jws``, so that no other kind of JWS fits here;
* ``review``, ``revision``, ``digest`` — which review, which revision, which content: a
  signature cannot be replayed on another review or over another revision's content;
* ``signer_tenant``, ``signer_subject`` — who signs (the member whose key ``kid`` names);
* ``iat`` — when, in seconds since the epoch: the digest binds the content; an offline
  verifier checks that the key was valid at this instant (``trust``);
* ``crit`` — lists the binding parameters, so that a generic JWS library, which would
  ignore them, refuses the signature instead of accepting it for the wrong review.

Only ``Ed25519`` (``EdDSA`` accepted as its older name) and ``ES256`` are allowed: the
algorithms of members' registered keys. ``none``, HMAC and everything else are refused,
and the algorithm must match the verifying key (no algorithm confusion). Keys always come
from registration (or a key set the verifier trusts), never from the message: ``jwk``, ``jku``,
``x5u`` and ``x5c`` headers are refused with every other unknown parameter.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from accord.platform import clock
from accord.platform.errors import AccordError, ErrorCode

TYP = "accord-review-signature+jws"
#: JOSE algorithm -> (kty, crv) of the key that verifies it.
ALGORITHMS: dict[str, tuple[str, str]] = {
    "Ed25519": ("OKP", "Ed25519"),
    "EdDSA": ("OKP", "Ed25519"),
    "ES256": ("EC", "P-256"),
}
#: The header parameters that bind a signature; all of them are listed in ``crit``.
BINDING = ("review", "revision", "digest", "signer_tenant", "signer_subject")
HEADER = frozenset({"alg", "kid", "typ", "crit", "iat", *BINDING})
MAX_JWS_LENGTH = 8192
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*$")
_DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")
_MAX_INT = 253_402_300_799  # as iat: 9999-12-31T23:59:59Z, the last instant a datetime holds

#: What a signed-review bundle (``accord review export``) is, and its content's type.
BUNDLE_TYPE = "accord.signed_management_review"
BUNDLE_FORMAT = 1
REVIEW_DOCUMENT_TYPE = "accord.management_review"

PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey


class SignatureRefused(AccordError):
    """A signature (or the attempt to submit one) that Accord refuses; ``reason`` says why."""


def _malformed(message: str) -> SignatureRefused:
    return SignatureRefused(
        f"Malformed JWS: {message}", reason="MALFORMED_JWS", code=ErrorCode.BAD_USER_INPUT
    )


@dataclass(frozen=True, slots=True)
class Signer:
    """A member of a tenant, as signatures and required-signatory lists name them."""

    tenant: str
    subject: str

    def __str__(self) -> str:
        return f"{self.tenant}/{self.subject}"

    @classmethod
    def parse(cls, text: str) -> Signer:
        """``TENANT/SUBJECT`` (the subject may itself contain slashes)."""
        tenant, _, subject = text.strip().partition("/")
        if not tenant or not subject:
            raise SignatureRefused(
                f"'{text}' is not TENANT/SUBJECT.",
                reason="BAD_SIGNER",
                code=ErrorCode.BAD_USER_INPUT,
                field="signer",
            )
        return cls(tenant=tenant, subject=subject)


@dataclass(frozen=True, slots=True)
class Binding:
    """What a signature is about: one revision of one review, its digest, and its signer."""

    review: str
    revision: int
    digest: str
    signer: Signer


@dataclass(frozen=True, slots=True)
class DetachedJws:
    """A parsed (not yet verified) detached JWS."""

    compact: str
    protected: str  # the BASE64URL header segment, exactly as received
    header: dict[str, Any]
    signature: bytes

    @property
    def alg(self) -> str:
        return str(self.header["alg"])

    @property
    def kid(self) -> str:
        return str(self.header["kid"])

    @property
    def signed_at(self) -> int:
        return int(self.header["iat"])

    @property
    def binding(self) -> Binding:
        h = self.header
        return Binding(
            review=h["review"],
            revision=h["revision"],
            digest=h["digest"],
            signer=Signer(h["signer_tenant"], h["signer_subject"]),
        )


# --- encoding -----------------------------------------------------------------------


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict BASE64URL without padding: a value has exactly one accepted encoding."""
    if not _B64URL_RE.match(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(data) != text:
        raise ValueError("non-canonical base64url")
    return data


def payload_of(digest: str) -> bytes:
    """The detached payload: the content digest (hex) as ASCII bytes."""
    return digest.encode("ascii")


def signing_input(protected: str, digest: str) -> bytes:
    return f"{protected}.{b64url_encode(payload_of(digest))}".encode("ascii")


# --- keys -----------------------------------------------------------------------------


def load_private_key(pem: bytes) -> PrivateKey:
    """An unencrypted PEM private key, Ed25519 or P-256 (what ``sign`` reads from --key)."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SignatureRefused(
            f"Not an unencrypted PEM private key: {exc}",
            reason="BAD_PRIVATE_KEY",
            code=ErrorCode.BAD_USER_INPUT,
            field="key",
        ) from None
    if isinstance(key, Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise SignatureRefused(
        "Signing keys are Ed25519 or EC P-256.",
        reason="UNSUPPORTED_KEY_ALGORITHM",
        code=ErrorCode.BAD_USER_INPUT,
        field="key",
    )


def public_jwk(key: PrivateKey | PublicKey) -> dict[str, str]:
    """The public JWK (kty, crv, x[, y]) of a key; private material never appears."""
    public = (
        key.public_key() if isinstance(key, Ed25519PrivateKey | ec.EllipticCurvePrivateKey) else key
    )
    if isinstance(public, Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    numbers = public.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url_encode(numbers.x.to_bytes(32, "big")),
        "y": b64url_encode(numbers.y.to_bytes(32, "big")),
    }


def key_algorithm(jwk: Mapping[str, Any]) -> str:
    """``Ed25519`` or ``ES256``: the algorithm a JWK's key signs with."""
    if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
        return "Ed25519"
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        return "ES256"
    raise ValueError(f"not an Ed25519 or P-256 key (kty {jwk.get('kty')!r})")


def public_key_from_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """The verifying key of a public JWK; ``ValueError`` for anything else."""
    if _PRIVATE_MEMBERS & set(jwk):
        raise ValueError("the JWK contains private key material")
    if key_algorithm(jwk) == "Ed25519":
        x = b64url_decode(str(jwk.get("x", "")))
        if len(x) != 32:
            raise ValueError("an Ed25519 x is 32 bytes")
        return Ed25519PublicKey.from_public_bytes(x)
    x, y = (b64url_decode(str(jwk.get(c, ""))) for c in ("x", "y"))
    if len(x) != 32 or len(y) != 32:
        raise ValueError("P-256 x and y are 32 bytes each")
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
    )
    return numbers.public_key()  # ValueError when the point is not on the curve


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint (what a key registered without ``kid`` is named by)."""
    members = ("crv", "kty", "x") if jwk.get("kty") == "OKP" else ("crv", "kty", "x", "y")
    required = {m: jwk[m] for m in members if m in jwk}
    text = json.dumps(required, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(text.encode("utf-8")).digest())


def same_key(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two JWKs hold the same public key (whatever else they carry)."""
    return all(a.get(m) == b.get(m) for m in ("kty", "crv", "x", "y"))


# --- sign, parse, verify ---------------------------------------------------------------


def sign_detached(
    key: PrivateKey, *, kid: str, binding: Binding, signed_at: int | None = None
) -> str:
    """Sign ``binding.digest`` with ``key``: ``header..signature`` (run by the signer)."""
    alg = "Ed25519" if isinstance(key, Ed25519PrivateKey) else "ES256"
    header = {
        "alg": alg,
        "kid": kid,
        "typ": TYP,
        "crit": list(BINDING),
        "review": binding.review,
        "revision": binding.revision,
        "digest": binding.digest,
        "signer_tenant": binding.signer.tenant,
        "signer_subject": binding.signer.subject,
        "iat": int(clock.now().timestamp()) if signed_at is None else signed_at,
    }
    protected = b64url_encode(json.dumps(header, separators=(",", ":")).encode("utf-8"))
    data = signing_input(protected, binding.digest)
    if isinstance(key, Ed25519PrivateKey):
        signature = key.sign(data)
    else:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{protected}..{b64url_encode(signature)}"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for name, value in pairs:
        if name in seen:
            raise ValueError(f"header parameter '{name}' appears twice")
        seen[name] = value
    return seen


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_detached(compact: str) -> DetachedJws:
    """Parse a detached JWS strictly; ``SignatureRefused`` (MALFORMED_JWS or
    ALG_NOT_ALLOWED) says what is wrong. Nothing is verified yet."""
    if not isinstance(compact, str) or not compact.strip():
        raise _malformed("empty.")
    compact = compact.strip()
    if len(compact) > MAX_JWS_LENGTH or not compact.isascii():
        raise _malformed(f"longer than {MAX_JWS_LENGTH} characters or not ASCII.")
    parts = compact.split(".")
    if len(parts) != 3:
        raise _malformed(f"a compact JWS has 3 dot-separated parts; this one has {len(parts)}.")
    protected, payload, signature = parts
    try:
        header = json.loads(
            b64url_decode(protected).decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_refuse_constant,
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise _malformed(f"the protected header is not base64url JSON ({exc}).") from None
    if not isinstance(header, dict):
        raise _malformed("the protected header is not a JSON object.")
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise SignatureRefused(
            f"Algorithm {alg!r} is not allowed; review signatures use Ed25519 (EdDSA) or ES256.",
            reason="ALG_NOT_ALLOWED",
            code=ErrorCode.BAD_USER_INPUT,
            field="alg",
        )
    if payload:
        raise _malformed("the payload must be detached (header..signature, RFC 7515 App. F).")
    try:
        raw_signature = b64url_decode(signature)
    except ValueError:
        raise _malformed("the signature is not base64url.") from None
    if len(raw_signature) != 64:
        raise _malformed(f"an {alg} signature is 64 bytes; this one has {len(raw_signature)}.")
    _check_header(header)
    return DetachedJws(compact=compact, protected=protected, header=header, signature=raw_signature)


def _check_header(header: dict[str, Any]) -> None:
    unknown = sorted(set(header) - HEADER)
    if unknown:
        raise _malformed(f"unsupported header parameter(s) {', '.join(unknown)}.")
    missing = [name for name in sorted(HEADER) if name not in header]
    if missing:
        raise _malformed(f"missing header parameter(s) {', '.join(missing)}.")
    if header["typ"] != TYP:
        raise _malformed(f"typ is {header['typ']!r}, not {TYP!r}.")
    crit = header["crit"]
    if not isinstance(crit, list) or sorted(map(str, crit)) != sorted(BINDING):
        raise _malformed(f"crit must list exactly {', '.join(BINDING)}.")
    kid = header["kid"]
    if not isinstance(kid, str) or not 0 < len(kid) <= 200:
        raise _malformed("kid is a string of 1 to 200 characters.")
    if not isinstance(header["review"], str) or not _is_uuid(header["review"]):
        raise _malformed("review is not a review id.")
    for name, least in (("revision", 1), ("iat", 0)):
        value = header[name]
        if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= _MAX_INT:
            raise _malformed(f"{name} is not an integer from {least} to {_MAX_INT}.")
    if not isinstance(header["digest"], str) or not _DIGEST_RE.match(header["digest"]):
        raise _malformed("digest is not a lower-case hex SHA-256.")
    for name in ("signer_tenant", "signer_subject"):
        if not isinstance(header[name], str) or not header[name].strip():
            raise _malformed(f"{name} is not a non-empty string.")


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def verify_signature(parsed: DetachedJws, *, jwk: Mapping[str, Any], digest: str) -> None:
    """Check the signature over ``digest`` with ``jwk``; ``SignatureRefused`` when it fails.

    ``digest`` is the verifier's own: the one of the content it holds, never the header's.
    """
    try:
        key = public_key_from_jwk(jwk)
        expected = key_algorithm(jwk)
    except (ValueError, KeyError) as exc:
        raise SignatureRefused(
            f"The verifying key is not usable: {exc}.",
            reason="BAD_KEY",
            code=ErrorCode.FORBIDDEN,
            field="kid",
        ) from None
    if ALGORITHMS[parsed.alg] != ALGORITHMS[expected]:
        raise SignatureRefused(
            f"The JWS says {parsed.alg} but key '{parsed.kid}' is an {expected} key.",
            reason="ALG_KEY_MISMATCH",
            code=ErrorCode.FORBIDDEN,
            field="alg",
        )
    data = signing_input(parsed.protected, digest)
    try:
        if isinstance(key, Ed25519PublicKey):
            key.verify(parsed.signature, data)
        else:
            r = int.from_bytes(parsed.signature[:32], "big")
            s = int.from_bytes(parsed.signature[32:], "big")
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SignatureRefused(
            f"The signature does not verify with key '{parsed.kid}' over digest {digest}: "
            "it was made with another key or over other content.",
            reason="SIGNATURE_INVALID",
            code=ErrorCode.FORBIDDEN,
            field="jws",
        ) from None
