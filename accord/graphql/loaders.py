"""Per-request DataLoaders: one typed attribute per loader, named after what it returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader

from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service
from accord.tenants.models import Tenant

if TYPE_CHECKING:
    from accord.graphql.records.loaders import RecordLoaders


class TenantBySlugLoader(DataLoader[str, Tenant | None]):
    """Tenants by slug: one control-plane read per batch, however many findings ask."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(load_fn=self.batch_load)
        self._runtime = runtime

    async def batch_load(self, keys: Sequence[str]) -> list[Tenant | None]:
        async with self._runtime.control_session() as session:
            tenants = await tenant_service.list_tenants(session=session)
        by_key = {t.slug: t for t in tenants}
        return [by_key.get(k) for k in keys]


@dataclass
class Loaders:
    tenant_by_slug: TenantBySlugLoader
    #: the nested-record loaders, made on first use (``accord.graphql.records.loaders``)
    records: RecordLoaders | None = None


def build_loaders(runtime: Runtime) -> Loaders:
    return Loaders(tenant_by_slug=TenantBySlugLoader(runtime))
