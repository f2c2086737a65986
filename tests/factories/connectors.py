"""Connector tests: what a sync left in a tenant."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from accord.compliance.findings.models import Finding
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session


async def snapshot(runtime: Runtime, slug: str) -> dict[str, Any]:
    async with tenant_session(runtime, slug) as s:
        rows = (
            await s.execute(
                select(
                    Finding.external_id, Finding.content_hash, Finding.severity, Finding.grade
                ).order_by(Finding.external_id)
            )
        ).all()
        events = await s.scalar(select(func.count()).select_from(EventLogEntry))
        chain = await verify_chain(s)
    return {"rows": [tuple(r) for r in rows], "events": events, "chain_ok": chain.ok}
