"""Both gates for joint audit mutations, and the log of refused attempts.

A record the caller may not read (the action gate for ``read``) is answered as one that
does not exist, and no refusal is logged against it.

Sovereignty: a partner touches the audited tenant's audits or findings only under an
active agreement sharing that record type with it (``full`` or ``summary``); without one
the audit or finding does not exist for the caller (NOT_FOUND), or planning is refused
as NOT_SHARED. Action: Casbin decides in the audited tenant's domain, under the shared
process the agreed protocol names (not one the caller picks), so the RACI matrix of the
joint audit governs every step.

A refusal once the caller passed the sovereignty gate — the action gate, a protocol guard,
bad input — rolls the attempt back and is then written to the owner's event log in a
transaction of its own (``<record type>.refused``), against the audit or finding tried.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.audits import service as audit_service
from accord.compliance.audits.models import Audit
from accord.compliance.findings import service as finding_service
from accord.compliance.findings.models import Finding
from accord.compliance.records.refusals import record_refusal
from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.platform.errors import AccordError, Forbidden, NotFound
from accord.policies.schemas import Resource
from accord.policies.vocab import user_subject
from accord.tenants.agreements.models import SharingLevel
from accord.tenants.agreements.service import grants_for
from accord.tenants.identity.principal import Principal, Unauthenticated
from accord.tenants.sessions import tenant_session

log = logging.getLogger("accord.graphql")


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    tenant: str
    level: SharingLevel

    @property
    def actor(self) -> str:
        return user_subject(self.tenant, self.principal.subject)


async def sovereign(
    context: Context, *, owner: str, record_type: str, unshared: Callable[[], AccordError]
) -> Caller:
    """The caller, if ``owner`` shares ``record_type`` with its organisation (or is it)."""
    principal, own = require_tenant(context)
    if owner == own:
        return Caller(principal, own, SharingLevel.FULL)
    async with context.runtime.control_session() as session:
        grants = await grants_for(session=session, grantee=own, record_type=record_type)
    grant = next((g for g in grants if g.grantor == owner), None)
    if grant is None or grant.level is SharingLevel.AGGREGATE:
        raise unshared()
    return Caller(principal, own, grant.level)


def require_action(context: Context, caller: Caller, action: str, resource: Resource) -> None:
    decision = context.authorizer.authorize(caller.principal, action, resource)
    if not decision.allowed:
        log.info("%s: %s", caller.actor, decision.explain)
        raise Forbidden(f"You may not {action} {resource.describe()}.", reason="ACTION_DENIED")


def may_read(context: Context, caller: Caller, resource: Resource) -> bool:
    """Whether the caller could see such a record at all (the action gate for ``read``).

    A refusal is written to the owner's log only for a caller who may see the record: for
    any other caller the record does not exist, and the log must not tell otherwise.
    """
    return context.authorizer.authorize(caller.principal, "read", resource).allowed


def require_visible(
    context: Context, caller: Caller, resource: Resource, not_found: Callable[[], NotFound]
) -> None:
    """Refuse a record the caller may not read exactly as one that does not exist; for
    checks that must read the record (its protocol names the process) before the gate."""
    if not may_read(context, caller, resource):
        raise not_found()


async def get_visible_finding(session: AsyncSession, finding_id: uuid.UUID) -> Finding:
    """The finding; a missing one is answered as every unseen one is (``finding_not_found``)."""
    try:
        return await finding_service.get_finding(session=session, finding_id=finding_id)
    except NotFound:
        raise finding_not_found() from None


async def get_visible_audit(session: AsyncSession, audit_id: uuid.UUID) -> Audit:
    """The audit; a missing one is answered as every unseen one is (``audit_not_found``)."""
    try:
        return await audit_service.get_audit(session=session, audit_id=audit_id)
    except NotFound:
        raise audit_not_found() from None


def audit_not_found() -> NotFound:
    return NotFound("No such audit.", reason="AUDIT_NOT_FOUND", field="audit_id")


def finding_not_found() -> NotFound:
    return NotFound("No such finding.", reason="FINDING_NOT_FOUND", field="id")


def worth_logging(error: AccordError) -> bool:
    """Refusals of a caller with standing; not "no such record" nor a missing sign-in."""
    return not isinstance(error, NotFound | Unauthenticated)


async def log_refusal(
    context: Context,
    *,
    owner: str,
    record_type: str,
    record_id: uuid.UUID,
    caller: Caller,
    attempt: str,
    error: AccordError,
) -> None:
    """Write the refused attempt to ``owner``'s log, against a record that exists."""
    if not worth_logging(error):
        return
    try:
        async with tenant_session(context.runtime, owner) as session:
            if record_type == "audit":
                await audit_service.get_audit(session=session, audit_id=record_id)
            else:
                await finding_service.get_finding(session=session, finding_id=record_id)
            await record_refusal(
                session=session,
                actor=caller.actor,
                record_type=record_type,
                record_id=record_id,
                attempt=attempt,
                error=error,
            )
    except AccordError as exc:
        log.warning("refused %s on %s/%s not logged: %s", attempt, owner, record_id, exc)
