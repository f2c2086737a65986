"""Record inputs and checks: audits, findings, CAPA, evidence, the event log, refusals."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.audits.models import Audit, AuditTeamMember
from accord.compliance.capa import service as capa_service
from accord.compliance.capa.models import (
    Capa,
    CapaAction,
    capa_findings,
)
from accord.compliance.evidence.models import Evidence
from accord.compliance.findings.models import Finding
from accord.compliance.workflow import service as finding_workflow
from accord.platform.clock import today
from accord.platform.errors import AccordError
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session


def audit_input(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "programme": "Supplier quality 2027",
        "type": "joint",
        "title": "Joint audit of the Dayton plant",
        "scope": "Purchasing and operational control at the Dayton plant",
        "clause_keys": ["iso9001:2015/8.4", "iso14001:2015/8.1"],
        "lead_tenant": "northwind",
        "audited_tenant": "globex",
        "window_start": today() - timedelta(days=3),
        "window_end": today() + timedelta(days=1),
    }
    values.update(overrides)
    return values


FIVE_WHYS = {
    "method": "five_whys",
    "whys": [
        {"why": "Why are records missing?", "answer": "Evaluations were not scheduled."},
        {"why": "Why not scheduled?", "answer": "The supplier list is kept by hand."},
        {"why": "Why by hand?", "answer": "The ERP vendor master has no review date."},
    ],
    "root_cause": "No review date in the vendor master, so reviews depend on memory.",
}


async def new_finding(runtime: Runtime, slug: str, **overrides: Any) -> uuid.UUID:
    async with tenant_session(runtime, slug) as session:
        finding = await finding_workflow.raise_finding(
            session=session, data=finding_input(**overrides), actor=AUDITOR
        )
        return finding.id


async def new_capa(runtime: Runtime, slug: str, **overrides: Any) -> uuid.UUID:
    finding_id = await new_finding(runtime, slug)
    async with tenant_session(runtime, slug) as session:
        capa = await capa_service.create_capa(
            session=session, data=capa_input(finding_id, **overrides), actor=ACTOR
        )
        return capa.id


ACTOR = "user:anna.keller"


AUDITOR = "user:ben.okafor"


RAISED = datetime.now(UTC) - timedelta(days=10)


RECORD_MODELS = (Audit, AuditTeamMember, Finding, Capa, CapaAction, Evidence, EventLogEntry)


RECORD_TABLES: tuple[Table, ...] = (*(m.__table__ for m in RECORD_MODELS), capa_findings)


Call = Callable[[AsyncSession], Awaitable[object]]


def ref(prefix: str = "F") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def finding_input(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "reference": ref(),
        "title": "Supplier monitoring records missing",
        "grade": "major_nonconformity",
        "severity": "high",
        "clause_keys": ["iso9001:2015/8.4"],
        "criteria": "ISO 9001:2015 8.4.1: evaluate and monitor external providers",
        "condition": "No monitoring records for 3 of 12 active suppliers.",
        "raised_at": RAISED,
    }
    values.update(overrides)
    return values


def action_input(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": "Re-evaluate the three suppliers",
        "owner": "user:li.wei",
        "owner_tenant": "globex",
        "due_at": today() + timedelta(days=14),
    }
    values.update(overrides)
    return values


def capa_input(*finding_ids: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "reference": ref("CAPA"),
        "title": "Restore supplier monitoring",
        "finding_ids": list(finding_ids),
        "clause_keys": ["iso9001:2015/8.4"],
        "actions": [action_input()],
    }
    values.update(overrides)
    return values


def evidence_input(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": "Supplier evaluation register, Q3",
        "sha256": secrets.token_hex(32),
        "media_type": "application/pdf",
        "size_bytes": 48_213,
        "captured_at": datetime.now(UTC) - timedelta(hours=1),
        "uri": "s3://globex-evidence/register-q3.pdf",
    }
    values.update(overrides)
    return values


async def snapshot(session: AsyncSession) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every record table and of the event log, in key order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in RECORD_TABLES:
        rows = await session.execute(select(table).order_by(*table.primary_key.columns))
        out[table.name] = [tuple(row) for row in rows]
    return out


async def assert_refused(
    runtime: Runtime,
    slug: str,
    call: Call,
    *,
    error: type[AccordError],
    reason: str,
    field: str | None = None,
) -> AccordError:
    """``call`` fails as stated, and even though the caller commits, nothing was written."""
    async with tenant_session(runtime, slug) as session:
        before = await snapshot(session)
        with pytest.raises(error) as caught:
            await call(session)
    async with tenant_session(runtime, slug) as session:
        assert await snapshot(session) == before
        assert (await verify_chain(session)).ok
    assert caught.value.reason == reason, caught.value
    if field is not None:
        assert caught.value.field == field, caught.value
    return caught.value


async def events(session: AsyncSession, record_id: uuid.UUID) -> list[EventLogEntry]:
    rows = await session.scalars(
        select(EventLogEntry)
        .where(EventLogEntry.record_id == str(record_id))
        .order_by(EventLogEntry.seq)
    )
    return list(rows)
