"""Inputs shared by the review mutations: decisions, signatories, content changes."""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry

from accord.graphql.context import Context
from accord.platform.errors import BadInput
from accord.tenants import service as tenant_service


@strawberry.input(name="ManagementReviewDecisionInput")
class DecisionInput:
    """A decision of the review (ISO 9.3.3); freezing turns it into a tracked action."""

    text: str
    owner: str
    due_at: date

    def as_data(self) -> dict[str, Any]:
        return {"text": self.text, "owner": self.owner, "due_at": self.due_at}


@strawberry.input(name="ManagementReviewSignatoryInput")
class SignatoryInput:
    tenant: str
    subject: str
    role: str

    def as_data(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "subject": self.subject, "role": self.role}


@strawberry.input(
    name="ManagementReviewChangesInput",
    description="Changes to a draft's content; fields left out stay as they are.",
)
class ChangesInput:
    title: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    standards: list[str] | None = None
    minutes: str | None = None
    decisions: list[DecisionInput] | None = None
    required_signatories: list[SignatoryInput] | None = strawberry.field(
        default=None,
        description="Usually set from the RACI with assignReviewSignatories instead.",
    )

    def as_changes(self) -> dict[str, Any]:
        changes: dict[str, Any] = {
            name: value
            for name, value in (
                ("title", self.title),
                ("period_start", self.period_start),
                ("period_end", self.period_end),
                ("standards", self.standards),
                ("minutes", self.minutes),
            )
            if value is not None
        }
        if self.decisions is not None:
            changes["decisions"] = [d.as_data() for d in self.decisions]
        if self.required_signatories is not None:
            changes["required_signatories"] = [s.as_data() for s in self.required_signatories]
        return changes


async def require_registered_signatories(
    context: Context, signatories: list[SignatoryInput] | None
) -> None:
    """Only registered members can be named to sign: a name nobody can sign under would
    keep the review from ever being approved. Checked after the caller's gates, so only a
    caller who may compile the review learns who is a member."""
    people = [(s.tenant.strip(), s.subject.strip()) for s in signatories or []]
    async with context.runtime.control_session() as control:
        missing = await tenant_service.unregistered(session=control, people=people)
    if missing:
        named = ", ".join(f"{t}/{s}" for t, s in missing)
        raise BadInput(
            f"Not a registered member, so not a possible signatory: {named}. Register the "
            "member in its organisation first, or assign the signatories from the RACI.",
            reason="SIGNATORY_NOT_A_MEMBER",
            field="required_signatories",
        )
