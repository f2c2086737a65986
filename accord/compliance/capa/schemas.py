"""What callers hand to the CAPA service, and the root-cause analyses it stores as JSONB.

The analysis is tagged by ``method`` and validated per method:

* ``five_whys``: 1..7 why/answer pairs and the root cause they arrive at;
* ``fishbone``: categories (the 6 Ms or any others) each with at least one cause;
* ``fmea``: rows of failure mode and effect scored 1..10 for severity, occurrence and
  detection; the risk priority number ``rpn`` is computed (a given one must agree).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from accord.compliance.records.inputs import (
    InputModel,
    NonEmpty,
    clause_keys,
    custom_error,
    tenant_slug,
)
from accord.compliance.records.provenance import ProvenanceIn

Score = Annotated[int, Field(ge=1, le=10)]
MAX_WHYS = 7


class WhyStep(InputModel):
    why: NonEmpty
    answer: NonEmpty


class FiveWhys(InputModel):
    method: Literal["five_whys"] = "five_whys"
    whys: list[WhyStep] = Field(min_length=1, max_length=MAX_WHYS)
    root_cause: NonEmpty


class Fishbone(InputModel):
    method: Literal["fishbone"] = "fishbone"
    categories: dict[NonEmpty, list[NonEmpty]] = Field(min_length=1)
    root_cause: NonEmpty | None = None

    @field_validator("categories")
    @classmethod
    def _causes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        empty = [name for name, causes in value.items() if not causes]
        if empty:
            raise custom_error("CATEGORY_WITHOUT_CAUSES", f"no causes under {', '.join(empty)}")
        return value


class FmeaRow(InputModel):
    model_config = ConfigDict(frozen=False)

    failure_mode: NonEmpty
    effect: NonEmpty
    cause: NonEmpty | None = None
    severity: Score
    occurrence: Score
    detection: Score
    rpn: int | None = None

    @model_validator(mode="after")
    def _rpn(self) -> Self:
        computed = self.severity * self.occurrence * self.detection
        if self.rpn is not None and self.rpn != computed:
            raise custom_error(
                "RPN_MISMATCH", f"rpn {self.rpn} is not severity × occurrence × detection"
            )
        self.rpn = computed
        return self


class Fmea(InputModel):
    method: Literal["fmea"] = "fmea"
    rows: list[FmeaRow] = Field(min_length=1)


RootCauseAnalysis = Annotated[FiveWhys | Fishbone | Fmea, Field(discriminator="method")]


class RootCauseIn(InputModel):
    """Wrapper so that an analysis alone can be validated (``set_root_cause``)."""

    analysis: RootCauseAnalysis


class VerifierIn(InputModel):
    """Who checks effectiveness: a subject of (usually) another partner tenant."""

    subject: NonEmpty
    tenant: str

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str) -> str:
        return tenant_slug(value)


class CapaActionIn(ProvenanceIn):
    title: NonEmpty
    owner: str = Field(default="", validate_default=True)
    owner_tenant: str = Field(default="", validate_default=True)
    due_at: date

    @field_validator("owner", "owner_tenant", mode="before")
    @classmethod
    def _owner(cls, value: object, info: ValidationInfo) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise custom_error(
                "ACTION_WITHOUT_OWNER", f"an action needs an owner ({info.field_name})"
            )
        return value

    @field_validator("owner_tenant")
    @classmethod
    def _owner_tenant(cls, value: str) -> str:
        return tenant_slug(value)


class EffectivenessPlanIn(InputModel):
    due_at: date
    verifier: VerifierIn


class CapaIn(ProvenanceIn):
    reference: NonEmpty
    title: NonEmpty
    finding_ids: list[uuid.UUID] = Field(default_factory=list)
    clause_keys: list[str] = Field(default_factory=list)
    root_cause: RootCauseAnalysis | None = None
    containment: NonEmpty | None = None
    actions: list[CapaActionIn] = Field(default_factory=list)
    effectiveness: EffectivenessPlanIn | None = None

    @field_validator("clause_keys")
    @classmethod
    def _clauses(cls, value: list[str]) -> list[str]:
        return clause_keys(value)

    @field_validator("finding_ids")
    @classmethod
    def _distinct(cls, value: list[uuid.UUID]) -> list[uuid.UUID]:
        return list(dict.fromkeys(value))
