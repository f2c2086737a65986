"""RACI matrices for tests, written as the YAML that ``accord raci import`` reads.

``matrix`` lays out any matrix from its activities and cells; ``follow_findings`` is the
one most read tests need: an owner Accountable for its findings, readers Informed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class Activity:
    name: str
    record_type: str
    actions: Sequence[str]
    #: the owners the activity is limited to (all the matrix's owners when None)
    owners: Sequence[str] | None = None


def matrix(
    *,
    name: str,
    process: str,
    owners: Sequence[str],
    activities: Sequence[Activity],
    raci: Mapping[str, Mapping[str, str]],
    parties: Sequence[str] | None = None,
) -> str:
    """The matrix as YAML; its parties are those of the cells, in order, unless given."""
    document: dict[str, Any] = {
        "name": name,
        "process": process,
        "owners": list(owners),
        "parties": list(parties)
        if parties is not None
        else list(dict.fromkeys(party for cells in raci.values() for party in cells)),
        "activities": [
            {
                "name": a.name,
                "record_type": a.record_type,
                "actions": list(a.actions),
                **({"owners": list(a.owners)} if a.owners is not None else {}),
            }
            for a in activities
        ],
        "raci": {activity: dict(cells) for activity, cells in raci.items()},
    }
    return yaml.safe_dump(document, sort_keys=False)


def follow_findings(
    *,
    name: str,
    process: str,
    owners: Sequence[str],
    accountable: str,
    informed: Sequence[str],
    parties: Sequence[str] | None = None,
) -> str:
    """``accountable``'s quality managers Accountable for the findings of ``owners``, the
    quality managers of ``informed`` Informed (so they may read them)."""
    cells = {f"role:{accountable}/quality_manager": "A"}
    cells.update({f"role:{tenant}/quality_manager": "I" for tenant in informed})
    return matrix(
        name=name,
        process=process,
        owners=owners,
        activities=[Activity("Follow findings", "finding", ["close"])],
        raci={"Follow findings": cells},
        parties=parties,
    )


def joint_audit(
    *, name: str, process: str, lead: str, audited: str, observer: str, carry_out_capa: bool
) -> str:
    """A joint audit led by ``lead`` at ``audited``: the lead plans, the audited tenant
    responds and plans CAPA (and carries it out, with ``carry_out_capa``), the lead's
    auditors verify and close; ``observer``'s viewers are Informed."""
    lead_qm, auditor = f"role:{lead}/quality_manager", f"role:{lead}/auditor"
    audited_qm, viewer = f"role:{audited}/quality_manager", f"role:{observer}/viewer"
    activities = [
        Activity("Plan the audit", "audit", ["approve"]),
        Activity(
            "Respond and plan CAPA", "finding", ["respond", "propose_capa", "complete_action"]
        ),
    ]
    cells: dict[str, dict[str, str]] = {
        "Plan the audit": {lead_qm: "A", audited_qm: "C", viewer: "I"},
        "Respond and plan CAPA": {audited_qm: "R", lead_qm: "A", viewer: "I"},
    }
    if carry_out_capa:
        activities.append(
            Activity("Carry out CAPA", "capa", ["propose_capa", "complete_action", "approve"])
        )
        cells["Carry out CAPA"] = {audited_qm: "R", lead_qm: "A", viewer: "I"}
    activities.append(Activity("Verify and close", "finding", ["verify", "close"]))
    cells["Verify and close"] = {auditor: "A", audited_qm: "C", viewer: "I"}
    return matrix(
        name=name,
        process=process,
        owners=[audited],
        activities=activities,
        raci=cells,
        parties=[lead_qm, auditor, audited_qm, viewer],
    )
