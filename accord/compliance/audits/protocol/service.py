"""Agreeing a protocol: the programme's default, and the terms agreed for an audit."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.audits.models import Audit
from accord.compliance.audits.protocol.models import AuditProtocol
from accord.compliance.audits.protocol.schemas import TERMS, ProgrammeProtocolIn, ProtocolIn
from accord.compliance.records.history import log_change
from accord.compliance.records.inputs import (
    parse_input,
)
from accord.platform.errors import BadInput, Conflict


def _terms(row: AuditProtocol) -> dict[str, Any]:
    return {name: getattr(row, name) for name in TERMS}


# --------------------------------------------------------------------------- agreeing


async def programme_default(*, session: AsyncSession, programme: str) -> AuditProtocol | None:
    return await session.scalar(
        select(AuditProtocol).where(
            AuditProtocol.programme == programme, AuditProtocol.audit_id.is_(None)
        )
    )


async def define_programme_protocol(
    *, session: AsyncSession, data: ProgrammeProtocolIn | Mapping[str, Any], actor: str
) -> AuditProtocol:
    """Set the default protocol of a programme (audits agreed later start from it)."""
    data = parse_input(ProgrammeProtocolIn, data)
    terms = data.model_dump(exclude={"programme"})
    row = await programme_default(session=session, programme=data.programme)
    if row is None:
        row = AuditProtocol(id=uuid.uuid4(), programme=data.programme, created_by=actor, **terms)
        session.add(row)
    else:
        for name, value in terms.items():
            setattr(row, name, value)
    row.updated_by = actor
    await log_change(
        session,
        actor=actor,
        action="audit_protocol.defined",
        record=row,
        change={"programme": data.programme, **terms},
    )
    return row


async def protocol_for(*, session: AsyncSession, audit_id: uuid.UUID) -> AuditProtocol | None:
    return await session.scalar(select(AuditProtocol).where(AuditProtocol.audit_id == audit_id))


async def agree_protocol(
    *,
    session: AsyncSession,
    audit: Audit,
    data: ProtocolIn | Mapping[str, Any] | None = None,
    actor: str,
) -> AuditProtocol:
    """Fix the protocol of ``audit``: the programme's default with ``data``'s given fields."""
    data = parse_input(ProtocolIn, data or {})
    if await protocol_for(session=session, audit_id=audit.id) is not None:
        raise Conflict(
            "The audit has its agreed protocol already.", reason="PROTOCOL_EXISTS", field="audit_id"
        )
    default = await programme_default(session=session, programme=audit.programme)
    terms = data.model_dump()
    if default is not None:
        terms.update({k: v for k, v in _terms(default).items() if k not in data.model_fields_set})
    terms["verifier_tenant"] = terms["verifier_tenant"] or audit.lead_tenant
    if terms["verifier_tenant"] == audit.audited_tenant:
        raise BadInput(
            "The audited tenant cannot verify its own findings; name another verifier.",
            reason="VERIFIER_IS_AUDITEE",
            field="verifier_tenant",
        )
    if terms["capa_plan_days"] < terms["response_days"]:
        raise BadInput(
            "The CAPA plan cannot be due before the response.",
            reason="CAPA_BEFORE_RESPONSE",
            field="capa_plan_days",
        )
    row = AuditProtocol(
        id=uuid.uuid4(),
        audit_id=audit.id,
        programme=audit.programme,
        created_by=actor,
        updated_by=actor,
        **terms,
    )
    session.add(row)
    await log_change(
        session,
        actor=actor,
        action="audit.protocol_agreed",
        record=audit,
        change={"protocol_id": row.id, "from_programme": default is not None, **terms},
    )
    return row
