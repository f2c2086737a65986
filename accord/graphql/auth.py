"""Who may ask: the signed-in principal, and the gates' refusals as coded errors."""

from __future__ import annotations

from accord.graphql.context import Context
from accord.platform.errors import Forbidden
from accord.tenants.identity.principal import Principal, Unauthenticated


def require_principal(context: Context) -> Principal:
    if context.principal is None:
        raise Unauthenticated("NO_CREDENTIALS")
    return context.principal


def require_tenant(context: Context) -> tuple[Principal, str]:
    """A principal acting for a tenant (platform operators read no tenant data here)."""
    principal = require_principal(context)
    if principal.tenant is None:
        raise Forbidden(
            "Platform operators read tenant data only through break-glass tooling.",
            reason="OPERATOR_NOT_A_TENANT_MEMBER",
        )
    return principal, principal.tenant


def require_own_tenant(context: Context, tenant: str) -> Principal:
    principal, own = require_tenant(context)
    if tenant != own:
        raise Forbidden(
            "This is answered for your own organisation only.", reason="OWN_TENANT_ONLY"
        )
    return principal
