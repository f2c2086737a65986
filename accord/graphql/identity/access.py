"""Both gates of identity changes: signed in as a member of the tenant, and the action gate.

Everything here acts on the caller's own tenant only: no argument names another one, so a
user of another organisation can neither address nor learn about this one's identities.
Administering (issuers, members, service accounts) needs ``administer`` on record type
``tenant`` in the tenant's own domain, which the baseline gives ``tenant_admin``. The
refusal comes before any lookup, so a refused caller learns nothing about what exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.platform.errors import Forbidden
from accord.policies.schemas import Resource
from accord.policies.vocab import user_subject
from accord.tenants.identity.principal import Principal, PrincipalKind

log = logging.getLogger("accord.graphql")

ADMINISTER = "administer"
TENANT_RECORD = "tenant"


@dataclass(frozen=True, slots=True)
class Admin:
    principal: Principal
    tenant: str

    @property
    def actor(self) -> str:
        return user_subject(self.tenant, self.principal.subject)


def require_admin(context: Context) -> Admin:
    """The caller, if it may administer its own tenant (FORBIDDEN otherwise)."""
    principal, tenant = require_tenant(context)
    decision = context.authorizer.authorize(principal, ADMINISTER, Resource(tenant, TENANT_RECORD))
    if principal.kind != PrincipalKind.USER or not decision.allowed:
        log.info("%s/%s: %s", tenant, principal.subject, decision.explain)
        raise Forbidden(
            "Only a tenant admin of your organisation may do this.", reason="ACTION_DENIED"
        )
    return Admin(principal, tenant)


def require_member(context: Context) -> Admin:
    """The caller as a signed-in person of its tenant (a service account has no keys)."""
    principal, tenant = require_tenant(context)
    if principal.kind != PrincipalKind.USER:
        raise Forbidden("Only a member manages signing keys.", reason="NOT_A_MEMBER")
    return Admin(principal, tenant)


def require_reader(context: Context) -> Admin:
    """The caller, if it may read its own tenant's identity settings."""
    principal, tenant = require_tenant(context)
    decision = context.authorizer.authorize(principal, "read", Resource(tenant, TENANT_RECORD))
    if principal.kind != PrincipalKind.USER or not decision.allowed:
        raise Forbidden("You may not read your organisation's identities.", reason="ACTION_DENIED")
    return Admin(principal, tenant)
