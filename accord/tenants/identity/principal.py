"""Who is calling: the ``Principal`` built from a verified token, and the one refusal.

Claims Accord reads from a bearer JWT (all others are ignored):

==================  ===========================================================
``iss``             issuer; must be registered for the claimed tenant (or as a
                    platform issuer for operator tokens). Required.
``aud``             must contain the audience registered with the issuer. Required.
``exp``             expiry (NumericDate). Required.
``nbf``, ``iat``    checked when present.                  (60 s leeway on all times)
``sub``             member subject, service-account ``client_id`` or operator
                    subject. Required.
``accord:tenant``   slug of the tenant whose issuer signed the token. Required for
                    users and services; absent on operator tokens.
``scope``           space-separated OAuth2 scopes (``scp`` list also accepted).
``client_id``       optional on client-credentials tokens; must equal ``sub``.
``jti``             token id, kept on the principal for audit.
==================  ===========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from accord.platform.errors import AccordError, ErrorCode

TENANT_CLAIM = "accord:tenant"
SYNC_SCOPE = "sync"
GENERIC_MESSAGE = "Unauthenticated"


class PrincipalKind(StrEnum):
    USER = "user"
    SERVICE = "service"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``tenant`` is None only for platform operators."""

    tenant: str | None
    subject: str
    kind: PrincipalKind
    issuer: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    token_id: str | None = None
    expires_at: datetime | None = None


class Unauthenticated(AccordError):
    """Every authentication failure, with one generic message.

    ``reason`` holds the precise cause for logs and tests; ``as_dict()`` (what API layers
    serialise) masks it, because telling a caller *why* a token failed (unknown issuer vs
    bad signature vs unknown kid) helps an attacker probe the configuration.
    """

    code = ErrorCode.UNAUTHENTICATED

    def __init__(self, reason: str) -> None:
        super().__init__(GENERIC_MESSAGE, reason=reason)

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "reason": self.code.value, "message": self.message}
