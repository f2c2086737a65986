"""Shareable record type (the agreements' vocabulary) → the tenant-plane model holding it."""

from __future__ import annotations

from types import MappingProxyType

from sqlalchemy import Table, inspect

from accord.compliance.audits.models import Audit
from accord.compliance.capa.models import Capa
from accord.compliance.evidence.models import Evidence
from accord.compliance.findings.models import Finding
from accord.compliance.incidents.models import IncidentReport
from accord.compliance.kpis.models import Kpi
from accord.compliance.records.models import RecordMixin
from accord.compliance.reviews.models import ManagementReview
from accord.compliance.risks.models import Risk
from accord.platform.errors import BadInput
from accord.tenants.agreements.models import SHAREABLE_RECORD_TYPES

MODELS: MappingProxyType[str, type[RecordMixin]] = MappingProxyType(
    {
        "audit": Audit,
        "finding": Finding,
        "evidence": Evidence,
        "capa": Capa,
        "management_review": ManagementReview,
        "kpi": Kpi,
        "risk": Risk,
        # The model's own event name is "incident_report"; agreements say "incident".
        "incident": IncidentReport,
    }
)
assert frozenset(MODELS) == SHAREABLE_RECORD_TYPES


def model_for(record_type: str) -> type[RecordMixin]:
    try:
        return MODELS[record_type]
    except KeyError:
        raise BadInput(
            f"'{record_type}' is not a shareable record type ({', '.join(sorted(MODELS))}).",
            reason="UNKNOWN_RECORD_TYPE",
            field="record_type",
        ) from None


def table_for(record_type: str) -> Table:
    table = inspect(model_for(record_type)).local_table
    assert isinstance(table, Table)
    return table
