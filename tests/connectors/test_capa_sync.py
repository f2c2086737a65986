"""CAPA from connectors: CSV CAPA registers, SAP causes and tasks, parents and quarantine."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
from sqlalchemy import func, select

from accord.compliance.capa.models import ActionStatus, Capa, CapaAction, capa_findings
from accord.compliance.capa.states import CapaState
from accord.compliance.findings.models import Finding
from accord.connectors.models import QuarantineEntry, SyncState
from accord.connectors.sync import engine
from accord.connectors.sync.quarantine import replay
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session
from tests.connectors.conftest import MakeInstance
from tests.connectors.fake_sap import FakeSap

FINDINGS = [
    "Finding ID,Title,Description,Grade,Severity,Clauses,Criteria,Raised,Raised by,Owner,Due",
    "F-1,Calibration overdue,Gauge 12 überfällig,Minor,High,iso9001:2015/7.1.5,ISO 9001 7.1.5,"
    "2024-03-01,Jörg Müller,QA,15.04.2024",
    "F-2,Training records,Two operators without records,Observation,Low,iso9001:2015/7.2,,"
    "05.03.2024,Anna,HR,",
]
REGISTER = [
    "CAPA No,Title,Finding ref,Root cause method,Root cause,Whys,Causes,Containment,Action,"
    "Owner,Due,Completed,Status,Clauses",
    "C-1,Gauge recall,F-1,5 Whys,No calibration schedule,Gauge 12 not recalled;No recall list,"
    ",Gauge 12 gesperrt,Set up calibration schedule,Jörg Müller,30.04.2024,,In progress,",
    "C-2,Training matrix,F-2,Fishbone,,,Method: no training matrix;Man: new hires not briefed,"
    ",Introduce training matrix,HR,2024/05/15,2024-05-10,Closed,iso9001:2015/7.2",
    "C-3,Müller's follow-up,F-1;F-2,,,,,,,QA,01-Jun-2024,,Open,",
    "C-4,Bad due,F-1,5 Whys,Root,,,,,QA,31.02.2024,,Open,",
    "C-5,Bad method,F-1,Pareto,Root,,,,,QA,2024-05-01,,Open,",
    "C-6,Unknown finding,F-99,5 Whys,Root,,,,,QA,2024-05-01,,Open,",
    "C-7,Early,F-1,,,,,,,QA,2024-02-01,,Open,",
]


async def _events(runtime: Runtime, slug: str) -> tuple[int, dict[str, list[dict[str, Any]]]]:
    async with tenant_session(runtime, slug) as s:
        entries = (await s.scalars(select(EventLogEntry).order_by(EventLogEntry.seq))).all()
        assert (await verify_chain(s)).ok
    by_action: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        by_action.setdefault(e.action, []).append(e.change)
    return len(entries), by_action


async def _capas(runtime: Runtime, slug: str) -> dict[str, dict[str, Any]]:
    """Each CAPA by reference, with its finding references and its actions."""
    async with tenant_session(runtime, slug) as s:
        capas = (await s.scalars(select(Capa))).all()
        links = (
            await s.execute(
                select(capa_findings.c.capa_id, Finding.reference).join(
                    Finding, Finding.id == capa_findings.c.finding_id
                )
            )
        ).all()
        actions = (await s.scalars(select(CapaAction).order_by(CapaAction.external_id))).all()
    out: dict[str, dict[str, Any]] = {}
    for c in capas:
        out[c.reference] = {
            "capa": c,
            "findings": sorted(ref for capa_id, ref in links if capa_id == c.id),
            "actions": [a for a in actions if a.capa_id == c.id],
        }
    return out


async def _report(runtime: Runtime, slug: str) -> list[tuple[Any, ...]]:
    async with tenant_session(runtime, slug) as s:
        rejected = (
            await s.scalars(
                select(QuarantineEntry)
                .where(QuarantineEntry.fixed_at.is_(None))
                .order_by(QuarantineEntry.position, QuarantineEntry.id)
            )
        ).all()
    return [
        (e.position or e.external_id, r["column"], r["field"], r["reason"])
        for e in rejected
        for r in e.reasons
    ]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252"])
async def test_csv_capa_register(
    runtime: Runtime, make_tenant: Any, make_instance: MakeInstance, tmp_path: Path, encoding: str
) -> None:
    tenant = await make_tenant()
    findings_csv = tmp_path / "findings.csv"
    findings_csv.write_bytes(("\r\n".join(FINDINGS) + "\r\n").encode(encoding))
    [found] = await engine.run_instance(
        runtime, await make_instance(tenant.slug, str(findings_csv), kind="csv")
    )
    assert found.counts["created"] == 2, found.error
    register = tmp_path / "capas.csv"
    register.write_bytes(("\r\n".join(REGISTER) + "\r\n").encode(encoding))
    loaded = await make_instance(tenant.slug, str(register), kind="csv", record_type="capa")
    assert loaded.config.model_dump()["key_column"] == "CAPA No"

    [result] = await engine.run_instance(runtime, loaded)
    assert result.status == "succeeded", result.error
    assert (result.counts["created"], result.counts["quarantined"]) == (3, 4)
    capas = await _capas(runtime, tenant.slug)
    assert sorted(capas) == ["C-1", "C-2", "C-3"]  # nothing of a rejected row is written

    c1 = capas["C-1"]
    assert c1["findings"] == ["F-1"]
    assert c1["capa"].state is CapaState.IN_PROGRESS  # "In progress": planned → approved → …
    assert c1["capa"].containment == "Gauge 12 gesperrt"
    assert c1["capa"].clause_keys == ["iso9001:2015/7.1.5"]  # taken from its finding
    assert c1["capa"].root_cause_analysis == {
        "method": "five_whys",
        "whys": [
            {"why": "Why: Gauge recall?", "answer": "Gauge 12 not recalled"},
            {"why": "Why: Gauge 12 not recalled?", "answer": "No recall list"},
        ],
        "root_cause": "No calibration schedule",
    }
    [action] = c1["actions"]
    assert (action.external_id, action.title, action.owner, action.owner_tenant) == (
        "C-1/action",
        "Set up calibration schedule",
        "Jörg Müller",
        tenant.slug,
    )
    assert (action.due_at, action.status) == (date(2024, 4, 30), ActionStatus.OPEN)

    c2 = capas["C-2"]
    assert c2["capa"].root_cause_analysis == {
        "method": "fishbone",
        "categories": {"Method": ["no training matrix"], "Man": ["new hires not briefed"]},
    }
    [done] = c2["actions"]
    assert done.status is ActionStatus.DONE and done.due_at == date(2024, 5, 15)
    assert done.completed_at == datetime(2024, 5, 9, 22, tzinfo=UTC)  # Berlin midnight
    # "Closed" is reached as far as the guards allow: implemented, then no check is planned.
    assert c2["capa"].state is CapaState.IMPLEMENTED

    c3 = capas["C-3"]
    assert c3["findings"] == ["F-1", "F-2"] and c3["capa"].title == "Müller's follow-up"
    assert c3["capa"].clause_keys == ["iso9001:2015/7.1.5", "iso9001:2015/7.2"]
    assert c3["capa"].state is CapaState.PLANNED and c3["capa"].root_cause_method is None
    assert c3["actions"][0].due_at == date(2024, 6, 1)

    assert await _report(runtime, tenant.slug) == [
        (5, "Due", "due_at", "BAD_DATE"),
        (6, "Root cause method", "root_cause_method", "UNKNOWN_CODE"),
        (7, None, "finding_external_ids", "UNKNOWN_PARENT"),
        (8, None, "due_at", "DUE_BEFORE_FINDING_RAISED"),
    ]
    count, events = await _events(runtime, tenant.slug)
    assert [e["to"] for e in events["capa.transition"]] == [
        "approved",
        "in_progress",
        "approved",
        "in_progress",
        "implemented",
    ]
    [refused] = events["capa.source_status"]
    assert (refused["source_state"], refused["state"], refused["reason"]) == (
        "closed",
        "implemented",
        "EFFECTIVENESS_CHECK_UNPLANNED",
    )
    assert len(events["capa.imported"]) == 3 and len(events["capa_action.imported"]) == 3

    # Unchanged register: nothing written, no event; the rejected rows stay rejected.
    [again] = await engine.run_instance(runtime, loaded)
    assert (again.counts["unchanged"], again.counts["created"], again.counts["updated"]) == (
        3,
        0,
        0,
    )
    assert again.counts["quarantined"] == 4
    assert (await _events(runtime, tenant.slug))[0] == count

    # C-2 is implemented: its root cause is settled, a changed analysis is refused, logged.
    changed = [row.replace("new hires not briefed", "no buddy system") for row in REGISTER]
    register.write_bytes(("\r\n".join(changed) + "\r\n").encode(encoding))
    [third] = await engine.run_instance(runtime, loaded)
    assert (third.counts["updated"], third.counts["unchanged"]) == (1, 2)
    capas = await _capas(runtime, tenant.slug)
    assert capas["C-2"]["capa"].root_cause_analysis == c2["capa"].root_cause_analysis
    [settled] = (await _events(runtime, tenant.slug))[1]["capa.source_root_cause"]
    assert (settled["external_id"], settled["reason"]) == ("C-2", "ROOT_CAUSE_LOCKED")


def _cause(n: int, item: str, cause: str, text: str, group: str, root: bool) -> dict[str, Any]:
    return {
        "QualityNotification": f"{200000000 + n}",
        "NotificationItem": item,
        "NotificationCauseID": cause,
        "NotificationCauseText": text,
        "NotificationCauseCodeCatalog": "5",
        "NotificationCauseCodeGroup": group,
        "NotificationCauseCode": "0001",
        "NotificationRootCause": root,
        "LastChangeDate": date(2024, 5, 2),
    }


def _task(
    n: int, task: str, text: str, person: str, end: date, completed: date | None = None
) -> dict[str, Any]:
    return {
        "QualityNotification": f"{200000000 + n}",
        "NotificationTask": task,
        "NotificationTaskText": text,
        "QualityTaskCode": "0010",
        "ResponsiblePerson": person,
        "NotifTaskPlannedStartDate": date(2024, 5, 2),
        "NotifTaskPlannedEndDate": end,
        "NotifTaskCompletionDate": completed,
        "ChangedDateTime": datetime(2024, 5, 2, 8, int(task), tzinfo=UTC),
    }


CAUSES = "QualityNotificationItemCause"
TASKS = "QualityNotificationTask"


@pytest.mark.parametrize("version", ["v4", "v2"])
async def test_sap_causes_and_tasks_make_capas(
    runtime: Runtime,
    make_tenant: Any,
    make_instance: MakeInstance,
    sap: tuple[FakeSap, str],
    version: str,
) -> None:
    app, url = sap
    app.count = 3
    # Served in key order, two a page: notification 0's causes span two pages.
    app.entity_sets[CAUSES] = [
        _cause(2, "0001", "0001", "Supplier lot mixed", "MATERIAL", False),
        _cause(0, "0001", "0001", "Worn die insert", "MACHINE", True),
        _cause(0, "0001", "0002", "Setup sheet outdated", "METHOD", False),
        _cause(0, "0002", "0001", "Operator not trained", "MAN", False),
    ]
    app.entity_sets[TASKS] = [
        _task(0, "0001", "Replace die insert", "QM_ENGINEER", date(2024, 5, 20), date(2024, 5, 18)),
        _task(0, "0002", "Revise setup sheet", "PLANNER", date(2024, 6, 1)),
        _task(1, "0001", "Sort stock", "QM_CLERK", date(2024, 5, 10)),
    ]
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, url, odata_version=version, capa=True, page_size=2)
    results = await engine.run_instance(runtime, loaded)
    assert [
        (r.stream, r.status, r.counts["created"], r.counts["quarantined"]) for r in results
    ] == [
        ("quality_notifications", "succeeded", 3, 0),
        ("quality_notification_causes", "succeeded", 2, 0),
        ("quality_notification_tasks", "succeeded", 3, 0),
    ]
    assert all(
        "$orderby=QualityNotification,NotificationItem,NotificationCauseID" in unquote_plus(r)
        for r in app.requests
        if CAUSES in r and "skiptoken" not in r
    )

    capas = await _capas(runtime, tenant.slug)
    assert sorted(capas) == ["CAPA-QN-200000000", "CAPA-QN-200000001", "CAPA-QN-200000002"]
    qn0 = capas["CAPA-QN-200000000"]
    assert qn0["findings"] == ["QN-200000000"]
    capa = qn0["capa"]
    assert (capa.source_system, capa.external_id, capa.state) == (
        "sap-s4hana",
        "200000000",
        CapaState.PLANNED,
    )
    assert capa.title == "Nonconforming part in lot 4700"  # its finding's
    assert capa.clause_keys == ["iso9001:2015/8.7"]
    assert capa.root_cause_analysis == {
        "method": "fishbone",
        "categories": {
            "MACHINE": ["Worn die insert"],
            "METHOD": ["Setup sheet outdated"],
            "MAN": ["Operator not trained"],
        },
        "root_cause": "Worn die insert",
    }
    done, open_ = qn0["actions"]
    assert (done.external_id, done.title, done.owner, done.owner_tenant) == (
        "200000000/0001",
        "Replace die insert",
        "QM_ENGINEER",
        tenant.slug,
    )
    assert done.status is ActionStatus.DONE
    assert done.completed_at == datetime(2024, 5, 18, tzinfo=UTC)
    assert done.completed_by == f"connector:{loaded.row.name}"
    assert (open_.title, open_.owner, open_.due_at, open_.status) == (
        "Revise setup sheet",
        "PLANNER",
        date(2024, 6, 1),
        ActionStatus.OPEN,
    )
    # A notification with tasks but no causes: its CAPA is made from the finding.
    qn1 = capas["CAPA-QN-200000001"]
    assert qn1["findings"] == ["QN-200000001"] and qn1["capa"].root_cause_method is None
    assert [a.title for a in qn1["actions"]] == ["Sort stock"]
    qn2 = capas["CAPA-QN-200000002"]
    assert qn2["capa"].root_cause_analysis == {
        "method": "fishbone",
        "categories": {"MATERIAL": ["Supplier lot mixed"]},
    }
    assert qn2["actions"] == []
    count, events = await _events(runtime, tenant.slug)
    assert [e["external_id"] for e in events["capa.created"]] == ["200000001"]
    assert len(events["capa.action_completed"]) == 1

    # Again: causes are a full pass, all unchanged; tasks a delta with nothing new.
    again = await engine.run_instance(runtime, loaded)
    assert [(r.counts["unchanged"], r.counts["created"], r.counts["updated"]) for r in again] == [
        (0, 0, 0),
        (2, 0, 0),
        (0, 0, 0),
    ]
    assert (await _events(runtime, tenant.slug))[0] == count

    # A cause changes in SAP: the analysis is replaced whole, one update, one event.
    app.entity_sets[CAUSES][3]["NotificationCauseText"] = "Operator not qualified"
    [causes] = await engine.run_instance(runtime, loaded, ["quality_notification_causes"])
    assert (causes.counts["updated"], causes.counts["unchanged"]) == (1, 1)
    capas = await _capas(runtime, tenant.slug)
    analysis = capas["CAPA-QN-200000000"]["capa"].root_cause_analysis
    assert analysis is not None and analysis["categories"]["MAN"] == ["Operator not qualified"]
    assert (await _events(runtime, tenant.slug))[0] == count + 1


async def test_task_before_its_notification_waits_for_replay(
    runtime: Runtime, make_tenant: Any, make_instance: MakeInstance, sap: tuple[FakeSap, str]
) -> None:
    app, url = sap
    app.count = 2
    app.entity_sets[TASKS] = [_task(1, "0003", "Sort stock", "QM_CLERK", date(2024, 5, 10))]
    app.entity_sets[CAUSES] = [_cause(1, "0001", "0001", "Mixed lot", "MATERIAL", True)]
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, url, capa=True)
    results = await engine.run_instance(
        runtime, loaded, ["quality_notification_tasks", "quality_notification_causes"]
    )
    assert [(r.counts["created"], r.counts["quarantined"]) for r in results] == [(0, 1), (0, 1)]
    assert await _report(runtime, tenant.slug) == [
        ("200000001/0003", None, "capa_external_id", "UNKNOWN_PARENT"),
        ("200000001", None, "finding_external_ids", "UNKNOWN_PARENT"),
    ]
    assert await _capas(runtime, tenant.slug) == {}

    [notifications] = await engine.run_instance(runtime, loaded, ["quality_notifications"])
    assert notifications.counts["created"] == 2
    tasks = await replay(runtime, loaded, "quality_notification_tasks")
    assert (tasks.replayed, tasks.still_failing) == (1, 0)
    causes = await replay(runtime, loaded, "quality_notification_causes")
    assert (causes.replayed, causes.still_failing) == (1, 0)

    capas = await _capas(runtime, tenant.slug)
    assert sorted(capas) == ["CAPA-QN-200000001"]
    entry = capas["CAPA-QN-200000001"]
    assert entry["findings"] == ["QN-200000001"]
    assert [(a.external_id, a.owner, a.due_at) for a in entry["actions"]] == [
        ("200000001/0003", "QM_CLERK", date(2024, 5, 10))
    ]
    assert entry["capa"].root_cause_analysis == {
        "method": "fishbone",
        "categories": {"MATERIAL": ["Mixed lot"]},
        "root_cause": "Mixed lot",
    }
    assert await _report(runtime, tenant.slug) == []
    assert (await replay(runtime, loaded, "quality_notification_tasks")).replayed == 0


async def test_cause_groups_survive_a_failed_page(
    runtime: Runtime, make_tenant: Any, make_instance: MakeInstance, sap: tuple[FakeSap, str]
) -> None:
    app, url = sap
    app.count = 2
    app.entity_sets[CAUSES] = [
        _cause(0, "0001", "0001", "Worn die insert", "MACHINE", False),
        _cause(1, "0001", "0001", "Wrong gauge", "MEASUREMENT", False),
        _cause(1, "0001", "0002", "Old drawing", "METHOD", False),
        _cause(1, "0002", "0001", "Night shift", "MAN", False),
    ]
    tenant = await make_tenant()
    loaded = await make_instance(tenant.slug, url, capa=True, page_size=2)
    await engine.run_instance(runtime, loaded, ["quality_notifications"])
    app.faults_at = {2: ["400"]}  # the second page of causes fails for good

    [failed] = await engine.run_instance(runtime, loaded, ["quality_notification_causes"])
    assert failed.status == "failed" and failed.counts["created"] == 1
    async with tenant_session(runtime, tenant.slug) as s:
        state = await s.get(SyncState, (loaded.row.id, "quality_notification_causes"))
        assert state is not None
        resume = json.loads(state.bookmark["resume"])
    # Notification 1's causes began on the first page: the pass resumes there, at it.
    assert resume["group"] == "200000001" and "skiptoken" not in resume["url"]

    [resumed] = await engine.run_instance(runtime, loaded, ["quality_notification_causes"])
    assert resumed.status == "succeeded", resumed.error
    assert (resumed.counts["created"], resumed.counts["updated"]) == (1, 0)
    capas = await _capas(runtime, tenant.slug)
    assert capas["CAPA-QN-200000001"]["capa"].root_cause_analysis == {
        "method": "fishbone",
        "categories": {
            "MEASUREMENT": ["Wrong gauge"],
            "METHOD": ["Old drawing"],
            "MAN": ["Night shift"],
        },
    }
    async with tenant_session(runtime, tenant.slug) as s:
        assert await s.scalar(select(func.count()).select_from(Capa)) == 2
