"""What risk services accept; validators name the field and the reason of every refusal."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from accord.compliance.records.inputs import InputModel, NonEmpty, clause_keys, custom_error
from accord.compliance.records.provenance import ProvenanceIn
from accord.compliance.risks.models import SCALE, RiskStatus, Treatment

MAX_PARTY_LENGTH = 200


def on_scale(value: int, info: ValidationInfo) -> int:
    if value not in SCALE:
        raise custom_error(
            "OUT_OF_RANGE", f"{info.field_name} is rated 1 (lowest) to 5 (highest); got {value}"
        )
    return value


def third_parties(values: list[str]) -> list[str]:
    """Partner tenant slugs or supplier names: stripped, non-empty, de-duplicated."""
    out = []
    for value in values:
        name = value.strip()
        if not name or len(name) > MAX_PARTY_LENGTH:
            raise custom_error(
                "BAD_THIRD_PARTY",
                f"a third party is named by 1 to {MAX_PARTY_LENGTH} characters; got {value!r}",
            )
        out.append(name)
    return list(dict.fromkeys(out))


OnScale = Annotated[int, AfterValidator(on_scale)]
ClauseKeys = Annotated[list[str], AfterValidator(clause_keys)]
ThirdParties = Annotated[list[str], AfterValidator(third_parties)]


def plan_for(treatment: Treatment | None, plan: str | None) -> str | None:
    """Every treatment but acceptance needs a plan saying how it is carried out."""
    plan = plan.strip() if plan else None
    if treatment is not None and treatment is not Treatment.ACCEPT and not plan:
        raise custom_error(
            "TREATMENT_PLAN_REQUIRED", f"a risk treated by '{treatment}' needs a treatment plan"
        )
    return plan or None


def status_for(treatment: Treatment | None) -> RiskStatus:
    if treatment is None:
        return RiskStatus.OPEN
    return RiskStatus.ACCEPTED if treatment is Treatment.ACCEPT else RiskStatus.TREATED


class AssessmentIn(InputModel):
    likelihood: OnScale
    impact: OnScale


class TreatmentIn(InputModel):
    treatment: Treatment | None = None
    treatment_plan: str | None = Field(default=None, validate_default=True)

    @field_validator("treatment_plan")
    @classmethod
    def _plan(cls, value: str | None, info: ValidationInfo) -> str | None:
        return plan_for(info.data.get("treatment"), value)


class RiskIn(AssessmentIn, TreatmentIn, ProvenanceIn):
    reference: NonEmpty
    title: NonEmpty
    description: NonEmpty
    owner: NonEmpty
    third_party_dependencies: ThirdParties = Field(default_factory=list)
    clause_keys: ClauseKeys = Field(default_factory=list)
