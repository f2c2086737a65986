"""Sharing set-up: agreements between tenants, what a summary reader sees, seeded records."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from accord.compliance.incidents import service as incident_service
from accord.compliance.workflow import service as finding_workflow
from accord.platform.runtime import Runtime
from accord.tenants.agreements import service as agreements
from accord.tenants.sessions import tenant_session
from tests.factories.records import finding_input

#: What a ``summary`` reader may see, written out here rather than taken from
#: ``sharing/fields.py``: a column whitelisted there by mistake fails against this list.
_RECORD = {"id", "created_at", "updated_at"}


SUMMARY_READER_SEES: dict[str, set[str]] = {
    "finding": _RECORD
    | {"reference", "audit_id", "grade", "severity", "clause_keys", "state", "raised_at"}
    | {"response_due_at", "verification_result", "verified_at", "reopened_at", "closed_at"},
    "capa": _RECORD
    | {"reference", "clause_keys", "root_cause_method", "state", "effectiveness_due_at"}
    | {"effectiveness_verifier_tenant", "effectiveness_result", "effectiveness_checked_at"}
    | {"closed_at"},
    "audit": _RECORD
    | {"type", "clause_keys", "lead_tenant", "audited_tenant", "window_start", "window_end"}
    | {"status"},
    "evidence": _RECORD
    | {"finding_id", "capa_id", "media_type", "size_bytes", "captured_at", "uploaded_at"}
    | {"clause_keys"},
    "management_review": _RECORD
    | {"period_start", "period_end", "standards", "status", "revision", "previous_id"}
    | {"frozen_at", "approved_at"},
    "kpi": _RECORD
    | {"key", "unit", "direction", "target", "warning_threshold", "breach_threshold"}
    | {"standards", "clause_keys"},
    "risk": _RECORD
    | {"reference", "likelihood", "impact", "score", "treatment", "status", "clause_keys"},
    "incident": _RECORD
    | {"reference", "severity", "occurred_at", "detected_at", "reported_at", "status"},
}


async def raise_findings(runtime: Runtime, slug: str, *cells: tuple[str, int]) -> None:
    """``cells``: (grade, how many) — each raised with a title and a named owner."""
    async with tenant_session(runtime, slug) as session:
        for grade, count in cells:
            for _ in range(count):
                await finding_workflow.raise_finding(
                    session=session,
                    data=finding_input(grade=grade, owner="user:li.wei"),
                    actor="user:anna.keller",
                )


async def report_incidents(runtime: Runtime, slug: str, *severities: int) -> None:
    detected = datetime.now(UTC) - timedelta(days=3)
    async with tenant_session(runtime, slug) as session:
        for severity in severities:
            await incident_service.report_incident(
                session=session,
                actor="user:ciaran.walsh",
                data={
                    "reference": f"INC-{secrets.token_hex(4)}",
                    "title": "Ransomware on the ticketing platform",
                    "severity": severity,
                    "occurred_at": detected - timedelta(hours=1),
                    "detected_at": detected,
                    "reported_at": detected + timedelta(minutes=30),
                    "description": "Encrypted VMs; tickets affected.",
                },
                notify=(),
                policy={"deadline_hours": {1: 24, 2: 72, 3: 72, 4: 72}},
            )


async def grant(
    runtime: Runtime,
    grantor: str,
    grantee: str,
    level: str,
    *,
    purpose: str = "Supplier quality: shared dashboard",
    **kwargs: Any,
) -> uuid.UUID:
    """An active agreement: ``grantor`` proposes, ``grantee`` accepts, ``grantor``
    activates; ``kwargs`` go to the proposal (record types: findings unless given)."""
    async with runtime.control_session() as session:
        proposed = await agreements.propose(
            session=session,
            grantor=grantor,
            grantee=grantee,
            record_types=kwargs.pop("record_types", ["finding"]),
            level=level,
            purpose=purpose,
            proposed_by="user:anna.keller",
            **kwargs,
        )
        await agreements.accept(
            session=session, agreement_id=proposed.id, tenant=grantee, actor="user:nadia"
        )
        await agreements.activate(
            session=session, agreement_id=proposed.id, tenant=grantor, actor="user:anna"
        )
        return proposed.id
