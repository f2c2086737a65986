"""The keys an offline verifier trusts: signatory organisations' published signing keys.

A signed-review bundle carries each signer's public key, but anyone can write a bundle:
edit the content, sign it with keys of their own and list those. So a verifier relies
only on keys it got from the organisations themselves — each one's key set as exported
by ``accord review keys`` (``member_keys.published_key_set``), pinned in a file. A key
set is a JWKS whose keys also name their holder (``tenant``, ``subject``) and validity
window (``not_before`` .. ``not_after``/``revoked_at``): a rotated key still verifies what
was signed while it was valid, never what was signed outside that window.

Pure: no database, no network. ``read_key_set`` refuses anything it cannot read exactly
(``TrustUnreadable``); ``combine`` joins the key sets of several organisations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from accord.compliance.reviews.signatures.jws import (
    SignatureRefused,
    Signer,
    public_key_from_jwk,
    same_key,
)
from accord.platform.errors import ErrorCode
from accord.tenants.identity.member_keys import KEY_SET_FORMAT, KEY_SET_TYPE

_JWK_MEMBERS = ("kty", "crv", "x", "y", "alg", "use")


class TrustUnreadable(SignatureRefused):
    """A file given as trusted keys that is not an organisation's key set."""


def _unreadable(source: str, message: str) -> TrustUnreadable:
    return TrustUnreadable(
        f"{source} is not a key set of signing keys: {message}.",
        reason="TRUST_UNREADABLE",
        code=ErrorCode.BAD_USER_INPUT,
        field="trust",
    )


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """One published key of one member, and when it could sign."""

    holder: Signer
    kid: str
    jwk: dict[str, Any]
    not_before: datetime
    not_after: datetime | None  # the earlier of expiry and revocation; None: still valid
    source: str

    def valid_at(self, at: datetime) -> bool:
        """Whether the key could sign at ``at``, a signature's ``iat``: whole seconds, so
        the window opens at the second the key was registered in."""
        opens = self.not_before.replace(microsecond=0)
        return opens <= at and (self.not_after is None or at < self.not_after)

    def window(self) -> str:
        until = "not revoked" if self.not_after is None else f"until {self.not_after.isoformat()}"
        return f"valid from {self.not_before.isoformat()}, {until}"


@dataclass(slots=True)
class TrustedKeys:
    """The organisations a verifier holds key sets of, and their members' keys."""

    organisations: dict[str, str] = field(default_factory=dict)  # tenant -> source
    keys: dict[tuple[Signer, str], TrustedKey] = field(default_factory=dict)

    @property
    def sources(self) -> list[str]:
        return sorted(set(self.organisations.values()))

    def key(self, signer: Signer, kid: str) -> TrustedKey | None:
        return self.keys.get((signer, kid))


def _instant(value: Any, name: str, source: str) -> datetime:
    if not isinstance(value, str):
        raise _unreadable(source, f"{name} is not an ISO 8601 instant")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise _unreadable(source, f"{name} {value!r} is not an ISO 8601 instant") from None
    if at.tzinfo is None:
        raise _unreadable(source, f"{name} {value!r} has no time zone")
    return at.astimezone(UTC)


def _trusted_key(entry: Any, index: int, organisations: set[str], source: str) -> TrustedKey:
    where = f"key {index + 1}"
    if not isinstance(entry, dict):
        raise _unreadable(source, f"{where} is not a JWK object")
    tenant, subject, kid = (
        value if isinstance(value := entry.get(name), str) else ""
        for name in ("tenant", "subject", "kid")
    )
    if not (tenant and subject and kid):
        raise _unreadable(source, f"{where} does not name its tenant, subject and kid")
    if tenant not in organisations:
        raise _unreadable(source, f"{where} belongs to {tenant}, which the set does not list")
    if entry.get("use", "sig") != "sig":
        raise _unreadable(source, f"{where} ('{kid}') is not a signing key (use {entry['use']!r})")
    jwk = {m: entry[m] for m in _JWK_MEMBERS if m in entry}
    try:
        public_key_from_jwk(entry)  # refuses private members, other key types, bad points
    except (ValueError, KeyError) as exc:
        raise _unreadable(source, f"{where} ('{kid}') is not a usable public key: {exc}") from None
    not_before = _instant(entry.get("not_before"), f"{where} not_before", source)
    ends = [
        _instant(entry[name], f"{where} {name}", source)
        for name in ("not_after", "revoked_at")
        if entry.get(name) is not None
    ]
    return TrustedKey(
        holder=Signer(tenant, subject),
        kid=kid,
        jwk={**jwk, "kid": kid},
        not_before=not_before,
        not_after=min(ends) if ends else None,
        source=source,
    )


def read_key_set(document: Any, *, source: str) -> TrustedKeys:
    """The keys of an exported key set (``member_keys.published_key_set``)."""
    if not isinstance(document, dict) or document.get("type") != KEY_SET_TYPE:
        raise _unreadable(source, f"type {KEY_SET_TYPE!r} expected")
    if document.get("format") != KEY_SET_FORMAT:
        raise _unreadable(source, f"format {document.get('format')!r} is not {KEY_SET_FORMAT}")
    tenants, keys = document.get("tenants"), document.get("keys")
    if not isinstance(tenants, list) or not all(isinstance(t, str) and t for t in tenants):
        raise _unreadable(source, "'tenants' is not a list of tenant slugs")
    if not isinstance(keys, list):
        raise _unreadable(source, "'keys' is not a list (a JWKS)")
    trusted = TrustedKeys(organisations=dict.fromkeys(tenants, source))
    for index, entry in enumerate(keys):
        key = _trusted_key(entry, index, set(tenants), source)
        if (key.holder, key.kid) in trusted.keys:
            raise _unreadable(source, f"{key.holder} has two keys named '{key.kid}'")
        trusted.keys[key.holder, key.kid] = key
    return trusted


def combine(sets: Iterable[TrustedKeys]) -> TrustedKeys:
    """One trust anchor from several key sets; an organisation given twice must have been
    given the same keys (two different sets for one organisation are refused)."""
    combined = TrustedKeys()
    for trusted in sets:
        for tenant, source in trusted.organisations.items():
            earlier = combined.organisations.setdefault(tenant, source)
            if earlier != source and _keys_of(combined, tenant) != _keys_of(trusted, tenant):
                raise _unreadable(
                    source, f"it lists other keys for {tenant} than {earlier} does; pin one"
                )
        for name, key in trusted.keys.items():
            combined.keys.setdefault(name, key)
    return combined


def _keys_of(trusted: TrustedKeys, tenant: str) -> set[tuple[Signer, str, str, str]]:
    return {
        (k.holder, k.kid, str(sorted(k.jwk.items())), k.window())
        for k in trusted.keys.values()
        if k.holder.tenant == tenant
    }


def matches(key: TrustedKey, jwk: Mapping[str, Any]) -> bool:
    """Whether a bundle lists the trusted key itself (and not another under its kid)."""
    return same_key(key.jwk, jwk)
