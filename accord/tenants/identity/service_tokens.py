"""Accord's own token endpoint for service accounts that hold an Accord-issued secret.

``POST /oauth/token`` speaks RFC 6749 §4.4 (client credentials): the client authenticates
with HTTP Basic (``client_secret_basic``) or form fields (``client_secret_post``) and gets
a short-lived JWT (RFC 9068 shape) with the ``sync`` scope, issued by
``urn:accord:token-endpoint`` for its own tenant. ``authenticate`` trusts that issuer for
service accounts with a secret only, never for members.

The signing key is derived (HKDF-SHA256) from ``ACCORD_SECRET_KEY``, so every API replica
signs and verifies with the same key and nothing else has to be stored or shared.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwt
from joserfc.jwk import OKPKey
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from accord.platform import clock
from accord.platform.secrets import secret_key
from accord.platform.settings import Settings
from accord.tenants import service as tenant_service
from accord.tenants.identity.client_secrets import hash_secret, verify_secret
from accord.tenants.identity.models import ServiceAccount
from accord.tenants.identity.principal import SYNC_SCOPE, TENANT_CLAIM
from accord.tenants.models import TenantStatus

SERVICE_ISSUER = "urn:accord:token-endpoint"
SERVICE_AUDIENCE = "accord"
SERVICE_ALGORITHM = "Ed25519"
TOKEN_TTL = timedelta(minutes=15)
OAUTH_PATH = "/oauth/token"
MAX_FORM_BYTES = 4096
# Checked when the client id is unknown, so the answer takes as long as for a known one.
_DECOY_HASH = hash_secret("decoy")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@lru_cache(maxsize=4)
def _key_from(material: bytes) -> OKPKey:
    seed = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"accord service tokens v1"
    ).derive(material)
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = OKPKey.import_key({"kty": "OKP", "crv": "Ed25519", "d": _b64(seed), "x": _b64(raw)})
    key.ensure_kid()
    return key


def signing_key(settings: Settings) -> OKPKey:
    return _key_from(secret_key(settings, purpose="service-account tokens"))


def public_key_set(settings: Settings) -> dict[str, Any]:
    key = signing_key(settings)
    public = key.as_dict(private=False)
    return {"keys": [{**public, "alg": SERVICE_ALGORITHM, "use": "sig"}]}


def mint(settings: Settings, account: ServiceAccount) -> str:
    issued = int(clock.now().timestamp())
    claims = {
        "iss": SERVICE_ISSUER,
        "sub": account.client_id,
        "client_id": account.client_id,
        "aud": SERVICE_AUDIENCE,
        "iat": issued,
        "exp": issued + int(TOKEN_TTL.total_seconds()),
        "jti": uuid.uuid4().hex,
        "scope": SYNC_SCOPE,
        TENANT_CLAIM: account.tenant,
    }
    key = signing_key(settings)
    header = {"alg": SERVICE_ALGORITHM, "kid": key.kid, "typ": "at+jwt"}
    return jwt.encode(header, claims, key, algorithms=[SERVICE_ALGORITHM])


def _error(error: str, status: int, description: str) -> JSONResponse:
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="accord"'
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def _credentials(request: Request, form: dict[str, str]) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or "client_secret" in form:
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, sep, secret = decoded.partition(":")
        return (client_id, secret) if sep else None
    if "client_id" in form and "client_secret" in form:
        return form["client_id"], form["client_secret"]
    return None


async def token_endpoint(request: Request) -> Response:
    """RFC 6749 §4.4 token endpoint; errors as §5.2 (``invalid_client`` is 401)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return _error("invalid_request", 400, "The request is too large.")
    try:
        pairs = parse_qs(body.decode("ascii"), strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        return _error("invalid_request", 400, "The body is not a form.")
    if any(len(values) != 1 for values in pairs.values()):
        return _error("invalid_request", 400, "Each parameter is given once.")
    form = {k: v[0] for k, v in pairs.items()}
    if form.get("grant_type") != "client_credentials":
        return _error("unsupported_grant_type", 400, "Only client_credentials is supported.")
    scope = form.get("scope")
    if scope is not None and set(scope.split()) - {SYNC_SCOPE}:
        return _error("invalid_scope", 400, f"A service account's only scope is {SYNC_SCOPE}.")
    credentials = _credentials(request, form)
    if credentials is None:
        return _error("invalid_client", 401, "Authenticate the client (Basic or form).")
    client_id, secret = credentials
    runtime = request.app.state.runtime
    async with runtime.control_session() as session:
        account = await session.get(ServiceAccount, client_id) if len(client_id) <= 200 else None
        stored = account.secret_hash if account is not None else None
        valid = verify_secret(secret, stored or _DECOY_HASH) and stored is not None
        tenant = (
            await tenant_service.find(session=session, slug=account.tenant)
            if account is not None and valid
            else None
        )
    if account is None or not valid or tenant is None or tenant.status != TenantStatus.ACTIVE:
        return _error("invalid_client", 401, "Client authentication failed.")
    token = mint(runtime.settings, account)
    answer = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": int(TOKEN_TTL.total_seconds()),
        "scope": SYNC_SCOPE,
    }
    return JSONResponse(answer, headers=_NO_STORE)
