"""Tenants (the partner network, to signed-in callers) and ``me`` (the signed-in principal)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from accord.graphql.auth import require_principal
from accord.graphql.context import Context
from accord.tenants import service as tenant_service
from accord.tenants.identity.principal import PrincipalKind
from accord.tenants.models import Tenant, TenantStatus


@strawberry.enum(name="TenantStatus")
class TenantStatusEnum(Enum):
    ACTIVE = TenantStatus.ACTIVE.value
    SUSPENDED = TenantStatus.SUSPENDED.value
    OFFBOARDED = TenantStatus.OFFBOARDED.value


@strawberry.type(
    name="Tenant", description="A partner organisation and the store its data lives in."
)
class TenantType:
    slug: str
    legal_name: str
    jurisdiction: str = strawberry.field(description="ISO 3166-1 alpha-2 country code.")
    store: str
    region: str
    status: TenantStatusEnum
    created_at: datetime
    offboarded_at: datetime | None

    @classmethod
    def from_model(cls, tenant: Tenant, region: str) -> TenantType:
        return cls(
            slug=tenant.slug,
            legal_name=tenant.legal_name,
            jurisdiction=tenant.jurisdiction,
            store=tenant.store,
            region=region,
            status=TenantStatusEnum(tenant.status),
            created_at=tenant.created_at,
            offboarded_at=tenant.offboarded_at,
        )


@strawberry.enum(name="PrincipalKind")
class PrincipalKindEnum(Enum):
    USER = PrincipalKind.USER.value
    SERVICE = PrincipalKind.SERVICE.value
    OPERATOR = PrincipalKind.OPERATOR.value


@strawberry.type(name="Principal", description="The signed-in caller, as the token proved it.")
class PrincipalType:
    tenant: str | None = strawberry.field(description="None for platform operators.")
    subject: str
    kind: PrincipalKindEnum
    issuer: str
    roles: list[str]
    scopes: list[str]
    expires_at: datetime | None


@strawberry.type
class TenantQueries:
    @strawberry.field(description="The partner organisations of this network.")
    async def tenants(self, info: strawberry.Info[Context, None]) -> list[TenantType]:
        require_principal(info.context)
        runtime = info.context.runtime
        async with runtime.control_session() as session:
            tenants = await tenant_service.list_tenants(session=session)
        return [TenantType.from_model(t, runtime.regions.get(t.store, "")) for t in tenants]

    @strawberry.field(description="Who you are signed in as.")
    def me(self, info: strawberry.Info[Context, None]) -> PrincipalType:
        principal = require_principal(info.context)
        return PrincipalType(
            tenant=principal.tenant,
            subject=principal.subject,
            kind=PrincipalKindEnum(principal.kind.value),
            issuer=principal.issuer,
            roles=sorted(principal.roles),
            scopes=sorted(principal.scopes),
            expires_at=principal.expires_at,
        )
