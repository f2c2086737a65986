"""Every cell of the DEMO RACI matrices: resources × actions × principals, through the database.

Ownership follows DEMO.md: supplier-quality findings belong to globex (the audited
tenant); northwind is Accountable for verification and closure, so northwind may verify
and close globex's findings while globex may respond but not close. Cells not listed as
allowed must be denied.
"""

from __future__ import annotations

import pytest

from accord.platform.runtime import Runtime
from accord.policies import service
from accord.policies.engine import PolicyEngine
from accord.policies.schemas import Principal, Resource
from accord.policies.vocab import ACTIONS
from tests.policies.conftest import (
    Partners,
    joint_emergency,
    management_review,
    supplier_quality,
)

PRINCIPALS = {
    "gq": ("globex", "gina", "quality_manager"),
    "gv": ("globex", "gus", "viewer"),
    "ge": ("globex", "gail", "executive"),
    "nq": ("northwind", "nils", "quality_manager"),
    "na": ("northwind", "nadia", "auditor"),
    "nv": ("northwind", "nora", "viewer"),
    "ne": ("northwind", "nina", "executive"),
    "mq": ("meridian", "mia", "quality_manager"),
    "me": ("meridian", "max", "executive"),
    "iq": ("initech", "ivan", "quality_manager"),
    "ie": ("initech", "ines", "executive"),
}
QM_ALL = "read comment respond propose_capa complete_action verify close approve notify sync"

# resource → action → principals allowed (everyone else is denied)
TABLE: dict[tuple[str, str, str | None], dict[str, str]] = {
    ("globex", "finding", "supplier-quality-2027"): {
        "read": "gq gv ge nq na mq",  # globex's own + R, A, named C, I
        "comment": "gq ge nq na",
        "respond": "gq",
        "propose_capa": "gq",
        "complete_action": "gq",  # not covered by a finding activity: globex baseline
        "verify": "nq",  # governed: only the Accountable, not globex's quality manager
        "close": "nq",
        "approve": "gq",
        "notify": "gq",
        "sync": "gq",
    },
    ("globex", "capa_action", "supplier-quality-2027"): {
        "read": "gq gv ge nq mq",  # nadia is named only on finding activities
        "comment": "gq ge nq",
        "respond": "gq",
        "propose_capa": "gq",
        "complete_action": "gq",
        "verify": "nq",
        "close": "nq",
        "approve": "gq",
        "notify": "gq",
        "sync": "gq",
    },
    ("globex", "finding", None): {
        **{a: "gq" for a in QM_ALL.split()},
        "read": "gq gv ge",
        "comment": "gq ge",
    },
    ("northwind", "finding", "supplier-quality-2027"): {  # not an owner of that matrix
        **{a: "nq" for a in QM_ALL.split()},
        "read": "nq na nv ne",
        "comment": "nq na ne",
        "verify": "nq na",
    },
    ("initech", "incident", "joint-emergency-response"): {
        "read": "iq ie me nq",
        "comment": "iq ie me nq",
        "respond": "iq",
        "propose_capa": "iq",
        "complete_action": "iq",
        "verify": "iq",
        "close": "me",
        "approve": "me",
        "notify": "iq",
        "sync": "iq",
    },
    ("meridian", "incident", "joint-emergency-response"): {
        "read": "mq me iq nq",
        "comment": "mq me iq nq",
        "respond": "iq",  # initech Responsible inside meridian's records
        "propose_capa": "mq",
        "complete_action": "iq",
        "verify": "mq",
        "close": "me",
        "approve": "me",  # meridian's quality manager loses its baseline approve here
        "notify": "mq",
        "sync": "mq",
    },
    ("northwind", "management_review", "network-mr-q4-2026"): {
        **{a: "nq" for a in QM_ALL.split()},
        "read": "nq na nv ne ge me ie",
        "comment": "nq na ne ge me ie",
        "approve": "nq ne",
        "sign": "ne",
    },
    ("globex", "management_review", "network-mr-q4-2026"): {
        **{a: "gq" for a in QM_ALL.split()},
        "read": "gq gv ge",
        "comment": "gq ge",
        "approve": "gq ge",
        "sign": "ge",  # only globex's executive signs globex's part
    },
}


@pytest.fixture(scope="module")
async def engine(runtime: Runtime, partners: Partners) -> PolicyEngine:
    async with runtime.control_session() as session:
        for document in (supplier_quality, joint_emergency, management_review):
            await service.import_matrix(session=session, text=document(partners), fmt="yaml")
    engine = PolicyEngine()
    async with runtime.control_session() as session:
        await service.reload(session=session, engine=engine)
    return engine


def _principal(partners: Partners, label: str) -> Principal:
    tenant, subject, role = PRINCIPALS[label]
    return Principal.of(getattr(partners, tenant), subject, role)


@pytest.mark.parametrize("key", list(TABLE), ids=lambda k: "/".join(p or "-" for p in k))
def test_every_cell(
    engine: PolicyEngine, partners: Partners, key: tuple[str, str, str | None]
) -> None:
    owner, record_type, process = key
    resource = Resource(
        getattr(partners, owner), record_type, partners.process(process) if process else None
    )
    wrong = []
    for action in ACTIONS:
        allowed = set(TABLE[key].get(action, "").split())
        for label in PRINCIPALS:
            decision = engine.authorize(_principal(partners, label), action, resource)
            if decision.allowed != (label in allowed):
                wrong.append(f"{label} {action}: got {decision.allowed} ({decision.explain})")
            assert decision.explain.startswith("allowed" if decision.allowed else "denied")
    assert not wrong, "\n".join(wrong)


def test_explanations_name_matrix_activity_party(engine: PolicyEngine, partners: Partners) -> None:
    finding = Resource(partners.globex, "finding", partners.process("supplier-quality-2027"))
    close = engine.authorize(_principal(partners, "nq"), "close", finding)
    assert close.allowed
    assert f"Supplier quality 2027 {partners.tag}" in close.explain
    assert "Verify and close findings" in close.explain
    assert f"role:{partners.northwind}/quality_manager is Accountable" in close.explain
    assert close.rule is not None and close.rule.endswith("close, allow")

    refused = engine.authorize(_principal(partners, "gq"), "close", finding)
    assert not refused.allowed
    assert "governed by RACI matrix" in refused.explain
    assert f"only role:{partners.northwind}/quality_manager may do it" in refused.explain
    assert refused.rule is not None and refused.rule.startswith("p, *, ")

    nadia = engine.authorize(_principal(partners, "na"), "comment", finding)
    assert f"user:{partners.northwind}/nadia is Consulted" in nadia.explain

    own = engine.authorize(
        _principal(partners, "gq"), "close", Resource(partners.globex, "finding")
    )
    assert "baseline rule" in own.explain and "quality_manager" in own.explain

    stranger = engine.authorize(_principal(partners, "iq"), "read", finding)
    assert not stranger.allowed and stranger.rule is None
    assert "not a party" in stranger.explain
