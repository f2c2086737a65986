"""Reporting an incident over HTTP starts the partner notifications its agreements require,
with their deadlines; refusals are coded and write nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from accord.compliance.incidents.models import IncidentNotification, IncidentReport
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory
from tests.factories.api import payload
from tests.factories.sharing import grant
from tests.graphql.conftest import Api

REPORT = """
mutation($input: ReportIncidentInput!) {
  reportIncident(input: $input) {
    incident { tenant reference severity status }
    notifications { partner requiredBy deadlineHours }
    errors { field code reason reasonCode }
  }
}
"""


def incident(**overrides: Any) -> dict[str, Any]:
    detected = datetime.now(UTC) - timedelta(hours=2)
    values: dict[str, Any] = {
        "reference": "INC-2026-041",
        "title": "Ransomware on the ticketing cluster",
        "severity": 1,
        "occurredAt": (detected - timedelta(hours=1)).isoformat(),
        "detectedAt": detected.isoformat(),
        "description": "Encrypted volumes on three hosts; service restored from backup.",
    }
    values.update(overrides)
    return values


async def counts(api: Api, slug: str) -> tuple[int, int]:
    async with tenant_session(api.runtime, slug) as session:
        reports = await session.scalar(select(func.count()).select_from(IncidentReport))
        owed = await session.scalar(select(func.count()).select_from(IncidentNotification))
    return int(reports or 0), int(owed or 0)


async def test_an_incident_reported_through_the_api_owes_its_partners_notice(
    api: Api, make_tenant: TenantFactory
) -> None:
    initech = await make_tenant(label="it")
    meridian = await make_tenant(label="md")
    globex = await make_tenant(label="gx")
    policy = {"deadline_hours": {"1": 24, "2": 72}}
    await grant(
        api.runtime, initech.slug, meridian.slug, "summary",
        record_types=["incident"], notification_policy=policy,
    )  # fmt: skip
    await grant(api.runtime, initech.slug, globex.slug, "summary", record_types=["incident"])
    qm = await api.sign_in(initech, "sam", "quality_manager")
    viewer = await api.sign_in(initech, "vic", "viewer")

    for token, values, expected in (
        (viewer, incident(), (None, "FORBIDDEN", "ACTION_DENIED")),
        (qm, incident(severity=7), ("severity", "BAD_USER_INPUT", "OUT_OF_RANGE")),
        (
            qm,
            incident(detectedAt=(datetime.now(UTC) - timedelta(days=2)).isoformat()),
            ("detectedAt", "BAD_USER_INPUT", "DETECTED_BEFORE_OCCURRED"),
        ),
    ):
        refused = payload(await api.post(REPORT, {"input": values}, token=token), "reportIncident")
        errors = [(e["field"], e["code"], e["reasonCode"]) for e in refused["errors"]]
        assert refused["incident"] is None and errors == [expected], values
    assert await counts(api, initech.slug) == (0, 0)

    reported = payload(await api.post(REPORT, {"input": incident()}, token=qm), "reportIncident")
    assert reported["errors"] == []
    assert reported["incident"] == {
        "tenant": initech.slug,
        "reference": "INC-2026-041",
        "severity": 1,
        "status": "OPEN",
    }
    # meridian's agreement sets a 24-hour deadline for severity 1; globex's sets none.
    (owed,) = reported["notifications"]
    assert (owed["partner"], owed["deadlineHours"]) == (meridian.slug, 24.0)
    due = datetime.fromisoformat(owed["requiredBy"])
    detected = datetime.fromisoformat(incident()["detectedAt"])
    assert abs((due - detected) - timedelta(hours=24)) < timedelta(minutes=1)
    assert await counts(api, initech.slug) == (1, 1)

    again = payload(await api.post(REPORT, {"input": incident()}, token=qm), "reportIncident")
    assert [(e["code"], e["reasonCode"]) for e in again["errors"]] == [
        ("CONFLICT", "DUPLICATE_INCIDENT_REFERENCE")
    ]
    assert await counts(api, initech.slug) == (1, 1)
