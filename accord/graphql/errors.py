"""How failures reach the client.

* An ``AccordError`` raised by a resolver keeps its message; ``extensions`` carry its
  ``code``, ``reason`` and ``field``.
* Partial failures collected on the context (an owner that could not be read) are
  appended to ``errors`` while the data is still returned.
* Anything else is a bug: the client sees ``INTERNAL`` and a trace id, the log gets the
  real exception under the same id. The trace id is the OpenTelemetry trace's when the
  request is traced (the request id then rides along as ``requestId``), else the request
  id.
* Expected failures of a mutation are data, not errors: its payload's
  ``errors: [XError!]!``, each with the generic class (``code``) and the domain's precise,
  typed reason (``reasonCode``); every domain's error type is declared here.
* Errors graphql-core raises itself (syntax, validation, variables) are the caller's:
  ``BAD_USER_INPUT``. In production their "Did you mean …?" hints are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from enum import Enum
from typing import Any, ClassVar, Self, cast

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from accord.compliance.sharing.reads import TenantError
from accord.graphql.limits import without_suggestions
from accord.graphql.reasons import (
    CAPA,
    COMMON,
    DESCRIPTIONS,
    FINDING,
    IDENTITY,
    INCIDENT,
    JOINT_AUDIT,
    MANAGEMENT_REVIEW,
)
from accord.platform import telemetry
from accord.platform.errors import AccordError, ErrorCode

log = logging.getLogger("accord.graphql")


def _trace_id(context: object) -> str:
    request_id = getattr(context, "request_id", None)
    return request_id if isinstance(request_id, str) else "unknown"


def public_error(
    error: GraphQLError, context: object, *, hide_suggestions: bool = False
) -> GraphQLError:
    original = error.original_error
    if isinstance(original, GraphQLError):  # raised as a GraphQL error on purpose
        return error
    extensions: dict[str, Any]
    if isinstance(original, AccordError):
        details = original.as_dict()
        message = details.pop("message")
        extensions = dict(details)
    elif original is None:
        message = without_suggestions(error.message) if hide_suggestions else error.message
        extensions = dict(error.extensions or {})
        extensions.setdefault("code", ErrorCode.BAD_USER_INPUT.value)
    else:
        request_id = _trace_id(context)
        trace = telemetry.current_trace_id() or request_id
        log.error(
            "Unexpected error in GraphQL (trace %s, request %s)",
            trace,
            request_id,
            exc_info=original,
        )
        message = f"Internal error. Quote trace id {trace} when reporting it."
        extensions = {"code": ErrorCode.INTERNAL.value, "traceId": trace}
        if trace != request_id:
            extensions["requestId"] = request_id
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


class AccordErrors(SchemaExtension):
    hide_suggestions = False

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None:
            return
        context = self.execution_context.context
        hide = self.hide_suggestions
        errors = [public_error(e, context, hide_suggestions=hide) for e in result.errors or ()]
        errors.extend(getattr(context, "errors", ()))
        result.errors = errors or None


class AccordProductionErrors(AccordErrors):
    hide_suggestions = True


class AccordSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Nothing here: ``AccordErrors`` logs the unexpected ones, with their trace id."""


def tenant_errors(
    info: strawberry.Info[Any, None], failures: Sequence[TenantError]
) -> list[GraphQLError]:
    """One error per owner that could not be read, at the field that asked."""
    return [
        GraphQLError(
            f.message,
            path=info.path.as_list(),
            extensions={"code": f.code, "tenant": f.tenant},
        )
        for f in failures
    ]


# --- expected failures of mutations: ``errors: [XError!]!`` in every payload -------------

_CLASS_DESCRIPTIONS = {
    ErrorCode.UNAUTHENTICATED: "No valid credentials: sign in.",
    ErrorCode.FORBIDDEN: "Signed in, but not allowed to do this (see `reasonCode`).",
    ErrorCode.NOT_FOUND: "No such record, or none you may see: ids probe nothing.",
    ErrorCode.BAD_USER_INPUT: "The input is malformed or breaks a rule; `field` names it.",
    ErrorCode.CONFLICT: "The record's state does not allow this now (see `reasonCode`).",
    ErrorCode.TENANT_UNAVAILABLE: "The owner's store could not be reached; retry later.",
    ErrorCode.RATE_LIMITED: "Too many requests; retry later.",
    ErrorCode.INTERNAL: "A bug: quote the trace id when reporting it.",
}

#: The value of every ``…ErrorReason`` for a reason its schema does not list (yet).
OTHER_REASON = "OTHER"


def _class_enum(name: str) -> Any:
    """A domain's ``…ErrorCode``: the eight generic classes of failure, the same everywhere."""
    values = {
        code.name: strawberry.enum_value(code.value, description=_CLASS_DESCRIPTIONS[code])
        for code in ErrorCode
    }
    return strawberry.enum(
        cast("type[Enum]", Enum(name, values)),
        name=name,
        description="The generic class of failure, the same eight in every domain; "
        "`reasonCode` says precisely why.",
    )


def _reason_enum(name: str, domain: str, reasons: frozenset[str]) -> Any:
    """A domain's ``…ErrorReason``: the precise reasons its mutations are refused."""
    values = {
        reason: strawberry.enum_value(reason, description=DESCRIPTIONS[reason])
        for reason in sorted(reasons | COMMON)
    }
    values[OTHER_REASON] = strawberry.enum_value(
        OTHER_REASON,
        description="A reason newer than the schema you introspected; `reason` spells it.",
    )
    return strawberry.enum(
        cast("type[Enum]", Enum(name, values)),
        name=name,
        description=f"Why a {domain} mutation was refused, precisely: switch on it.",
    )


def _camel_path(name: str) -> str:
    def camel(part: str) -> str:
        head, *rest = part.split("_")
        return head + "".join(word.title() for word in rest)

    return ".".join(camel(part) for part in name.split("."))


@strawberry.type(description="An expected failure of a mutation.")
class PayloadError:
    """The shape every domain's error shares; each domain types ``code`` and
    ``reasonCode`` with its own enums."""

    #: The reasons the domain's enum lists (beside ``COMMON``).
    reasons: ClassVar[frozenset[str]] = frozenset()

    field: str | None = strawberry.field(
        description="The input field to fix (camelCase, dotted into nested inputs), "
        "if one is to blame."
    )
    message: str = strawberry.field(description="What went wrong, for people; do not parse it.")
    code: str
    reason: str = strawberry.field(
        description="The precise reason as text.",
        deprecation_reason="Switch on the typed `reasonCode` instead; it has the same value.",
    )
    reason_code: str

    @classmethod
    def of(cls, exc: AccordError) -> Self:
        return cls(
            field=_camel_path(exc.field) if exc.field else None,
            message=exc.message,
            code=exc.code.value,
            reason=exc.reason,
            reason_code=cls._typed_reason(exc.reason),
        )

    @classmethod
    def _typed_reason(cls, reason: str) -> str:
        if reason in cls.reasons or reason in COMMON:
            return reason
        log.warning("reason %s is not listed in the schema for %s", reason, cls.__name__)
        return OTHER_REASON


FINDING_CODE = _class_enum("FindingErrorCode")
FINDING_REASON = _reason_enum("FindingErrorReason", "finding", FINDING)
CAPA_CODE = _class_enum("CapaErrorCode")
CAPA_REASON = _reason_enum("CapaErrorReason", "CAPA", CAPA)
JOINT_AUDIT_CODE = _class_enum("JointAuditErrorCode")
JOINT_AUDIT_REASON = _reason_enum("JointAuditErrorReason", "joint audit", JOINT_AUDIT)
REVIEW_CODE = _class_enum("ManagementReviewErrorCode")
REVIEW_REASON = _reason_enum("ManagementReviewErrorReason", "management review", MANAGEMENT_REVIEW)
INCIDENT_CODE = _class_enum("IncidentErrorCode")
INCIDENT_REASON = _reason_enum("IncidentErrorReason", "incident", INCIDENT)
IDENTITY_CODE = _class_enum("IdentityErrorCode")
IDENTITY_REASON = _reason_enum("IdentityErrorReason", "identity", IDENTITY)

_CODE = "The generic class of failure."
_REASON = "Why, precisely; a client switches on it without parsing text."


@strawberry.type(description="An expected failure of a finding mutation.")
class FindingError(PayloadError):
    reasons = FINDING

    code: str = strawberry.field(graphql_type=FINDING_CODE, description=_CODE)
    reason_code: str = strawberry.field(graphql_type=FINDING_REASON, description=_REASON)


@strawberry.type(description="An expected failure of a CAPA mutation.")
class CapaError(PayloadError):
    reasons = CAPA

    code: str = strawberry.field(graphql_type=CAPA_CODE, description=_CODE)
    reason_code: str = strawberry.field(graphql_type=CAPA_REASON, description=_REASON)


@strawberry.type(description="An expected failure of a joint audit mutation.")
class JointAuditError(PayloadError):
    reasons = JOINT_AUDIT

    code: str = strawberry.field(graphql_type=JOINT_AUDIT_CODE, description=_CODE)
    reason_code: str = strawberry.field(graphql_type=JOINT_AUDIT_REASON, description=_REASON)


@strawberry.type(description="An expected failure of a management review mutation.")
class ManagementReviewError(PayloadError):
    reasons = MANAGEMENT_REVIEW

    code: str = strawberry.field(graphql_type=REVIEW_CODE, description=_CODE)
    reason_code: str = strawberry.field(graphql_type=REVIEW_REASON, description=_REASON)


@strawberry.type(description="An expected failure of an incident mutation.")
class IncidentError(PayloadError):
    reasons = INCIDENT

    code: str = strawberry.field(graphql_type=INCIDENT_CODE, description=_CODE)
    reason_code: str = strawberry.field(graphql_type=INCIDENT_REASON, description=_REASON)


@strawberry.type(
    description="An expected failure of an identity mutation (identity providers, members, "
    "service accounts, signing keys)."
)
class IdentityError(PayloadError):
    reasons = IDENTITY

    code: str = strawberry.field(graphql_type=IDENTITY_CODE, description=_CODE)
    reason_code: str = strawberry.field(graphql_type=IDENTITY_REASON, description=_REASON)
