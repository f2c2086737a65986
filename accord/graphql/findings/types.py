"""The GraphQL shape of findings. Fields a ``summary`` grant withholds are nullable and
null when withheld; ``level`` says which view the caller got."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from accord.compliance.findings.models import Finding, FindingGrade, Severity, VerificationResult
from accord.compliance.findings.states import FindingState
from accord.compliance.sharing.federation import Condition, Ordering
from accord.compliance.sharing.fields import SUMMARY_FIELDS
from accord.compliance.sharing.reads import SharedRecord
from accord.graphql.context import Context
from accord.graphql.pagination import PageInfo
from accord.graphql.permissions import RecordActionEnum, allowed_actions
from accord.graphql.relay import GlobalId, Node
from accord.graphql.tenants import TenantType
from accord.tenants.agreements.models import SharingLevel

if TYPE_CHECKING:
    from accord.graphql.records.audits import AuditNode
    from accord.graphql.records.capas import CapaNode


@strawberry.enum(name="FindingGrade")
class FindingGradeEnum(Enum):
    MAJOR_NONCONFORMITY = FindingGrade.MAJOR_NONCONFORMITY.value
    MINOR_NONCONFORMITY = FindingGrade.MINOR_NONCONFORMITY.value
    OBSERVATION = FindingGrade.OBSERVATION.value
    OPPORTUNITY_FOR_IMPROVEMENT = FindingGrade.OPPORTUNITY_FOR_IMPROVEMENT.value


@strawberry.enum(name="Severity")
class SeverityEnum(Enum):
    LOW = Severity.LOW.value
    MEDIUM = Severity.MEDIUM.value
    HIGH = Severity.HIGH.value
    CRITICAL = Severity.CRITICAL.value


@strawberry.enum(name="FindingState")
class FindingStateEnum(Enum):
    OPEN = FindingState.OPEN.value
    RESPONDED = FindingState.RESPONDED.value
    CAPA_PLANNED = FindingState.CAPA_PLANNED.value
    CAPA_IMPLEMENTED = FindingState.CAPA_IMPLEMENTED.value
    VERIFICATION = FindingState.VERIFICATION.value
    CLOSED = FindingState.CLOSED.value
    REOPENED = FindingState.REOPENED.value


@strawberry.enum(name="VerificationResult")
class VerificationResultEnum(Enum):
    PASSED = VerificationResult.PASSED.value
    FAILED = VerificationResult.FAILED.value


@strawberry.enum(name="SharingLevel", description="How much of a record the caller may see.")
class SharingLevelEnum(Enum):
    FULL = SharingLevel.FULL.value
    SUMMARY = SharingLevel.SUMMARY.value


_WITHHELD = "Null when the owner shares only a summary with you."


def _opt(enum: Any, value: object) -> Any:
    return None if value is None else enum(value)


@strawberry.type(name="Finding", description="An audit finding, owned by one tenant.")
class FindingType(Node):
    tenant: str = strawberry.field(description="The tenant that owns the finding.")
    level: SharingLevelEnum
    reference: str
    audit_id: uuid.UUID | None = strawberry.field(
        description="Raw id of the audit the finding was raised in (a UUID).",
        deprecation_reason="Use `audit` (the object, with its global id).",
    )
    grade: FindingGradeEnum
    severity: SeverityEnum
    clause_keys: list[str]
    state: FindingStateEnum
    raised_at: datetime
    response_due_at: date | None
    verification_result: VerificationResultEnum | None
    verified_at: datetime | None
    reopened_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # Withheld at the summary level (free text and people): null when withheld.
    title: str | None = strawberry.field(description=_WITHHELD)
    criteria: str | None = strawberry.field(description=_WITHHELD)
    condition: str | None = strawberry.field(description=_WITHHELD)
    cause: str | None = strawberry.field(description=_WITHHELD)
    response: str | None = strawberry.field(description=_WITHHELD)
    reopened_reason: str | None = strawberry.field(description=_WITHHELD)
    raised_by: str | None = strawberry.field(description=_WITHHELD)
    owner: str | None = strawberry.field(
        description="Who addresses the finding (a person). " + _WITHHELD
    )
    verified_by: str | None = strawberry.field(description=_WITHHELD)
    reopened_by: str | None = strawberry.field(description=_WITHHELD)
    closed_by: str | None = strawberry.field(description=_WITHHELD)

    @strawberry.field(description="The owning tenant.")
    async def owning_tenant(self, info: strawberry.Info[Context, None]) -> TenantType | None:
        tenant = await info.context.loaders.tenant_by_slug.load(self.tenant)
        if tenant is None:
            return None
        return TenantType.from_model(tenant, info.context.runtime.regions.get(tenant.store, ""))

    @strawberry.field(
        description="The audit the finding was raised in; null when none, or when you may "
        "not read it."
    )
    async def audit(
        self, info: strawberry.Info[Context, None], process: str | None = None
    ) -> Annotated[AuditNode, strawberry.lazy("accord.graphql.records.audits")] | None:
        from accord.graphql.records.audits import AuditNode
        from accord.graphql.records.loaders import AuditByIdLoader, load

        if self.audit_id is None:
            return None
        record = await load(info, AuditByIdLoader, process, (self.tenant, self.audit_id))
        return None if record is None else AuditNode.from_shared(record, process)

    @strawberry.field(
        description="The actions your RACI allows on this finding under `process`: the "
        "decision the mutations' action gate takes. Its state may still refuse one."
    )
    def allowed_actions(
        self, info: strawberry.Info[Context, None], process: str | None = None
    ) -> list[RecordActionEnum]:
        return allowed_actions(
            info.context, owner=self.tenant, record_type="finding", process=process
        )

    @strawberry.field(description="The CAPAs addressing this finding that you may read.")
    async def capas(
        self, info: strawberry.Info[Context, None], process: str | None = None
    ) -> list[Annotated[CapaNode, strawberry.lazy("accord.graphql.records.capas")]]:
        from accord.graphql.records.capas import capas_of_finding

        return await capas_of_finding(self, info, process)

    @classmethod
    def from_fields(cls, tenant: str, level: SharingLevel, fields: dict[str, Any]) -> FindingType:
        if level is SharingLevel.SUMMARY:
            fields = {k: v for k, v in fields.items() if k in SUMMARY_FIELDS["finding"]}
        f = fields.get
        return cls(
            id=GlobalId("Finding", tenant, fields["id"]).encode(),
            tenant=tenant,
            level=SharingLevelEnum(level.value),
            reference=fields["reference"],
            audit_id=f("audit_id"),
            grade=FindingGradeEnum(fields["grade"]),
            severity=SeverityEnum(fields["severity"]),
            clause_keys=list(fields["clause_keys"]),
            state=FindingStateEnum(fields["state"]),
            raised_at=fields["raised_at"],
            response_due_at=f("response_due_at"),
            verification_result=_opt(VerificationResultEnum, f("verification_result")),
            verified_at=f("verified_at"),
            reopened_at=f("reopened_at"),
            closed_at=f("closed_at"),
            created_at=fields["created_at"],
            updated_at=fields["updated_at"],
            title=f("title"),
            criteria=f("criteria"),
            condition=f("condition"),
            cause=f("cause"),
            response=f("response"),
            reopened_reason=f("reopened_reason"),
            raised_by=f("raised_by"),
            owner=f("owner"),
            verified_by=f("verified_by"),
            reopened_by=f("reopened_by"),
            closed_by=f("closed_by"),
        )

    @classmethod
    def from_shared(cls, record: SharedRecord) -> FindingType:
        return cls.from_fields(record["owner"], SharingLevel(record["level"]), record["fields"])

    @classmethod
    def from_model(cls, tenant: str, level: SharingLevel, finding: Finding) -> FindingType:
        columns = {c.key: getattr(finding, c.key) for c in Finding.__table__.c}
        return cls.from_fields(tenant, level, columns)


@strawberry.type(name="FindingEdge")
class FindingEdge:
    cursor: str
    node: FindingType


@strawberry.type(name="FindingConnection")
class FindingConnection:
    edges: list[FindingEdge]
    page_info: PageInfo


@strawberry.enum(name="FindingOrder", description="How a findings listing is sorted.")
class FindingOrder(Enum):
    CREATED_AT = "created_at"
    DUE_AT = "due_at"
    RAISED_AT = "raised_at"


#: Each ordering: sort column, descending, how NULLs sort (see the t0009 indexes).
FINDING_ORDERINGS: dict[FindingOrder, Ordering] = {
    FindingOrder.CREATED_AT: Ordering("created_at", descending=True),
    FindingOrder.DUE_AT: Ordering("response_due_at", nulls_as="'infinity'::date"),
    FindingOrder.RAISED_AT: Ordering("raised_at", descending=True),
}

_OPEN_STATES = [s.value for s in FindingState if s is not FindingState.CLOSED]


@strawberry.input(description="Narrows a findings listing; every given part must match.")
class FindingFilter:
    tenants: list[str] | None = strawberry.field(
        default=None, description="Only these owning tenants."
    )
    grade: list[FindingGradeEnum] | None = None
    state: list[FindingStateEnum] | None = None
    severity: list[SeverityEnum] | None = None
    clause: str | None = strawberry.field(
        default=None, description="A clause key the finding names, e.g. 'iso9001:2015/8.4'."
    )
    standard: str | None = strawberry.field(
        default=None,
        description="Only findings naming a clause of this standard, e.g. 'iso9001:2015'.",
    )
    owner: str | None = strawberry.field(
        default=None,
        description="Who addresses the finding. Owners sharing only summaries are left out "
        "of a listing filtered on it.",
    )
    audit_id: uuid.UUID | None = None
    overdue: bool | None = strawberry.field(
        default=None, description="Not closed and past its response due date (or not overdue)."
    )
    due_from: date | None = None
    due_to: date | None = None
    raised_from: datetime | None = None
    raised_to: datetime | None = None

    def normalised(self) -> dict[str, object]:
        return {
            "tenants": sorted(self.tenants or []),
            "grade": sorted(g.value for g in self.grade or []),
            "state": sorted(s.value for s in self.state or []),
            "severity": sorted(s.value for s in self.severity or []),
            "clause": self.clause,
            "standard": self.standard,
            "owner": self.owner,
            "audit": str(self.audit_id) if self.audit_id else None,
            "overdue": self.overdue,
            "due": [str(self.due_from), str(self.due_to)],
            "raised": [str(self.raised_from), str(self.raised_to)],
        }

    def conditions(self, today: date) -> list[Condition]:
        """The filter as conditions every owner's branch applies in its own store."""
        found: list[Condition] = []
        if self.grade:
            found.append(Condition("grade", "in", [g.value for g in self.grade]))
        if self.state:
            found.append(Condition("state", "in", [s.value for s in self.state]))
        if self.severity:
            found.append(Condition("severity", "in", [s.value for s in self.severity]))
        if self.clause:
            found.append(Condition("clause_keys", "contains", self.clause))
        if self.standard:
            found.append(Condition("clause_keys", "prefix", self.standard.rstrip("/") + "/"))
        if self.owner:
            found.append(Condition("owner", "eq", self.owner))
        if self.audit_id:
            found.append(Condition("audit_id", "eq", self.audit_id))
        if self.overdue is True:
            found.append(Condition("response_due_at", "lt", today))
            found.append(Condition("state", "in", _OPEN_STATES))
        elif self.overdue is False:
            not_overdue = (
                Condition("response_due_at", "is_null", None),
                Condition("response_due_at", "ge", today),
                Condition("state", "eq", FindingState.CLOSED.value),
            )
            found.append(Condition("response_due_at", "any", not_overdue))
        if self.due_from:
            found.append(Condition("response_due_at", "ge", self.due_from))
        if self.due_to:
            found.append(Condition("response_due_at", "le", self.due_to))
        if self.raised_from:
            found.append(Condition("raised_at", "ge", self.raised_from))
        if self.raised_to:
            found.append(Condition("raised_at", "le", self.raised_to))
        return found


@strawberry.type
class FindingAggregateGroup:
    tenant: str
    grade: FindingGradeEnum
    state: FindingStateEnum
    count: int = strawberry.field(
        description="The cell's count rounded to a multiple of `roundedTo` with a secret "
        "offset per cell (the same on every read); cells rounded to 0 are not listed."
    )
    rounded_to: int = strawberry.field(
        description="The agreement's minimum group size, at least 3."
    )


@strawberry.type
class SuppressedGroups:
    tenant: str
    groups: int = strawberry.field(description="Always 0: cells are rounded, not withheld.")


@strawberry.type
class FindingAggregates:
    groups: list[FindingAggregateGroup]
    suppressed: list[SuppressedGroups] = strawberry.field(
        description="Always empty.",
        deprecation_reason="Aggregate counts are rounded (see roundedTo), never withheld.",
    )
