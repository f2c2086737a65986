"""What each sharing level shows of each record type, declared once and tested.

Every column of every shareable model is either on the ``summary`` whitelist or redacted
with a reason; a test fails when a model gains a column classified in neither, so what a
partner sees is never decided ad hoc. ``aggregate`` reveals only counts over the declared
dimensions (enumerated, low-cardinality columns).
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType


class Redacted(StrEnum):
    """Why a column is withheld at the ``summary`` level."""

    FREE_TEXT = "free_text"  # titles, statements, descriptions, responses, minutes, analysis
    EVIDENCE = "evidence"  # URIs, hashes, digests
    PERSONAL = "personal"  # people: raised by, owners, verifiers, signatories, authors
    INTERNAL = "internal"  # the owner's source-system provenance


_F, _E, _P, _I = Redacted.FREE_TEXT, Redacted.EVIDENCE, Redacted.PERSONAL, Redacted.INTERNAL

#: RecordMixin columns (every model).
_COMMON_SHARED = ("id", "created_at", "updated_at")
_COMMON_REDACTED = {
    "created_by": _P,
    "updated_by": _P,
    "source_system": _I,
    "external_id": _I,
    "fetched_at": _I,
    "content_hash": _E,
}

_SHARED: dict[str, tuple[str, ...]] = {
    "finding": (
        "reference",
        "audit_id",
        "grade",
        "severity",
        "clause_keys",
        "state",
        "raised_at",
        "response_due_at",
        "verification_result",
        "verified_at",
        "reopened_at",
        "closed_at",
    ),
    "capa": (
        "reference",
        "clause_keys",
        "root_cause_method",
        "state",
        "effectiveness_due_at",
        "effectiveness_verifier_tenant",
        "effectiveness_result",
        "effectiveness_checked_at",
        "closed_at",
    ),
    "audit": (
        "type",
        "clause_keys",
        "lead_tenant",
        "audited_tenant",
        "window_start",
        "window_end",
        "status",
    ),
    "evidence": (
        "finding_id",
        "capa_id",
        "capa_action_id",
        "effectiveness_check",
        "media_type",
        "size_bytes",
        "captured_at",
        "uploaded_at",
        "clause_keys",
    ),
    "management_review": (
        "period_start",
        "period_end",
        "standards",
        "status",
        "revision",
        "previous_id",
        "frozen_at",
        "approved_at",
    ),
    "kpi": (
        "key",
        "unit",
        "direction",
        "target",
        "warning_threshold",
        "breach_threshold",
        "standards",
        "clause_keys",
    ),
    "risk": ("reference", "likelihood", "impact", "score", "treatment", "status", "clause_keys"),
    "incident": ("reference", "severity", "occurred_at", "detected_at", "reported_at", "status"),
}

_REDACTED: dict[str, dict[str, Redacted]] = {
    "finding": {
        "title": _F,
        "criteria": _F,
        "condition": _F,
        "cause": _F,
        "response": _F,
        "reopened_reason": _F,
        "raised_by": _P,
        "owner": _P,
        "verified_by": _P,
        "reopened_by": _P,
        "closed_by": _P,
        "deleted_at": _I,
    },
    "capa": {
        "title": _F,
        "root_cause_analysis": _F,
        "containment": _F,
        "effectiveness_verifier_subject": _P,
        "effectiveness_checked_by": _P,
        "closed_by": _P,
        "deleted_at": _I,
    },
    "audit": {"programme": _F, "title": _F, "scope": _F},
    "evidence": {"title": _F, "filename": _F, "sha256": _E, "uri": _E, "uploaded_by": _P},
    "management_review": {
        "title": _F,
        "inputs": _F,
        "minutes": _F,
        "decisions": _F,
        "content_digest": _E,
        "required_signatories": _P,
        "frozen_by": _P,
        "approved_by": _P,
    },
    "kpi": {"name": _F, "definition": _F, "owner": _P},
    "risk": {
        "title": _F,
        "description": _F,
        "treatment_plan": _F,
        # Named suppliers and partners: commercial detail, written free-form.
        "third_party_dependencies": _F,
        "owner": _P,
    },
    "incident": {"title": _F, "description": _F},
}

#: record type → the columns a ``summary`` grantee sees (whitelist).
SUMMARY_FIELDS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {t: frozenset((*_COMMON_SHARED, *cols)) for t, cols in _SHARED.items()}
)
#: record type → column → why a ``summary`` grantee does not see it.
REDACTED_FIELDS: MappingProxyType[str, MappingProxyType[str, Redacted]] = MappingProxyType(
    {t: MappingProxyType({**_COMMON_REDACTED, **cols}) for t, cols in _REDACTED.items()}
)
#: record type → the dimensions an ``aggregate`` grantee gets counts over (cross-tabulated).
AGGREGATE_DIMENSIONS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "finding": ("grade", "state"),
        "incident": ("severity", "status"),
        "capa": ("state",),
        "risk": ("status", "treatment"),
        "kpi": ("direction",),
        "audit": ("type", "status"),
        "evidence": ("media_type",),
        "management_review": ("status",),
    }
)
