"""Identity: who may call Accord, and as whom.

- ``service``: the OIDC issuers each tenant trusts; platform issuers for operators.
- ``accounts``: connectors' service accounts; platform operators.
- ``member_keys``: members' public signing keys.
- ``breakglass``: operators' time-boxed, logged access to a tenant.
- ``authenticate``: bearer JWT → ``Principal`` (claim names in ``principal``).
- ``jwks`` / ``tokens``: key sets and JWT verification (joserfc).
- ``devissuer``: the local development issuer.  ``middleware``: the ASGI middleware.
"""

from accord.tenants.identity.principal import (
    TENANT_CLAIM,
    Principal,
    PrincipalKind,
    Unauthenticated,
)

__all__ = ["TENANT_CLAIM", "Principal", "PrincipalKind", "Unauthenticated"]
