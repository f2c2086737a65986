"""CAPA records as a connector delivers them: parents named by source keys, analyses as text.

``CapaIn`` is what a person hands the service: findings by Accord id, a finished analysis.
A source knows neither. A register names its findings by their own keys and writes the root
cause as a method and a sentence; an ERP task names its notification. These schemas take
that shape; the sinks (``accord.connectors.sync.capa_sink``) resolve the keys and
``analysis`` turns the text into the structured analysis ``set_root_cause`` would store:

* five whys: the register's successive answers (``whys``), each the next "why", ending at
  the root cause; a root cause alone is a one-step chain from the problem;
* fishbone: causes under categories, given side by side (``cause_categories``, as an ERP's
  cause list arrives) or written ``"Category: cause"`` (as a register writes them).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import AwareDatetime, Field, ValidationInfo, field_validator, model_validator

from accord.compliance.capa.models import RootCauseMethod
from accord.compliance.capa.schemas import MAX_WHYS, Fishbone, FiveWhys, WhyStep
from accord.compliance.records.inputs import NonEmpty, clause_keys, custom_error
from accord.compliance.records.provenance import ProvenanceIn

#: A fishbone cause written without a category.
UNCATEGORISED = "Other"
_FLAG_OFF = frozenset({"", "0", "false", "no", "n"})


class SourcedCapaIn(ProvenanceIn):
    reference: NonEmpty
    #: None: the title of its (first) finding.
    title: NonEmpty | None = None
    #: External ids of the findings it addresses, in ``finding_source_system``.
    finding_external_ids: list[NonEmpty] = Field(default_factory=list)
    #: None: the CAPA's own source system (a register next to its findings register).
    finding_source_system: NonEmpty | None = None
    #: Empty: the clauses of its findings.
    clause_keys: list[str] = Field(default_factory=list)
    whys: list[NonEmpty] = Field(default_factory=list, max_length=MAX_WHYS)
    causes: list[NonEmpty] = Field(default_factory=list)
    #: Parallel to ``causes`` when the source keeps the category apart (empty: none).
    cause_categories: list[str | None] = Field(default_factory=list)
    #: Parallel to ``causes``: which of them the source marks as the root cause.
    root_cause_flags: list[Any] = Field(default_factory=list)
    root_cause_method: RootCauseMethod | None = Field(default=None, validate_default=True)
    root_cause: NonEmpty | None = Field(default=None, validate_default=True)
    containment: NonEmpty | None = None
    #: The CAPA's one corrective action, as a register keeps it on the CAPA's row; the
    #: action exists when it has an owner. None title: the CAPA's title.
    action_title: NonEmpty | None = None
    owner: NonEmpty | None = None
    due_at: date | None = None
    completed_at: AwareDatetime | None = None

    @field_validator("clause_keys")
    @classmethod
    def _clauses(cls, value: list[str]) -> list[str]:
        return clause_keys(value)

    @field_validator("finding_external_ids")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("root_cause_method")
    @classmethod
    def _method_named(
        cls, value: RootCauseMethod | None, info: ValidationInfo
    ) -> RootCauseMethod | None:
        if value is None and (info.data.get("whys") or info.data.get("causes")):
            raise custom_error(
                "ROOT_CAUSE_METHOD_REQUIRED", "an analysis names its method (5 whys, fishbone)"
            )
        if value is RootCauseMethod.FMEA:
            raise custom_error(
                "METHOD_NOT_SOURCED",
                "an FMEA needs scored rows; record it in Accord, not from a text column",
            )
        return value

    @field_validator("root_cause")
    @classmethod
    def _root_cause(cls, value: str | None, info: ValidationInfo) -> str | None:
        method = info.data.get("root_cause_method")
        if "root_cause_method" not in info.data:
            return value  # the method failed already; one reason is enough
        if value and method is None:
            raise custom_error(
                "ROOT_CAUSE_METHOD_REQUIRED", "a root cause names its method (5 whys, fishbone)"
            )
        if method is RootCauseMethod.FIVE_WHYS and not (value or info.data.get("whys")):
            raise custom_error("ROOT_CAUSE_REQUIRED", "a 5 whys analysis ends at a root cause")
        if method is RootCauseMethod.FISHBONE and not (value or info.data.get("causes")):
            raise custom_error("ROOT_CAUSE_REQUIRED", "a fishbone analysis lists causes")
        return value

    @model_validator(mode="after")
    def _complete(self) -> SourcedCapaIn:
        if self.cause_categories and len(self.cause_categories) != len(self.causes):
            raise custom_error(
                "CAUSE_CATEGORIES_MISMATCH",
                f"{len(self.causes)} causes but {len(self.cause_categories)} categories",
            )
        if self.owner is None and (self.action_title or self.due_at or self.completed_at):
            raise custom_error("ACTION_WITHOUT_OWNER", "the CAPA's action needs an owner")
        if self.owner is not None and self.due_at is None:
            raise custom_error("ACTION_WITHOUT_DUE_DATE", "the CAPA's action needs a due date")
        return self

    def analysis(self, problem: str) -> FiveWhys | Fishbone | None:
        """The structured analysis of this record; ``problem`` opens a 5-whys chain."""
        match self.root_cause_method:
            case RootCauseMethod.FIVE_WHYS:
                answers = list(self.whys) or [self.root_cause or ""]
                questions = [problem, *answers[:-1]]
                pairs = zip(questions, answers, strict=True)
                steps = [WhyStep(why=f"Why: {q}?", answer=a) for q, a in pairs]
                return FiveWhys(whys=steps, root_cause=self.root_cause or answers[-1])
            case RootCauseMethod.FISHBONE:
                entries = self._entries()
                categories: dict[str, list[str]] = {}
                for category, text in entries:
                    categories.setdefault(category, []).append(text)
                if not categories and self.root_cause:
                    categories[UNCATEGORISED] = [self.root_cause]
                # No flags at all when the source has none: zip stops at the shorter list.
                marked = zip(entries, self.root_cause_flags, strict=False)
                flagged = "; ".join(text for (_, text), flag in marked if _flag_set(flag))
                return Fishbone(
                    categories=categories, root_cause=self.root_cause or flagged or None
                )
        return None

    def _entries(self) -> list[tuple[str, str]]:
        """(category, cause) of each cause: categories side by side, or in the cause text."""
        if not self.cause_categories:
            return [_categorised(cause) for cause in self.causes]
        return [
            ((category or "").strip() or UNCATEGORISED, cause)
            for category, cause in zip(self.cause_categories, self.causes, strict=True)
        ]


def _categorised(cause: str) -> tuple[str, str]:
    head, colon, tail = cause.partition(":")
    if colon and head.strip() and tail.strip():
        return head.strip(), tail.strip()
    return UNCATEGORISED, cause


def _flag_set(flag: Any) -> bool:
    """True, "X" (ABAP), "1", "yes": set; False, None, "", "0", "no": not."""
    if isinstance(flag, bool) or flag is None:
        return bool(flag)
    return str(flag).strip().lower() not in _FLAG_OFF


class SourcedActionIn(ProvenanceIn):
    """A corrective action of a CAPA that the source keys by its own parent (an ERP task)."""

    title: NonEmpty
    #: The CAPA's external id in this action's source system.
    capa_external_id: NonEmpty
    #: Reference of the CAPA to make, from ``finding_external_id``, when it does not exist yet.
    capa_reference: NonEmpty | None = None
    finding_external_id: NonEmpty | None = None
    #: None: the action's own source system.
    finding_source_system: NonEmpty | None = None
    owner: str = Field(default="", validate_default=True)
    due_at: date
    completed_at: AwareDatetime | None = None

    @field_validator("owner", mode="before")
    @classmethod
    def _owner(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise custom_error("ACTION_WITHOUT_OWNER", "an action needs an owner")
        return value
