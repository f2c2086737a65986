"""The records of the demo story (docs: ../shared/DEMO.md), written through the services.

Each partner's records go into its own schema through its own tenant session; the joint
audit at globex is owned by globex (the audited tenant) and led by northwind.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.audits import service as audit_service
from accord.compliance.audits.protocol import service as audit_protocol
from accord.compliance.capa import flows as capa_flows
from accord.compliance.capa import service as capa_service
from accord.compliance.evidence import service as evidence_service
from accord.compliance.findings.models import Finding
from accord.compliance.incidents import service as incident_service
from accord.compliance.kpis import service as kpi_service
from accord.compliance.reviews import flows as review_flows
from accord.compliance.reviews import service as review_service
from accord.compliance.workflow import service as finding_workflow
from accord.demo.raci import SUPPLIER_QUALITY, seed_governance
from accord.platform import clock
from accord.platform.runtime import Runtime
from accord.tenants.agreements import service as agreements
from accord.tenants.sessions import tenant_session

STANDARDS = {
    "northwind": ("iso9001:2015", "iso14001:2015", "iso45001:2018"),
    "globex": ("iso9001:2015", "iso14001:2015"),
    "meridian": ("iso9001:2015", "iso27001:2022", "iso22301:2019"),
    "initech": ("iso27001:2022", "iso22301:2019"),
}
HISTORY_CLAUSES = {
    "iso9001:2015": ("7.1.5.2", "7.5.3", "8.4.1", "8.5.1", "9.1.3", "10.2"),
    "iso14001:2015": ("6.1.2", "7.5.3", "8.1", "9.1.1"),
    "iso45001:2018": ("6.1.2.1", "8.1.2", "9.1.1", "10.2"),
    "iso27001:2022": ("A.5.15", "A.8.8", "A.8.13", "A.5.24", "8.1"),
    "iso22301:2019": ("8.4.1", "8.5", "9.1"),
}
ACTOR = "system:demo"
# Evidence every partner files against its first standard; the cross-walk carries it over.
EVIDENCE = (
    ("4.3", "Scope statement of the management system"),
    ("5.2", "Signed policy, revision 7"),
    ("7.2", "Competence matrix and training records"),
    ("9.3", "Minutes of the last management review"),
)


async def _joint_audit(runtime: Runtime, today: date) -> None:
    raised = datetime.combine(today - timedelta(days=30), datetime.min.time(), UTC)
    async with tenant_session(runtime, "globex") as s:
        audit = await audit_service.create_audit(
            session=s,
            actor="northwind/lea.hoffmann",
            data={
                "programme": "Supplier quality 2027",
                "type": "joint",
                "title": "Joint supplier audit, Globex plant Dayton",
                "scope": "Control of externally provided processes; operational control",
                "clause_keys": ["iso9001:2015/8.4", "iso14001:2015/8.1"],
                "lead_tenant": "northwind",
                "audited_tenant": "globex",
                "window_start": today - timedelta(days=32),
                "window_end": today - timedelta(days=28),
            },
        )
        for tenant, subject, role in (
            ("northwind", "lea.hoffmann", "lead_auditor"),
            ("northwind", "anna.keller", "auditor"),
            ("meridian", "priya.patel", "observer"),
            ("globex", "maria.santos", "auditee_representative"),
        ):
            await audit_service.add_team_member(
                session=s,
                audit=audit,
                actor=ACTOR,
                data={"tenant": tenant, "subject": subject, "role": role},
            )
        await audit_service.set_audit_status(
            session=s, audit=audit, target="in_progress", actor=ACTOR
        )

        def finding(
            ref: str, title: str, grade: str, clause: str, condition: str
        ) -> dict[str, Any]:
            return {
                "audit_id": audit.id,
                "reference": ref,
                "title": title,
                "grade": grade,
                "severity": "high" if grade == "major_nonconformity" else "medium",
                "clause_keys": [clause],
                "condition": condition,
                "raised_at": raised,
                "raised_by": "northwind/lea.hoffmann",
                "owner": "globex/maria.santos",
                "criteria": None if grade == "opportunity_for_improvement" else f"{clause}",
                "response_due_at": today - timedelta(days=16),
            }

        major = await finding_workflow.raise_finding(
            session=s,
            actor="northwind/lea.hoffmann",
            data=finding(
                "GX-2026-01",
                "Supplier monitoring records missing",
                "major_nonconformity",
                "iso9001:2015/8.4",
                "No monitoring records for 3 of 12 active suppliers.",
            ),
        )
        for ref, title, grade, clause, condition in (
            (
                "GX-2026-02",
                "Calibration overdue on torque wrenches",
                "minor_nonconformity",
                "iso9001:2015/7.1.5.2",
                "4 torque wrenches 2 months past their calibration date.",
            ),
            (
                "GX-2026-03",
                "Incomplete waste manifests",
                "minor_nonconformity",
                "iso14001:2015/8.1",
                "2 of 9 hazardous-waste manifests lack the carrier signature.",
            ),
            (
                "GX-2026-04",
                "Supplier scorecards could be shared monthly",
                "opportunity_for_improvement",
                "iso9001:2015/8.4",
                "Scorecards are compiled quarterly; customers ask monthly.",
            ),
        ):
            raised_finding = await finding_workflow.raise_finding(
                session=s,
                actor="northwind/lea.hoffmann",
                data=finding(ref, title, grade, clause, condition),
            )
            if ref == "GX-2026-03":
                manifests = raised_finding
        await finding_workflow.respond(
            session=s,
            finding=major,
            actor="globex/maria.santos",
            response="Supplier monitoring lapsed when the buyer role changed; CAPA raised.",
        )
        await capa_service.create_capa(
            session=s,
            actor="globex/maria.santos",
            data={
                "reference": "GX-CAPA-2026-01",
                "title": "Restore supplier monitoring",
                "finding_ids": [major.id],
                "clause_keys": ["iso9001:2015/8.4"],
                "containment": "Interim monthly review of the three suppliers by the QA lead.",
                "root_cause": {
                    "method": "five_whys",
                    "whys": [
                        {"why": "Why were records missing?", "answer": "No evaluations were run."},
                        {"why": "Why not?", "answer": "The buyer who ran them left in March."},
                        {
                            "why": "Why did nobody take over?",
                            "answer": "The task was not in any job role.",
                        },
                    ],
                    "root_cause": "Supplier monitoring was a personal habit, not an assigned duty.",
                },
                "actions": [
                    {
                        "title": "Assign supplier monitoring to the purchasing lead role",
                        "owner": "maria.santos",
                        "owner_tenant": "globex",
                        "due_at": today - timedelta(days=5),
                    },
                    {
                        "title": "Evaluate the three unmonitored suppliers",
                        "owner": "maria.santos",
                        "owner_tenant": "globex",
                        "due_at": today + timedelta(days=20),
                    },
                ],
            },
        )
        await finding_workflow.transition(
            session=s, finding=major, target="capa_planned", actor="globex/maria.santos"
        )
        await _manifest_capa(s, manifests, today)
        # Agreed once the fieldwork was done: from here on globex responds and plans,
        # northwind verifies and closes, under the supplier quality process.
        await audit_protocol.agree_protocol(
            session=s,
            audit=audit,
            data={
                "response_days": 14,
                "capa_plan_days": 30,
                "verifier_tenant": "northwind",
                "process": SUPPLIER_QUALITY,
            },
            actor="northwind/lea.hoffmann",
        )


async def _manifest_capa(s: AsyncSession, manifests: Finding, today: date) -> None:
    """The waste-manifest CAPA, done and due for its check by northwind's lead auditor."""
    await finding_workflow.respond(
        session=s,
        finding=manifests,
        actor="globex/maria.santos",
        response="The carrier signed on its own copy only; CAPA raised.",
    )
    capa = await capa_service.create_capa(
        session=s,
        actor="globex/maria.santos",
        data={
            "reference": "GX-CAPA-2026-02",
            "title": "Countersigned waste manifests before every pick-up",
            "finding_ids": [manifests.id],
            "clause_keys": ["iso14001:2015/8.1"],
            "containment": "The two carriers countersigned the open manifests the same week.",
            "root_cause": {
                "method": "five_whys",
                "whys": [
                    {"why": "Why were signatures missing?", "answer": "Carriers signed copies."},
                    {"why": "Why only copies?", "answer": "The gate had no signing step."},
                ],
                "root_cause": "The pick-up procedure had no step for the carrier's signature.",
            },
            "actions": [
                {
                    "title": "Add the carrier signature to the gate pick-up checklist",
                    "owner": "maria.santos",
                    "owner_tenant": "globex",
                    "due_at": today - timedelta(days=12),
                }
            ],
        },
    )
    await capa_flows.approve_plan(session=s, capa=capa, actor="northwind/anna.keller")
    await finding_workflow.transition(
        session=s, finding=manifests, target="capa_planned", actor="globex/maria.santos"
    )
    # Planned two weeks ago, due a week ago: northwind's lead auditor may judge it now.
    await capa_flows.plan_effectiveness_check(
        session=s,
        capa=capa,
        owner="globex",
        check={
            "after_days": 7,
            "verifier": {"tenant": "northwind", "subject": "lea.hoffmann"},
        },
        actor="globex/maria.santos",
        today=today - timedelta(days=14),
    )
    for action in await capa_service.list_actions(session=s, capa=capa):
        await capa_flows.complete_action_as(session=s, action=action, actor="globex/maria.santos")


async def _history(runtime: Runtime, slug: str, today: date) -> int:
    rng = random.Random(slug)
    count = 0
    async with tenant_session(runtime, slug) as s:
        for month in range(18, 0, -1):
            for n in range(rng.randint(1, 3)):
                standard = rng.choice(STANDARDS[slug])
                clause = f"{standard}/{rng.choice(HISTORY_CLAUSES[standard])}"
                grade = rng.choice(
                    ("observation", "opportunity_for_improvement", "minor_nonconformity")
                )
                raised = datetime.combine(
                    today - timedelta(days=30 * month + rng.randint(0, 25)),
                    datetime.min.time(),
                    UTC,
                )
                finding = await finding_workflow.raise_finding(
                    session=s,
                    actor=ACTOR,
                    data={
                        "reference": f"{slug[:2].upper()}-H{month:02d}{n}",
                        "title": f"Internal audit finding on {clause}",
                        "grade": grade,
                        "severity": "low",
                        "clause_keys": [clause],
                        "criteria": None if grade == "opportunity_for_improvement" else clause,
                        "condition": "Recorded during the internal audit programme.",
                        "raised_at": raised,
                    },
                )
                count += 1
                if grade != "minor_nonconformity" and month > 2:
                    await finding_workflow.respond(
                        session=s, finding=finding, actor=ACTOR, response="Noted and discussed."
                    )
                    await finding_workflow.transition(
                        session=s, finding=finding, target="closed", actor=ACTOR
                    )
        first = STANDARDS[slug][0]
        for number, title in EVIDENCE:
            captured = datetime.combine(
                today - timedelta(days=rng.randint(20, 200)), datetime.min.time(), UTC
            )
            await evidence_service.add_evidence(
                session=s,
                actor=ACTOR,
                data={
                    "title": title,
                    "sha256": hashlib.sha256(f"{slug}{title}".encode()).hexdigest(),
                    "media_type": "application/pdf",
                    "size_bytes": 180_000 + rng.randint(0, 90_000),
                    "captured_at": captured,
                    "uri": f"s3://{slug}-evidence/{number}.pdf",
                    "clause_keys": [f"{first}/{number}"],
                },
            )
    return count


async def _kpis(runtime: Runtime, today: date) -> None:
    plans: dict[str, list[tuple[str, str, str, str, float, float, float, float]]] = {
        "northwind": [
            ("on_time_delivery", "On-time delivery", "%", "higher_is_better", 97, 95, 92, 96.5),
            (
                "ltifr",
                "Lost-time injury frequency rate",
                "per 1M h",
                "lower_is_better",
                1.0,
                1.5,
                2.5,
                1.2,
            ),
        ],
        "globex": [
            (
                "supplier_defects_ppm",
                "Supplier defects",
                "ppm",
                "lower_is_better",
                150,
                250,
                400,
                300,
            )
        ],
        "meridian": [
            (
                "rto_achieved",
                "Recovery-time objective achieved",
                "%",
                "higher_is_better",
                100,
                95,
                90,
                96,
            )
        ],
        "initech": [
            (
                "rto_achieved",
                "Recovery-time objective achieved",
                "%",
                "higher_is_better",
                100,
                95,
                90,
                93,
            )
        ],
    }
    for slug, kpis in plans.items():
        rng = random.Random(slug + "kpi")
        async with tenant_session(runtime, slug) as s:
            all_kpis = [
                *kpis,
                (
                    "capa_days_to_close",
                    "Mean days to close a CAPA",
                    "days",
                    "lower_is_better",
                    45,
                    60,
                    90,
                    50,
                ),
            ]
            for key, name, unit, direction, target, warn, breach, level in all_kpis:
                kpi = await kpi_service.create_kpi(
                    session=s,
                    actor=ACTOR,
                    data={
                        "key": key,
                        "name": name,
                        "definition": name,
                        "unit": unit,
                        "direction": direction,
                        "target": target,
                        "warning_threshold": warn,
                        "breach_threshold": breach,
                        "owner": ACTOR,
                        "standards": [STANDARDS[slug][0]],
                    },
                )
                for month in range(6, 0, -1):
                    end = (today.replace(day=1) - timedelta(days=30 * (month - 1))).replace(day=1)
                    start = (end - timedelta(days=1)).replace(day=1)
                    spread = abs(breach - target) * 0.6
                    value = round(level + rng.uniform(-spread, spread), 2)
                    if slug == "globex" and month == 1:
                        value = breach * 1.15  # the breach that opens a governance review
                    await kpi_service.record_measurement(
                        session=s,
                        actor=ACTOR,
                        kpi=kpi,
                        data={
                            "period_start": start,
                            "period_end": end - timedelta(days=1),
                            "value": value,
                        },
                    )


async def _incident(runtime: Runtime, now: datetime) -> None:
    async with tenant_session(runtime, "initech") as s:
        incident = await incident_service.report_incident(
            session=s,
            actor="initech/siobhan.murphy",
            data={
                "reference": "IN-2026-007",
                "title": "Ransomware on the backup management network",
                "severity": 1,
                "occurred_at": now - timedelta(hours=40),
                "detected_at": now - timedelta(hours=38),
                "description": "Encrypted backup catalogue; restores paused for two clients.",
            },
            notify=["meridian"],
            policy={"deadline_hours": {1: 24, 2: 72, 3: 168}},
        )
        await incident_service.mark_notified(
            session=s,
            actor="initech/siobhan.murphy",
            incident=incident,
            partner="meridian",
            notified_at=now - timedelta(hours=8),
        )


async def _review(runtime: Runtime, today: date) -> uuid.UUID:
    async with tenant_session(runtime, "northwind") as s:
        review = await review_service.create_review(
            session=s,
            actor="northwind/anna.keller",
            data={
                "title": "Network management review Q4 2026",
                "period_start": date(2026, 10, 1),
                "period_end": date(2026, 12, 31),
                "standards": list(STANDARDS["northwind"]),
                "minutes": (
                    "Supplier monitoring at globex and the initech notification delay discussed."
                ),
                "decisions": [
                    {
                        "text": "Monthly supplier scorecards from Q1 2027",
                        "owner": "northwind/anna.keller",
                        "due_at": date(2027, 1, 31),
                    }
                ],
                "required_signatories": [
                    {"tenant": t, "subject": s_, "role": "executive"}
                    for t, s_ in (
                        ("northwind", "jonas.brandt"),
                        ("globex", "david.chen"),
                        ("meridian", "tom.hughes"),
                        ("initech", "conor.walsh"),
                    )
                ],
            },
        )
        await review_flows.compile_inputs(session=s, actor="northwind/anna.keller", review=review)
        await review_service.freeze(session=s, actor="northwind/anna.keller", review=review)
        return review.id


async def _agreements(runtime: Runtime) -> None:
    plan = [
        ("globex", "northwind", ["finding", "capa", "audit"], "full", None),
        ("northwind", "globex", ["finding"], "summary", None),
        ("meridian", "northwind", ["incident", "kpi"], "summary", None),
        ("meridian", "globex", ["incident", "kpi"], "summary", None),
        *[
            ("initech", g, ["finding", "incident"], "aggregate", 3)
            for g in ("northwind", "globex", "meridian")
        ],
        # The network review is northwind's; the other executives read what they sign.
        *[
            ("northwind", g, ["management_review"], "full", None)
            for g in ("globex", "meridian", "initech")
        ],
    ]
    async with runtime.control_session() as s:
        for grantor, grantee, types, level, group in plan:
            agreement = await agreements.propose(
                session=s,
                grantor=grantor,
                grantee=grantee,
                record_types=types,
                level=level,
                purpose="Demo network agreement",
                proposed_by=f"{grantor}/system",
                min_group_size=group,
            )
            await agreements.accept(
                session=s, agreement_id=agreement.id, tenant=grantee, actor=ACTOR
            )
            await agreements.activate(
                session=s, agreement_id=agreement.id, tenant=grantor, actor=ACTOR
            )


async def seed_story(runtime: Runtime, *, say: Callable[[str], None]) -> None:
    """Write the story's records; called once, right after the partners are created."""
    now = clock.now()
    today = now.date()
    await _agreements(runtime)
    await _joint_audit(runtime, today)
    say("  joint audit at globex: 1 major (CAPA, one action overdue), 2 minor, 1 OFI")
    total = 0
    for slug in STANDARDS:
        total += await _history(runtime, slug, today)
    say(f"  {total} findings of 18 months of internal audits")
    await _kpis(runtime, today)
    await _incident(runtime, now)
    say("  KPIs with 6 months of measurements; initech's severity-1 incident notified late")
    review_id = await _review(runtime, today)
    say("  Q4 management review compiled and frozen (4 signatories required)")
    key_dir = runtime.settings.data_dir / "demo-keys"
    await seed_governance(runtime, review_id, key_dir, say=say)
