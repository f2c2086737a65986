"""What the overview and the heat-map share: who I am, my processes, and the network's
dashboard merged across the shared processes I take part in.

Reads of a partner's records are made in a shared process (its RACI gives the action
gate), so the dashboard is asked once for my own organisation and once per process; each
partner's tile shows the first answer that includes it and names the processes it came
through.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from accord.tenants.identity.principal import Principal
from accord.web.core import web_of
from accord.web.gateway import Result
from accord.web.operations import NETWORK_DASHBOARD, WHO_AM_I

LEVEL_WORDS = {
    "OWN": "your organisation: everything",
    "FULL": "full: the records, every field",
    "SUMMARY": "summary: records without free text, evidence or personal data",
    "AGGREGATE": "aggregate: rounded counts only",
}


@dataclass
class Network:
    me: dict[str, Any]
    matrices: list[dict[str, Any]]
    agreements: list[dict[str, Any]]
    #: tenant -> its dashboard counts
    boards: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: tenant -> the processes its counts were read through ("" = my own organisation)
    seen_in: dict[str, list[str]] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)

    @property
    def tenant(self) -> str:
        return str(self.me["tenant"])

    def level_of(self, tenant: str, record_type: str = "finding") -> str:
        if tenant == self.tenant:
            return "OWN"
        if self.boards.get(tenant, {}).get("roundedTo") is not None:
            return "AGGREGATE"
        for agreement in self.agreements:
            if (
                agreement["grantor"] == tenant
                and agreement["grantee"] == self.tenant
                and record_type in agreement["recordTypes"]
            ):
                return str(agreement["level"])
        return "NONE"

    def process_for(self, tenant: str) -> str | None:
        """A process to read ``tenant``'s records in (None: my own organisation)."""
        processes = [p for p in self.seen_in.get(tenant, []) if p]
        return None if tenant == self.tenant or not processes else processes[0]


async def load_network(request: Request, principal: Principal) -> Network:
    gateway = web_of(request).gateway
    who = await gateway.run(request, principal, WHO_AM_I)
    network = Network(
        me=who.data.get("me") or {"tenant": principal.tenant, "subject": principal.subject},
        matrices=who.data.get("raciMatrices") or [],
        agreements=who.data.get("agreements") or [],
        results=[who],
    )
    processes: list[str | None] = [None, *(m["process"] for m in network.matrices)]
    results = await asyncio.gather(
        *(gateway.run(request, principal, NETWORK_DASHBOARD, {"process": p}) for p in processes)
    )
    for process, result in zip(processes, results, strict=True):
        network.results.append(result)
        board = result.data.get("networkDashboard") or {}
        for counts in board.get("tenants") or []:
            tenant = counts["tenant"]
            network.boards.setdefault(tenant, counts)
            network.seen_in.setdefault(tenant, []).append(process or "")
    return network


def _is_me(network: Network, party: dict[str, Any]) -> bool:
    me = network.me
    if party["tenant"] != me["tenant"]:
        return False
    return party.get("subject") == me["subject"] or party.get("role") in (me.get("roles") or [])


def my_letters(network: Network) -> list[tuple[dict[str, Any], dict[str, Any], list[str]]]:
    """(matrix, activity, letters) for every activity of a process where I hold a letter."""
    found = []
    for matrix in network.matrices:
        mine = {p["key"] for p in matrix["parties"] if _is_me(network, p)}
        activities = {a["name"]: a for a in matrix["activities"]}
        for cell in matrix["cells"]:
            if cell["party"] in mine and cell["activity"] in activities:
                found.append((matrix, activities[cell["activity"]], list(cell["letters"])))
    return found


def process_for_record_type(network: Network, record_type: str) -> str | None:
    """The first shared process in which I hold a letter on records of ``record_type``."""
    return next(
        (m["process"] for m, a, _ in my_letters(network) if a["recordType"] == record_type),
        None,
    )
