"""The GraphQL schema of the gateway. Resolvers call services; they never write SQL."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from accord.graphql.context import Context
from accord.tenants import service as tenant_service
from accord.tenants.models import Tenant, TenantStatus


@strawberry.enum
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


@strawberry.type
class Query:
    @strawberry.field(description="The partner organisations of this network.")
    async def tenants(self, info: Info[Context, None]) -> list[TenantType]:
        runtime = info.context.runtime
        async with runtime.control_session() as session:
            tenants = await tenant_service.list_tenants(session=session)
        return [TenantType.from_model(t, runtime.regions.get(t.store, "")) for t in tenants]


schema = strawberry.Schema(query=Query)
