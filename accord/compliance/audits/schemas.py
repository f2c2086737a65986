"""What callers hand to the audits service (GraphQL input, a connector's mapped record)."""

from __future__ import annotations

from datetime import date

from pydantic import Field, ValidationInfo, field_validator

from accord.compliance.audits.models import AuditStatus, AuditType, TeamRole
from accord.compliance.records.inputs import NonEmpty, clause_keys, custom_error, tenant_slug
from accord.compliance.records.provenance import ProvenanceIn


class AuditIn(ProvenanceIn):
    programme: NonEmpty
    type: AuditType
    title: NonEmpty
    scope: NonEmpty
    clause_keys: list[str] = Field(default_factory=list, validate_default=True)
    lead_tenant: str
    audited_tenant: str
    window_start: date
    window_end: date
    status: AuditStatus = AuditStatus.PLANNED  # imports may arrive already under way

    @field_validator("clause_keys")
    @classmethod
    def _clauses(cls, value: list[str]) -> list[str]:
        if not value:
            raise custom_error("CLAUSES_REQUIRED", "an audit covers at least one clause")
        return clause_keys(value)

    @field_validator("lead_tenant", "audited_tenant")
    @classmethod
    def _tenants(cls, value: str) -> str:
        return tenant_slug(value)

    @field_validator("window_end")
    @classmethod
    def _window(cls, value: date, info: ValidationInfo) -> date:
        start = info.data.get("window_start")
        if start is not None and value < start:
            raise custom_error("WINDOW_INVERTED", "the audit window ends before it starts")
        return value


class TeamMemberIn(ProvenanceIn):
    tenant: str
    subject: NonEmpty
    role: TeamRole
    valid_from: date | None = None
    valid_until: date | None = None

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str) -> str:
        return tenant_slug(value)

    @field_validator("valid_until")
    @classmethod
    def _validity(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("valid_from")
        if value is not None and start is not None and value < start:
            raise custom_error("VALIDITY_INVERTED", "membership ends before it starts")
        return value
