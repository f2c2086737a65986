"""``createCapa``: a CAPA in state ``planned`` for findings, in their owner's store.

Planning corrective action is the Responsible party's work on the findings it addresses:
the owner shares its findings and CAPAs with the caller's organisation (or is it), and
the action gate grants ``propose_capa`` on the owner's findings under the process named.
Action owners may be people of partner organisations. A refusal is logged against the
first finding.
"""

from __future__ import annotations

import uuid
from datetime import date

import strawberry
from strawberry.scalars import JSON

from accord.compliance.capa import service as capa_service
from accord.graphql.audits.access import (
    Caller,
    finding_not_found,
    log_refusal,
    may_read,
    require_action,
    sovereign,
)
from accord.graphql.auth import require_principal
from accord.graphql.capas.access import capa_node
from accord.graphql.context import Context
from accord.graphql.errors import CapaError
from accord.graphql.records.capas import CapaNode
from accord.graphql.relay import GlobalId
from accord.platform.errors import AccordError, BadInput, Forbidden
from accord.policies.schemas import Resource
from accord.tenants.sessions import tenant_session

PROPOSE_ACTION = "propose_capa"


@strawberry.input
class CapaActionInput:
    title: str
    owner: str = strawberry.field(description="Who does it: a subject of `ownerTenant`.")
    owner_tenant: str = strawberry.field(
        description="The organisation the owner belongs to; it may be a partner."
    )
    due_at: date


@strawberry.input
class CreateCapaInput:
    finding_ids: list[strawberry.ID] = strawberry.field(
        description="The findings it addresses, all of one organisation: the CAPA's owner."
    )
    process: str | None = strawberry.field(
        default=None, description="The shared process (RACI) the plan is made in."
    )
    reference: str
    title: str
    clause_keys: list[str] = strawberry.field(
        description="The clauses its actions address (its scope), e.g. 'iso9001:2015/8.4'."
    )
    root_cause: JSON | None = strawberry.field(
        default=None,
        description="The analysis, tagged by `method`: five_whys, fishbone or fmea.",
    )
    containment: str | None = None
    actions: list[CapaActionInput] = strawberry.field(default_factory=list)


@strawberry.type
class CreateCapaPayload:
    capa: CapaNode | None
    errors: list[CapaError]


def _capas_not_shared() -> Forbidden:
    return Forbidden(
        "That organisation does not share CAPAs with yours.", reason="NOT_SHARED", field="id"
    )


def _owner_of(finding_ids: list[strawberry.ID]) -> list[GlobalId]:
    found = [GlobalId.decode(i, expected="Finding") for i in finding_ids]
    if not found:
        raise BadInput(
            "A CAPA addresses at least one finding.",
            reason="FINDING_REQUIRED",
            field="finding_ids",
        )
    if len({g.tenant for g in found}) > 1:
        raise BadInput(
            "The findings belong to several organisations; a CAPA has one owner.",
            reason="FINDINGS_OF_SEVERAL_OWNERS",
            field="finding_ids",
        )
    return found


def _data(input: CreateCapaInput, finding_ids: list[uuid.UUID]) -> dict[str, object]:
    return {
        "reference": input.reference,
        "title": input.title,
        "finding_ids": finding_ids,
        "clause_keys": input.clause_keys,
        "root_cause": input.root_cause,
        "containment": input.containment,
        "actions": [
            {
                "title": a.title,
                "owner": a.owner,
                "owner_tenant": a.owner_tenant,
                "due_at": a.due_at,
            }
            for a in input.actions
        ],
    }


async def create_capa(
    info: strawberry.Info[Context, None], input: CreateCapaInput
) -> CreateCapaPayload:
    context = info.context
    require_principal(context)
    caller: Caller | None = None
    findings: list[GlobalId] = []
    try:
        findings = _owner_of(input.finding_ids)
        owner = findings[0].tenant
        caller = await sovereign(
            context, owner=owner, record_type="finding", unshared=finding_not_found
        )
        capas = await sovereign(
            context, owner=owner, record_type="capa", unshared=_capas_not_shared
        )
        require_action(context, caller, PROPOSE_ACTION, Resource(owner, "finding", input.process))
        async with tenant_session(context.runtime, owner) as session:
            capa = await capa_service.create_capa(
                session=session,
                data=_data(input, [g.record_id for g in findings]),
                actor=caller.actor,
            )
            node = await capa_node(session, owner, capas.level, capa, input.process)
    except AccordError as exc:
        seen = Resource(findings[0].tenant, "finding", input.process) if findings else None
        if caller is not None and seen and may_read(context, caller, seen):
            await log_refusal(
                context,
                owner=findings[0].tenant,
                record_type="finding",
                record_id=findings[0].record_id,
                caller=caller,
                attempt="create_capa",
                error=exc,
            )
        return CreateCapaPayload(capa=None, errors=[CapaError.of(exc)])
    return CreateCapaPayload(capa=node, errors=[])
