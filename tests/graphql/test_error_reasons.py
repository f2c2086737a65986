"""Every reason a domain's code raises is a value of that domain's ``…ErrorReason`` enum,
described, so a client switches on ``reasonCode`` and never meets ``OTHER`` for a reason
Accord knows."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from graphql import GraphQLEnumType

from accord.graphql.errors import OTHER_REASON
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
from accord.graphql.schema import schema

ACCORD = Path(__file__).resolve().parents[2] / "accord"
REASON = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$|^[A-Z]{5,}$")

#: The code each domain's mutations reach, beyond the shared gates.
DOMAINS = {
    "FindingErrorReason": (
        FINDING,
        (
            "compliance/findings",
            "compliance/workflow",
            "compliance/audits",
            "compliance/catalog",
            "graphql/findings",
            "graphql/transfers.py",
        ),
    ),
    "CapaErrorReason": (
        CAPA,
        (
            "compliance/capa",
            "compliance/evidence",
            "compliance/workflow",
            "compliance/audits",
            "graphql/capas",
        ),
    ),
    "JointAuditErrorReason": (
        JOINT_AUDIT,
        (
            "compliance/audits",
            "compliance/findings",
            "compliance/workflow",
            "compliance/catalog",
            "graphql/audits",
        ),
    ),
    "ManagementReviewErrorReason": (
        MANAGEMENT_REVIEW,
        (
            "compliance/reviews",
            "compliance/kpis",
            "compliance/risks",
            # The policy layer as mutations reach it (not the enforcer's start-up checks of
            # a mounted Casbin model, which no mutation can trigger).
            "policies/raci.py",
            "policies/schemas.py",
            "policies/service.py",
            "graphql/reviews",
        ),
    ),
    "IncidentErrorReason": (INCIDENT, ("compliance/incidents", "graphql/incidents.py")),
    "IdentityErrorReason": (
        IDENTITY,
        (
            # What the identity mutations reach (not the token checks of every request,
            # which answer 401 before any mutation runs).
            "tenants/identity/accounts.py",
            "tenants/identity/discovery.py",
            "tenants/identity/member_keys.py",
            "tenants/identity/members.py",
            "tenants/identity/service.py",
            "graphql/identity",
        ),
    ),
}
SHARED_GATES = (
    "graphql/relay.py",
    "graphql/auth.py",
    "graphql/listing.py",
    "graphql/cursors.py",
    "graphql/nodes.py",
    "graphql/audits/access.py",
    "compliance/sharing",
    "compliance/records",
)


def raised_reasons(*places: str) -> set[str]:
    """Reason codes in calls (``reason="X"``, or an upper-snake literal handed to a refusal
    helper) and in the defaults of ``reason`` parameters under ``places``."""
    found: set[str] = set()
    for place in places:
        path = ACCORD / place
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            for node in ast.walk(ast.parse(file.read_text())):
                if isinstance(node, ast.Call):
                    values = [
                        part
                        for k in node.keywords
                        if k.arg == "reason"
                        for part in ast.walk(k.value)  # also both arms of a conditional
                    ]
                    values += node.args
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    params = node.args.args[len(node.args.args) - len(node.args.defaults) :]
                    values = [
                        d
                        for p, d in zip(params, node.args.defaults, strict=True)
                        if p.arg == "reason"
                    ]
                else:
                    continue
                found |= {
                    v.value
                    for v in values
                    if isinstance(v, ast.Constant)
                    and isinstance(v.value, str)
                    and REASON.match(v.value)
                }
    return found


def test_the_shared_gates_reasons_are_common() -> None:
    assert raised_reasons(*SHARED_GATES) <= COMMON


@pytest.mark.parametrize("enum_name", sorted(DOMAINS))
def test_every_raised_reason_is_a_described_enum_value(enum_name: str) -> None:
    listed, places = DOMAINS[enum_name]
    missing = raised_reasons(*places) - listed - COMMON
    assert not missing, f"add to accord/graphql/reasons.py: {sorted(missing)}"
    enum = schema._schema.get_type(enum_name)
    assert isinstance(enum, GraphQLEnumType)
    assert set(enum.values) == listed | COMMON | {OTHER_REASON}
    assert all(value.description for value in enum.values.values())
    assert set(DESCRIPTIONS) >= listed | COMMON
