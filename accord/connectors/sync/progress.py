"""Sync progress as pages commit, on any replica (the ``sync_runs`` trigger notifies)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from accord.connectors.models import SyncRun
from accord.platform.errors import Forbidden, NotFound
from accord.platform.naming import schema_name
from accord.platform.notifications import NotificationHub
from accord.platform.runtime import Runtime
from accord.policies.engine import Authorizer
from accord.policies.schemas import Actor, Resource
from accord.tenants.sessions import tenant_session

RUNNING = "running"


def _progress(run: SyncRun) -> dict[str, Any]:
    return {
        "run": str(run.id),
        "status": run.status,
        "stream": run.stream,
        "instance": run.instance_name,
        "pages": run.pages,
        "fetched": run.fetched,
        "created": run.created,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "quarantined": run.quarantined,
        "error": run.error,
    }


async def sync_progress(
    runtime: Runtime,
    hub: NotificationHub,
    *,
    authorizer: Authorizer,
    principal: Actor,
    run_id: uuid.UUID,
) -> AsyncIterator[dict[str, Any]]:
    """The run's counts now, then after every committed page, until it ends.

    Runs belong to the tenant whose connector made them; only its members who may read
    its records follow them.
    """
    tenant = principal.tenant
    if (
        tenant is None
        or not authorizer.authorize(principal, "read", Resource(tenant, "finding", None)).allowed
    ):
        raise Forbidden("You may not follow this tenant's sync runs.", reason="FORBIDDEN")
    schema = schema_name(tenant)
    async with hub.subscribe("accord_sync") as notes:
        async with tenant_session(runtime, tenant) as session:
            run = await session.get(SyncRun, run_id)
        if run is None:
            raise NotFound("No such sync run.", reason="SYNC_RUN_NOT_FOUND", field="runId")
        current = _progress(run)
        yield current
        if current["status"] != RUNNING:
            return
        async for note in notes:
            payload = note.payload
            if payload.get("schema") != schema or payload.get("run") != str(run_id):
                continue
            update = {k: v for k, v in payload.items() if k != "schema"}
            yield update
            if update.get("status") != RUNNING:
                return
