"""Findings: one by id or by reference. Raising one and its life cycle, which read
its CAPAs, evidence and audit protocol, are in ``accord.compliance.workflow.service``."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.findings.models import Finding
from accord.platform.errors import NotFound


async def get_finding(*, session: AsyncSession, finding_id: uuid.UUID) -> Finding:
    finding = await session.get(Finding, finding_id)
    if finding is None:
        raise NotFound(f"No finding {finding_id}.", reason="FINDING_NOT_FOUND", field="finding_id")
    return finding


async def get_by_reference(*, session: AsyncSession, reference: str) -> Finding:
    finding = await session.scalar(select(Finding).where(Finding.reference == reference))
    if finding is None:
        raise NotFound(f"No finding {reference!r}.", reason="FINDING_NOT_FOUND", field="reference")
    return finding
