"""OIDC discovery: an issuer URL in, the provider's metadata and verified key set out.

OpenID Connect Discovery 1.0: the document at ``<issuer>/.well-known/openid-configuration``
names the ``jwks_uri`` and the signing algorithms the issuer uses; its ``issuer`` must be
exactly the URL asked (section 4.3), or a document planted on one host could vouch for
another. The key set is fetched once here so that a registration never points at keys
Accord cannot use; from then on ``jwks.JwksCache`` keeps them fresh (refetched when a
token names an unknown ``kid``, cached for the issuer's ``max-age``).

No network I/O happens inside a database transaction: discover first, then register.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from accord.platform.errors import BadInput
from accord.tenants.identity.jwks import JwksError, parse_jwks
from accord.tenants.identity.service import validate_issuer, validate_jwks_url
from accord.tenants.identity.tokens import ALLOWED_ALGORITHMS

log = logging.getLogger("accord.identity")

WELL_KNOWN = "/.well-known/openid-configuration"
MAX_DOCUMENT_BYTES = 256 * 1024
TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """What an issuer's discovery document says, checked."""

    issuer: str
    jwks_uri: str
    #: the issuer's signing algorithms that Accord also accepts, in Accord's order
    algorithms: tuple[str, ...]
    token_endpoint: str | None
    key_ids: tuple[str, ...]


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + WELL_KNOWN


def _refused(message: str, reason: str) -> BadInput:
    return BadInput(message, reason=reason, field="issuer")


async def _get_json(client: httpx.AsyncClient, url: str, what: str) -> Any:
    try:
        async with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
            if response.status_code != 200:
                raise _refused(
                    f"The {what} at {url} answered HTTP {response.status_code}.",
                    "DISCOVERY_FAILED",
                )
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise _refused(f"The {what} at {url} is too large.", "DISCOVERY_FAILED")
    except httpx.HTTPError as exc:
        log.info("OIDC discovery of %s failed: %s", url, exc)
        raise _refused(f"The {what} at {url} could not be fetched.", "DISCOVERY_FAILED") from None
    try:
        return json.loads(bytes(body))
    except ValueError:
        raise _refused(f"The {what} at {url} is not JSON.", "DISCOVERY_FAILED") from None


def _algorithms(document: dict[str, Any]) -> tuple[str, ...]:
    advertised = document.get("id_token_signing_alg_values_supported")
    if not isinstance(advertised, list) or not all(isinstance(a, str) for a in advertised):
        raise _refused(
            "The discovery document lists no id_token_signing_alg_values_supported.",
            "DISCOVERY_INVALID",
        )
    usable = tuple(a for a in ALLOWED_ALGORITHMS if a in advertised)
    if not usable:
        raise _refused(
            f"The issuer signs with {', '.join(advertised) or 'nothing'}; Accord accepts "
            f"{', '.join(ALLOWED_ALGORITHMS)}.",
            "ALGORITHM_NOT_ALLOWED",
        )
    return usable


async def discover(
    issuer: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    allow_loopback: bool = True,
) -> ProviderMetadata:
    """Fetch and check ``issuer``'s discovery document and key set (BAD_USER_INPUT with
    reason DISCOVERY_FAILED, DISCOVERY_INVALID, ISSUER_MISMATCH, BAD_JWKS_URL, BAD_JWKS or
    ALGORITHM_NOT_ALLOWED when they are not usable).

    ``allow_loopback=False`` (what the API passes in production) refuses plain-http
    loopback URLs, so a tenant admin cannot make the server probe its own local ports.
    """
    validate_issuer(issuer)
    if not issuer.startswith(("https://", "http://")):
        raise _refused("Only an http(s) issuer has a discovery document.", "BAD_ISSUER")
    if not allow_loopback and issuer.startswith("http://"):
        raise _refused("An issuer is an https:// URL.", "BAD_ISSUER")
    async with httpx.AsyncClient(
        timeout=TIMEOUT_SECONDS, follow_redirects=False, transport=transport
    ) as client:
        document = await _get_json(client, discovery_url(issuer), "discovery document")
        if not isinstance(document, dict):
            raise _refused("The discovery document is not a JSON object.", "DISCOVERY_INVALID")
        if document.get("issuer") != issuer:
            raise _refused(
                f"The discovery document names issuer {document.get('issuer')!r}, not {issuer!r}.",
                "ISSUER_MISMATCH",
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise _refused("The discovery document has no jwks_uri.", "DISCOVERY_INVALID")
        validate_jwks_url(jwks_uri)
        if not allow_loopback and jwks_uri.startswith("http://"):
            raise BadInput("A JWKS URL is an https:// URL.", reason="BAD_JWKS_URL", field="issuer")
        algorithms = _algorithms(document)
        token_endpoint = document.get("token_endpoint")
        keys_document = await _get_json(client, jwks_uri, "key set")
    try:
        keys = parse_jwks(keys_document)
    except JwksError as exc:
        raise BadInput(str(exc), reason="BAD_JWKS", field="issuer") from None
    return ProviderMetadata(
        issuer=issuer,
        jwks_uri=jwks_uri,
        algorithms=algorithms,
        token_endpoint=token_endpoint if isinstance(token_endpoint, str) else None,
        key_ids=tuple(str(k.kid) for k in keys if k.kid),
    )


def chosen_algorithms(metadata: ProviderMetadata, requested: Sequence[str] | None) -> list[str]:
    """The algorithms to trust: those asked for, each one the issuer advertises; by default
    every advertised one Accord accepts."""
    if not requested:
        return list(metadata.algorithms)
    missing = sorted(set(requested) - set(metadata.algorithms))
    if missing:
        raise BadInput(
            f"The issuer does not sign with {', '.join(missing)} (it uses "
            f"{', '.join(metadata.algorithms)}).",
            reason="ALGORITHM_NOT_ALLOWED",
            field="algorithms",
        )
    return sorted(set(requested))
