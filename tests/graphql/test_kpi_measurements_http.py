"""KPI measurements over HTTP: a breach opens one governance item for review, which a
person closes; refusals are coded and change nothing; strangers learn nothing."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import select

from accord.compliance.kpis import service as kpi_service
from accord.platform.eventlog import EventLogEntry
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory
from tests.factories.api import global_id, payload
from tests.graphql.conftest import Api
from tests.graphql.probes import changed, snapshot

RECORD = """
mutation($kpiId: ID!, $input: RecordKpiMeasurementInput!, $process: String) {
  recordKpiMeasurement(kpiId: $kpiId, input: $input, process: $process) {
    measurement { kpiId periodEnd value rating }
    governanceItem { id kind status title }
    errors { field code reason reasonCode }
  }
}
"""
CLOSE = """
mutation($id: UUID!, $resolution: String!) {
  closeGovernanceItem(id: $id, resolution: $resolution) {
    governanceItem { id status resolution closedBy }
    errors { field code reason reasonCode }
  }
}
"""
ITEMS = "query($all: Boolean!) { governanceItems(includeClosed: $all) { id status kpiId } }"
ON_TIME_DELIVERY: dict[str, Any] = {
    "key": "on-time-delivery",
    "name": "On-time delivery",
    "definition": "Shipments delivered within the agreed window / all shipments, per month.",
    "unit": "%",
    "direction": "higher_is_better",
    "target": 98.0,
    "warning_threshold": 95.0,
    "breach_threshold": 90.0,
    "owner": "user:hanna.vogt",
    "standards": ["iso9001:2015"],
    "clause_keys": ["iso9001:2015/9.1.1"],
}


def month(n: int, value: float) -> dict[str, Any]:
    return {
        "periodStart": str(date(2026, n, 1)),
        "periodEnd": str(date(2026, n, 28)),
        "value": value,
    }


def codes(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["code"], e["reasonCode"]) for e in result["errors"]]


async def test_a_breach_opens_one_governance_item_that_a_person_closes(
    api: Api, make_tenant: TenantFactory
) -> None:
    northwind = await make_tenant(label="nw")
    stranger = await make_tenant(label="str")
    async with tenant_session(api.runtime, northwind.slug) as session:
        kpi = await kpi_service.create_kpi(
            session=session, actor="user:hanna.vogt", data=ON_TIME_DELIVERY
        )
    kid = global_id(f"Kpi:{northwind.slug}:{kpi.id}")
    hanna = await api.sign_in(northwind, "hanna", "quality_manager")
    viewer = await api.sign_in(northwind, "olaf", "viewer")
    eve = await api.sign_in(stranger, "eve", "quality_manager")

    async def record(token: str, kpi_id: str, values: dict[str, Any]) -> dict[str, Any]:
        variables = {"kpiId": kpi_id, "input": values}
        return payload(await api.post(RECORD, variables, token=token), "recordKpiMeasurement")

    on_target = await record(hanna, kid, month(1, 98.5))
    assert on_target["errors"] == [] and on_target["governanceItem"] is None
    assert on_target["measurement"]["rating"] == "ON_TARGET"
    breach = await record(hanna, kid, month(2, 87.0))
    assert breach["measurement"]["rating"] == "BREACH"
    item = breach["governanceItem"]
    assert (item["kind"], item["status"]) == ("kpi_breach", "open")
    assert "87" in item["title"]
    again = await record(hanna, kid, month(3, 85.0))
    assert again["measurement"]["rating"] == "BREACH" and again["governanceItem"] is None
    listed = (await api.post(ITEMS, {"all": False}, token=hanna))["data"]["governanceItems"]
    assert [(i["id"], i["kpiId"]) for i in listed] == [(item["id"], str(kpi.id))]

    # -- refusals: coded, nothing written but the refused attempt of someone with standing
    before = await snapshot(api.runtime, [northwind.slug, stranger.slug])
    duplicate = await record(hanna, kid, month(3, 99.0))
    assert codes(duplicate) == [("CONFLICT", "DUPLICATE_MEASUREMENT")]
    inverted = await record(hanna, kid, {**month(4, 99.0), "periodEnd": "2026-03-01"})
    assert codes(inverted) == [("BAD_USER_INPUT", "PERIOD_END_BEFORE_START")]
    unseen = [await record(eve, gid, month(5, 99.0)) for gid in (kid, made_up(northwind.slug))]
    assert unseen[0] == unseen[1] and codes(unseen[0]) == [("NOT_FOUND", "KPI_NOT_FOUND")]
    after = await snapshot(api.runtime, [northwind.slug, stranger.slug])
    assert changed(before, after) == [f"{northwind.slug}.event_log"]  # the duplicate's refusal
    denied = await record(viewer, kid, month(5, 99.0))
    assert codes(denied) == [("FORBIDDEN", "ACTION_DENIED")]
    async with tenant_session(api.runtime, northwind.slug) as session:
        refused = (
            await session.scalars(
                select(EventLogEntry).where(EventLogEntry.action == "kpi.refused")
            )
        ).all()
    assert [(e.actor, e.change["reason"]) for e in refused] == [
        (f"user:{northwind.slug}/hanna", "DUPLICATE_MEASUREMENT"),
        (f"user:{northwind.slug}/olaf", "ACTION_DENIED"),
    ]

    # -- closing: by a person with approval rights, saying what was decided, once
    close = {"id": item["id"], "resolution": "Second carrier contracted for the Rhine route."}
    forbidden = payload(await api.post(CLOSE, close, token=viewer), "closeGovernanceItem")
    assert codes(forbidden) == [("FORBIDDEN", "ACTION_DENIED")]
    blank = payload(
        await api.post(CLOSE, {**close, "resolution": " "}, token=hanna), "closeGovernanceItem"
    )
    assert codes(blank) == [("BAD_USER_INPUT", "RESOLUTION_REQUIRED")]
    foreign = payload(await api.post(CLOSE, close, token=eve), "closeGovernanceItem")
    assert codes(foreign) == [("NOT_FOUND", "GOVERNANCE_ITEM_NOT_FOUND")]
    closed = payload(await api.post(CLOSE, close, token=hanna), "closeGovernanceItem")
    assert closed["governanceItem"]["status"] == "closed"
    assert closed["governanceItem"]["closedBy"] == f"user:{northwind.slug}/hanna"
    twice = payload(await api.post(CLOSE, close, token=hanna), "closeGovernanceItem")
    assert codes(twice) == [("CONFLICT", "ALREADY_CLOSED")]
    assert (await api.post(ITEMS, {"all": False}, token=hanna))["data"]["governanceItems"] == []


def made_up(slug: str) -> str:
    return global_id(f"Kpi:{slug}:{uuid.uuid4()}")
