"""Mapping imports, exports and conflict reports across stores (what the CLI runs).

The catalog lives in every store, so a global import runs in one transaction per store,
all of them open together: a problem found in any store rolls every store back. (The
commits themselves follow one another; a store failing between two commits is caught up
by importing again, which replaces the set.) A tenant import runs in the tenant's session.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AsyncExitStack
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.crosswalk import MappingConflict
from accord.compliance.mappings import service as mapping_service
from accord.compliance.mappings.service import ImportReport
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session


async def import_file(
    runtime: Runtime,
    *,
    source: Path | Mapping[str, object],
    actor: str,
    tenant: str | None = None,
    source_standard: str | None = None,
    target_standard: str | None = None,
) -> ImportReport:
    """Import a CISO Assistant library or an OSCAL mapping collection, told apart by content."""
    document = mapping_service.read_document(source)

    async def run(session: AsyncSession) -> ImportReport:
        if mapping_service.is_oscal(document):
            return await mapping_service.import_oscal_collection(
                session=session,
                collection=document,
                actor=actor,
                tenant_slug=tenant,
                source_standard=source_standard,
                target_standard=target_standard,
            )
        return await mapping_service.import_ciso_library(
            session=session,
            library=document,
            actor=actor,
            tenant_slug=tenant,
        )

    if tenant is not None:
        async with tenant_session(runtime, tenant) as session:
            return await run(session)
    async with AsyncExitStack() as stack:
        reports = []
        for store in runtime.stores.names():
            # The catalog is reference data every tenant reads: only the migrator writes it.
            session = await stack.enter_async_context(runtime.stores.migrator_session(store))
            reports.append(await run(session))
        return reports[0]


async def export_file(
    runtime: Runtime, *, out: Path, mapping_set: str | None = None, tenant: str | None = None
) -> int:
    """Write an OSCAL mapping collection; return the number of maps written."""
    if tenant is None:
        async with runtime.control_session() as session:
            document = await mapping_service.export_oscal(session=session, mapping_set=mapping_set)
    else:
        async with tenant_session(runtime, tenant) as session:
            document = await mapping_service.export_oscal(
                session=session, mapping_set=mapping_set, tenant_slug=tenant
            )
    out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    collection = document["mapping-collection"]
    assert isinstance(collection, dict)
    return sum(len(entry["maps"]) for entry in collection["mappings"])


async def conflicts(runtime: Runtime, *, tenant: str | None = None) -> list[MappingConflict]:
    """Conflicts among global mappings (home store) and, given a tenant, its own."""
    if tenant is None:
        async with runtime.control_session() as session:
            return await mapping_service.list_conflicts(session=session)
    async with tenant_session(runtime, tenant) as session:
        return await mapping_service.list_conflicts(session=session, tenant_slug=tenant)
