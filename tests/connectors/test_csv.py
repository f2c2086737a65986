"""CSV registers: BOM UTF-8 and cp1252, several date formats, a report per rejected row."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from accord.compliance.findings.models import Finding
from accord.connectors.models import QuarantineEntry
from accord.connectors.sources.csv import decode
from accord.connectors.sync import engine
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session
from tests.connectors.conftest import MakeInstance

HEADER = "Finding ID,Title,Description,Grade,Severity,Clauses,Criteria,Raised,Raised by,Owner,Due"
ROWS = [
    "F-1,Calibration overdue,Gauge 12 überfällig,Minor,High,iso9001:2015/7.1.5,ISO 9001 7.1.5,"
    "2024-03-01,Jörg Müller,QA,15.04.2024",
    "F-2,Training records,Two operators without records,Observation,Low,iso9001:2015/7.2,,"
    "05.03.2024,Anna,HR,",
    "F-3,Bad grade,Text,Severe,Low,iso9001:2015/7.2,,2024-03-01,Anna,HR,",
    "F-4,Bad date,Text,Minor,Medium,iso9001:2015/7.2,Criteria,31.02.2024,Anna,HR,",
    "F-5,No clause,Text,Minor,Medium,,Criteria,2024-03-01,Anna,HR,",
    'F-6,"Quoted, with comma",Lieferant – Prüfung,Major,Critical,'
    "iso9001:2015/8.4;iso14001:2015/8.1,ISO 9001 8.4,01/03/2024,Anna,Purchasing,2024/04/01",
]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252"])
async def test_csv_register(
    runtime: Runtime, make_tenant: Any, make_instance: MakeInstance, tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / f"findings-{encoding}.csv"
    path.write_bytes(("\r\n".join([HEADER, *ROWS]) + "\r\n").encode(encoding))
    assert "Jörg" in decode(path.read_bytes(), "auto")
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, str(path), kind="csv", page_size=4)
    [result] = await engine.run_instance(runtime, loaded)
    assert result.status == "succeeded", result.error
    assert (result.counts["created"], result.counts["quarantined"]) == (3, 3)
    async with tenant_session(runtime, tenant.slug) as s:
        findings = {f.reference: f for f in (await s.scalars(select(Finding))).all()}
        rejected = (
            await s.scalars(select(QuarantineEntry).order_by(QuarantineEntry.position))
        ).all()
    assert findings["F-1"].raised_by == "Jörg Müller" and "überfällig" in findings["F-1"].condition
    berlin = ZoneInfo("Europe/Berlin")  # the mapping reads naive dates in the plant's zone
    assert findings["F-2"].raised_at.astimezone(berlin).date().isoformat() == "2024-03-05"
    assert findings["F-6"].clause_keys == ["iso9001:2015/8.4", "iso14001:2015/8.1"]
    assert str(findings["F-6"].response_due_at) == "2024-04-01"
    report = [(e.position, r["column"], r["reason"]) for e in rejected for r in e.reasons]
    assert report == [
        (4, "Grade", "UNKNOWN_CODE"),
        (5, "Raised", "BAD_DATE"),
        (6, "Clauses", "CLAUSES_REQUIRED"),
    ]
    [again] = await engine.run_instance(runtime, loaded)
    assert (again.counts["unchanged"], again.counts["created"], again.counts["updated"]) == (
        3,
        0,
        0,
    )
