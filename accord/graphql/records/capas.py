"""CAPAs: the listing, one by id, and each CAPA's findings, actions and evidence (loaders)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from accord.compliance.capa.models import ActionStatus, EffectivenessResult, RootCauseMethod
from accord.compliance.capa.states import CapaState
from accord.compliance.sharing.federation import Condition, Ordering
from accord.compliance.sharing.reads import SharedRecord
from accord.graphql.context import Context
from accord.graphql.findings.types import FindingType
from accord.graphql.pagination import PageInfo
from accord.graphql.permissions import RecordActionEnum, allowed_actions
from accord.graphql.records.common import (
    WITHHELD,
    Conditions,
    Process,
    SharingLevelEnum,
    connection_page,
    find_record,
    global_id,
    level_of,
    normalised,
    opt,
    today,
    visible,
)
from accord.graphql.records.evidence import EvidenceNode
from accord.graphql.records.loaders import (
    ActionsByCapaLoader,
    CapasByFindingLoader,
    EvidenceByCapaLoader,
    FindingsByCapaLoader,
    load,
)
from accord.graphql.relay import GlobalId, Node
from accord.tenants.agreements.models import SharingLevel

RECORD_TYPE = "capa"
_ACTION_WITHHELD = "Null when the owner shares only a summary of the CAPA with you."


@strawberry.enum(name="CapaState")
class CapaStateEnum(Enum):
    PLANNED = CapaState.PLANNED.value
    APPROVED = CapaState.APPROVED.value
    IN_PROGRESS = CapaState.IN_PROGRESS.value
    IMPLEMENTED = CapaState.IMPLEMENTED.value
    EFFECTIVENESS_CHECK = CapaState.EFFECTIVENESS_CHECK.value
    CLOSED = CapaState.CLOSED.value


@strawberry.enum(name="RootCauseMethod")
class RootCauseMethodEnum(Enum):
    FIVE_WHYS = RootCauseMethod.FIVE_WHYS.value
    FISHBONE = RootCauseMethod.FISHBONE.value
    FMEA = RootCauseMethod.FMEA.value


@strawberry.enum(name="EffectivenessResult")
class EffectivenessResultEnum(Enum):
    EFFECTIVE = EffectivenessResult.EFFECTIVE.value
    NOT_EFFECTIVE = EffectivenessResult.NOT_EFFECTIVE.value


@strawberry.enum(name="CapaActionStatus")
class CapaActionStatusEnum(Enum):
    OPEN = ActionStatus.OPEN.value
    DONE = ActionStatus.DONE.value


@strawberry.type(
    name="CapaAction", description="One action of a CAPA, at the level the CAPA is shared."
)
class CapaActionNode:
    id: uuid.UUID
    capa_id: uuid.UUID
    level: SharingLevelEnum
    owner_tenant: str = strawberry.field(description="The tenant whose person does it.")
    due_at: date
    status: CapaActionStatusEnum
    completed_at: datetime | None
    overdue: bool = strawberry.field(description="Open and past its due date.")
    created_at: datetime
    updated_at: datetime
    title: str | None = strawberry.field(description=_ACTION_WITHHELD)
    owner: str | None = strawberry.field(description="Who does it. " + _ACTION_WITHHELD)
    completed_by: str | None = strawberry.field(description=_ACTION_WITHHELD)

    @classmethod
    def from_fields(cls, level: SharingLevel, fields: dict[str, Any]) -> CapaActionNode:
        f = fields.get
        status = CapaActionStatusEnum(fields["status"])
        return cls(
            id=fields["id"],
            capa_id=fields["capa_id"],
            level=SharingLevelEnum(level.value),
            owner_tenant=fields["owner_tenant"],
            due_at=fields["due_at"],
            status=status,
            completed_at=f("completed_at"),
            overdue=status is CapaActionStatusEnum.OPEN and fields["due_at"] < today(),
            created_at=fields["created_at"],
            updated_at=fields["updated_at"],
            title=f("title"),
            owner=f("owner"),
            completed_by=f("completed_by"),
        )


@strawberry.type(
    name="Capa", description="A corrective and preventive action, owned by one tenant."
)
class CapaNode(Node):
    tenant: str = strawberry.field(description="The tenant that owns the CAPA.")
    level: SharingLevelEnum
    reference: str
    clause_keys: list[str]
    root_cause_method: RootCauseMethodEnum | None
    state: CapaStateEnum
    effectiveness_due_at: date | None
    effectiveness_verifier_tenant: str | None
    effectiveness_result: EffectivenessResultEnum | None
    effectiveness_checked_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    title: str | None = strawberry.field(description=WITHHELD)
    root_cause_analysis: JSON | None = strawberry.field(description=WITHHELD)
    containment: str | None = strawberry.field(description=WITHHELD)
    effectiveness_verifier_subject: str | None = strawberry.field(description=WITHHELD)
    effectiveness_checked_by: str | None = strawberry.field(description=WITHHELD)
    closed_by: str | None = strawberry.field(description=WITHHELD)
    record_id: strawberry.Private[uuid.UUID]
    process: strawberry.Private[str | None]

    @strawberry.field(
        description="The actions your RACI allows on this CAPA under `process` (by default "
        "the one it was read under): the decision the mutations' action gate takes. Its "
        "state and the CAPA rules (nobody approves their own plan, …) may still refuse one."
    )
    def allowed_actions(
        self, info: strawberry.Info[Context, None], process: str | None = None
    ) -> list[RecordActionEnum]:
        return allowed_actions(
            info.context,
            owner=self.tenant,
            record_type=RECORD_TYPE,
            process=process or self.process,
        )

    @strawberry.field(
        description="The findings this CAPA addresses that you may read, newest first, at "
        "the level their owner granted."
    )
    async def findings(self, info: strawberry.Info[Context, None]) -> list[FindingType]:
        key = (self.tenant, self.record_id)
        records = await load(info, FindingsByCapaLoader, self.process, key)
        return [FindingType.from_shared(r) for r in records]

    @strawberry.field(
        description="The CAPA's actions by due date; null when you may not read them (no "
        "`read` on `capa_action` of the owner, or the owner could not be read)."
    )
    async def actions(self, info: strawberry.Info[Context, None]) -> list[CapaActionNode] | None:
        shared = await load(info, ActionsByCapaLoader, self.process, (self.tenant, self.record_id))
        if shared is None:
            return None
        return [CapaActionNode.from_fields(shared.level, row) for row in shared.rows]

    @strawberry.field(description="Evidence filed on this CAPA that you may read, newest first.")
    async def evidence(self, info: strawberry.Info[Context, None]) -> list[EvidenceNode]:
        key = (self.tenant, self.record_id)
        records = await load(info, EvidenceByCapaLoader, self.process, key)
        return [EvidenceNode.from_shared(r, self.process) for r in records]

    @classmethod
    def from_shared(cls, record: SharedRecord, process: str | None) -> CapaNode:
        level = level_of(record)
        fields = visible(RECORD_TYPE, level, record["fields"])
        f = fields.get
        analysis = f("root_cause_analysis")
        return cls(
            id=global_id("Capa", record),
            tenant=record["owner"],
            level=SharingLevelEnum(level.value),
            reference=fields["reference"],
            clause_keys=list(fields["clause_keys"]),
            root_cause_method=opt(RootCauseMethodEnum, f("root_cause_method")),
            state=CapaStateEnum(fields["state"]),
            effectiveness_due_at=f("effectiveness_due_at"),
            effectiveness_verifier_tenant=f("effectiveness_verifier_tenant"),
            effectiveness_result=opt(EffectivenessResultEnum, f("effectiveness_result")),
            effectiveness_checked_at=f("effectiveness_checked_at"),
            closed_at=f("closed_at"),
            created_at=fields["created_at"],
            updated_at=fields["updated_at"],
            title=f("title"),
            root_cause_analysis=None if analysis is None else JSON(analysis),
            containment=f("containment"),
            effectiveness_verifier_subject=f("effectiveness_verifier_subject"),
            effectiveness_checked_by=f("effectiveness_checked_by"),
            closed_by=f("closed_by"),
            record_id=fields["id"],
            process=process,
        )


@strawberry.type(name="CapaEdge")
class CapaEdge:
    cursor: str
    node: CapaNode


@strawberry.type(name="CapaConnection")
class CapaConnection:
    edges: list[CapaEdge]
    page_info: PageInfo


@strawberry.enum(name="CapaOrder", description="How a CAPA listing is sorted.")
class CapaOrder(Enum):
    CREATED_AT = "created_at"
    EFFECTIVENESS_DUE_AT = "effectiveness_due_at"


CAPA_ORDERINGS: dict[CapaOrder, Ordering] = {
    CapaOrder.CREATED_AT: Ordering("created_at", descending=True),
    CapaOrder.EFFECTIVENESS_DUE_AT: Ordering("effectiveness_due_at", nulls_as="'infinity'::date"),
}


@strawberry.input(description="Narrows a CAPA listing; every given part must match.")
class CapaFilter:
    tenants: list[str] | None = strawberry.field(
        default=None, description="Only these owning tenants."
    )
    state: list[CapaStateEnum] | None = None
    root_cause_method: list[RootCauseMethodEnum] | None = None
    clause: str | None = strawberry.field(
        default=None, description="A clause key the CAPA addresses, e.g. 'iso9001:2015/8.4'."
    )
    standard: str | None = strawberry.field(
        default=None, description="Only CAPAs addressing a clause of this standard."
    )
    verifier_tenant: str | None = strawberry.field(
        default=None, description="The tenant that checks the CAPA's effectiveness."
    )
    overdue: bool | None = strawberry.field(
        default=None, description="Not closed and past its effectiveness due date (or not)."
    )
    due_from: date | None = strawberry.field(
        default=None, description="Effectiveness due on or after this day."
    )
    due_to: date | None = strawberry.field(
        default=None, description="Effectiveness due on or before this day."
    )

    def conditions(self, on: date) -> list[Condition]:
        return (
            Conditions()
            .among("state", self.state)
            .among("root_cause_method", self.root_cause_method)
            .clauses("clause_keys", self.clause, self.standard)
            .equal("effectiveness_verifier_tenant", self.verifier_tenant)
            .overdue(
                "effectiveness_due_at",
                "state",
                self.overdue,
                today=on,
                states=[s.value for s in CapaState],
                done=[CapaState.CLOSED.value],
            )
            .between("effectiveness_due_at", self.due_from, self.due_to)
            .found
        )


async def find_capa(
    info: strawberry.Info[Context, None], gid: GlobalId, process: str | None
) -> CapaNode:
    record = await find_record(info, gid=gid, record_type=RECORD_TYPE, process=process, noun="capa")
    return CapaNode.from_shared(record, process)


async def capas_of_finding(
    root: FindingType, info: strawberry.Info[Context, None], process: Process = None
) -> list[CapaNode]:
    """``Finding.capas``: the CAPAs addressing a finding that you may read, newest first."""
    gid = GlobalId.decode(root.id, expected="Finding")
    records = await load(info, CapasByFindingLoader, process, (gid.tenant, gid.record_id))
    return [CapaNode.from_shared(r, process) for r in records]


@strawberry.type
class CapaQueries:
    @strawberry.field(
        description="CAPAs of every organisation you may read, at the level each owner "
        "granted. Owners that cannot be read are named in `errors`."
    )
    async def capas(
        self,
        info: strawberry.Info[Context, None],
        first: int = 20,
        after: str | None = None,
        filter: CapaFilter | None = None,
        order_by: CapaOrder = CapaOrder.CREATED_AT,
        process: Process = None,
    ) -> CapaConnection:
        wanted = filter or CapaFilter()
        edges, page_info = await connection_page(
            info,
            record_type=RECORD_TYPE,
            ordering=CAPA_ORDERINGS[order_by],
            conditions=wanted.conditions(today()),
            tenants=wanted.tenants,
            after=after,
            first=first,
            process=process,
            query=("capas", order_by.value, normalised(wanted)),
            edge=lambda cursor, r: CapaEdge(cursor=cursor, node=CapaNode.from_shared(r, process)),
        )
        return CapaConnection(edges=edges, page_info=page_info)

    @strawberry.field(description="One CAPA by its global id, at the level you may see it.")
    async def capa(
        self, info: strawberry.Info[Context, None], id: strawberry.ID, process: Process = None
    ) -> CapaNode | None:
        return await find_capa(info, GlobalId.decode(id, expected="Capa"), process)
