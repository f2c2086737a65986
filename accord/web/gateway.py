"""Running the pages' operations in process, as the signed-in user.

The same schema, extensions (limits, sign-in gate, error masking), context and policy
engine as ``/graphql``: a page cannot see what the API would refuse that user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from accord.graphql.context import build_context, request_id_from
from accord.graphql.cursors import CursorSigner
from accord.graphql.schema import schema_for
from accord.platform.errors import ErrorCode
from accord.tenants.identity.principal import Principal
from accord.web.operations import Operation

#: What each error code means to a person, and the HTTP status a page answers with.
PLAIN_WORDS: dict[str, tuple[str, int]] = {
    ErrorCode.UNAUTHENTICATED.value: ("You are not signed in, or your sign-in has expired.", 401),
    ErrorCode.FORBIDDEN.value: (
        "Your organisation's agreements or your role in this process do not allow this.",
        403,
    ),
    ErrorCode.NOT_FOUND.value: ("There is no such record, or it is not shared with you.", 404),
    ErrorCode.BAD_USER_INPUT.value: ("Something in the request is not valid.", 400),
    ErrorCode.CONFLICT.value: ("The record is not in a state that allows this.", 409),
    ErrorCode.TENANT_UNAVAILABLE.value: (
        "A partner's store could not be reached; what it holds is missing here.",
        503,
    ),
    ErrorCode.RATE_LIMITED.value: ("Too many requests; wait a moment and try again.", 429),
    ErrorCode.INTERNAL.value: ("Something went wrong on our side.", 500),
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One error of an operation, with its code and what it means in plain words."""

    code: str
    message: str
    tenant: str | None = None

    @property
    def plain(self) -> str:
        return PLAIN_WORDS.get(self.code, PLAIN_WORDS[ErrorCode.INTERNAL.value])[0]

    @property
    def status(self) -> int:
        return PLAIN_WORDS.get(self.code, PLAIN_WORDS[ErrorCode.INTERNAL.value])[1]


@dataclass
class Result:
    operation: Operation
    variables: dict[str, Any]
    data: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)

    def payload_problems(self, field_name: str) -> list[Problem]:
        """A mutation's typed payload errors, as problems."""
        payload = self.data.get(field_name) or {}
        return [
            Problem(code=e["code"], message=e["message"]) for e in payload.get("errors") or ()
        ] + self.problems


class Gateway:
    def __init__(self, *, cursors: CursorSigner, production: bool) -> None:
        self._schema = schema_for(production=production)
        self._cursors = cursors

    async def run(
        self,
        request: Request,
        principal: Principal,
        operation: Operation,
        variables: dict[str, Any] | None = None,
    ) -> Result:
        state = request.app.state
        context = build_context(
            runtime=state.runtime,
            principal=principal,
            engine=getattr(state, "policy_engine", None),
            cursors=self._cursors,
            request_id=request_id_from(request.headers.get("x-request-id")),
            hub=getattr(state, "notifications", None),
        )
        values = variables or {}
        outcome = await self._schema.execute(
            operation.document,
            variable_values=values,
            context_value=context,
            operation_name=operation.name,
        )
        problems = [
            Problem(
                code=str((e.extensions or {}).get("code", ErrorCode.INTERNAL.value)),
                message=e.message,
                tenant=(e.extensions or {}).get("tenant"),
            )
            for e in outcome.errors or ()
        ]
        return Result(operation, values, dict(outcome.data or {}), problems)
