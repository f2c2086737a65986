"""The protocol's terms as input, and what the guards and the clock work with."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date

from pydantic import Field, ValidationInfo, field_validator

from accord.compliance.audits.models import Audit
from accord.compliance.audits.protocol.models import AuditProtocol, OverdueKind
from accord.compliance.records.inputs import (
    InputModel,
    NonEmpty,
    custom_error,
    tenant_slug,
)
from accord.policies.vocab import is_slug

#: Who flags overdue findings in the event log.
OVERDUE_ACTOR = "system:audit-protocol"
_EVIDENCE_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/(\*|[a-z0-9][a-z0-9!#$&^_.+-]*)$")


# --------------------------------------------------------------------------- input


class ProtocolIn(InputModel):
    """The protocol's terms; fields left out come from the programme's default."""

    response_days: int = Field(default=14, ge=1, le=365)
    capa_plan_days: int = Field(default=30, ge=1, le=730)
    verifier_tenant: str | None = None
    required_evidence_types: list[str] = Field(default_factory=list)
    recheck_after_days: int | None = Field(default=None, ge=1, le=1095)
    process: str | None = None

    @field_validator("capa_plan_days")
    @classmethod
    def _plan_after_response(cls, value: int, info: ValidationInfo) -> int:
        response = info.data.get("response_days")
        if response is not None and value < response:
            raise custom_error(
                "CAPA_BEFORE_RESPONSE", "the CAPA plan cannot be due before the response"
            )
        return value

    @field_validator("verifier_tenant")
    @classmethod
    def _verifier(cls, value: str | None) -> str | None:
        return None if value is None else tenant_slug(value)

    @field_validator("required_evidence_types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip().lower() for v in value]
        for item in cleaned:
            if not _EVIDENCE_TYPE_RE.match(item):
                raise custom_error(
                    "BAD_EVIDENCE_TYPE", f"{item!r} is not a media type such as image/* or text/csv"
                )
        return list(dict.fromkeys(cleaned))

    @field_validator("process")
    @classmethod
    def _process(cls, value: str | None) -> str | None:
        if value is not None and not is_slug(value):
            raise custom_error("BAD_PROCESS", f"{value!r} is not a process slug")
        return value


class ProgrammeProtocolIn(ProtocolIn):
    programme: NonEmpty


TERMS = tuple(ProtocolIn.model_fields)


# --------------------------------------------------------------------------- who acts


@dataclass(frozen=True, slots=True)
class Governed:
    """A finding's audit and the protocol agreed for it."""

    audit: Audit
    protocol: AuditProtocol

    @property
    def verifier(self) -> str:
        return self.protocol.verifier_tenant or self.audit.lead_tenant


@dataclass(frozen=True, slots=True)
class OverdueFlag:
    finding_id: uuid.UUID
    reference: str
    kind: OverdueKind
    due_on: date
    recipient: str
