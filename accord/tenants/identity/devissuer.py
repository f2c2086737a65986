"""The local development issuer: demo and test tokens without an external IdP.

An Ed25519 key pair lives under ``<data_dir>/dev-issuer/`` (created on first use, the
private key readable by its owner only). A tenant trusts it like any other issuer: a
registered provider ``urn:accord:dev-issuer`` with the public key as inline JWKS. Refused
outright when ``settings.env == "prod"`` — and ``authenticate`` refuses its tokens there
too, in case a development registration was carried into production.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import OKPKey
from sqlalchemy.ext.asyncio import AsyncSession

from accord.platform import clock
from accord.platform.errors import BadInput, Forbidden
from accord.platform.secrets import write_private_once
from accord.platform.settings import Settings
from accord.tenants.identity import service as identity_service
from accord.tenants.identity.models import IdentityProvider
from accord.tenants.identity.principal import TENANT_CLAIM
from accord.tenants.models import Tenant

log = logging.getLogger("accord.identity")

DEV_ISSUER = "urn:accord:dev-issuer"
DEV_AUDIENCE = "accord"
DEV_ALGORITHM = "Ed25519"
KEY_FILE = "signing-key.jwk.json"
MAX_TTL = timedelta(days=30)


def ensure_not_prod(settings: Settings) -> None:
    if settings.env == "prod":
        raise Forbidden(
            "The development issuer is disabled in production; use the tenant's own IdP.",
            reason="DEV_ISSUER_DISABLED",
        )


class DevIssuer:
    """The development issuer's key pair, loaded (or created) from the data directory."""

    def __init__(self, key: OKPKey) -> None:
        self._key = key

    @classmethod
    def load(cls, settings: Settings) -> DevIssuer:
        ensure_not_prod(settings)
        return cls(_load_or_create_key(settings.data_dir / "dev-issuer"))

    @property
    def kid(self) -> str:
        return str(self._key.kid)

    def jwks(self) -> dict[str, Any]:
        """The public key set to register as a tenant's inline JWKS."""
        public = self._key.as_dict(private=False)
        return {"keys": [{**public, "alg": DEV_ALGORITHM, "use": "sig"}]}

    def mint_token(
        self,
        tenant: str,
        subject: str,
        *,
        ttl: timedelta,
        audience: str = DEV_AUDIENCE,
        scopes: Iterable[str] = (),
        now: datetime | None = None,
    ) -> str:
        if not timedelta(0) < ttl <= MAX_TTL:
            raise BadInput("A token lives more than 0 s and at most 30 days.", reason="BAD_TTL")
        issued = int((now or clock.now()).timestamp())
        claims: dict[str, Any] = {
            "iss": DEV_ISSUER,
            "sub": subject,
            "aud": audience,
            "iat": issued,
            "exp": issued + int(ttl.total_seconds()),
            "jti": uuid.uuid4().hex,
            TENANT_CLAIM: tenant,
        }
        scope = " ".join(sorted(set(scopes)))
        if scope:
            claims["scope"] = scope
        header = {"alg": DEV_ALGORITHM, "kid": self.kid}
        return jwt.encode(header, claims, self._key, algorithms=[DEV_ALGORITHM])


def mint_token(
    tenant: str,
    subject: str,
    *,
    ttl: timedelta,
    settings: Settings,
    audience: str = DEV_AUDIENCE,
    scopes: Iterable[str] = (),
) -> str:
    """A token from the development issuer (refused in prod: DEV_ISSUER_DISABLED)."""
    return DevIssuer.load(settings).mint_token(
        tenant, subject, ttl=ttl, audience=audience, scopes=scopes
    )


async def register_dev_issuer(
    *, session: AsyncSession, tenant: Tenant, settings: Settings
) -> IdentityProvider:
    """Make ``tenant`` trust the development issuer (idempotent; follows a new key)."""
    issuer = DevIssuer.load(settings)
    existing = await identity_service.get_provider(
        session=session, tenant=tenant.slug, issuer=DEV_ISSUER
    )
    if existing is not None:
        if existing.jwks != issuer.jwks():
            existing.jwks, existing.jwks_url = issuer.jwks(), None
            existing.algorithms = [DEV_ALGORITHM]
            await session.flush()
        return existing
    return await identity_service.register_provider(
        session=session,
        tenant=tenant,
        issuer=DEV_ISSUER,
        audience=DEV_AUDIENCE,
        jwks=issuer.jwks(),
        algorithms=[DEV_ALGORITHM],
    )


def _load_or_create_key(directory: Path) -> OKPKey:
    path = directory / KEY_FILE
    if not path.exists():
        key = OKPKey.generate_key("Ed25519", auto_kid=True)
        write_private_once(path, json.dumps(key.as_dict(private=True)).encode())
    if path.stat().st_mode & 0o077:
        log.warning("%s was readable by others; restricting it to its owner", path)
        path.chmod(0o600)
    key = OKPKey.import_key(json.loads(path.read_text()))
    if not key.is_private or key.curve_name != "Ed25519":
        raise BadInput(f"{path} is not an Ed25519 private key.", reason="BAD_DEV_ISSUER_KEY")
    key.ensure_kid()
    return key
