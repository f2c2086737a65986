"""The participating partners' part of a network management review's inputs.

Each partner contributes what the compiling organisation may see of it under that
partner's own agreements and the review's RACI process — counts from the maintained
tallies (open findings by grade and state, overdue CAPA actions; rounded as on the
dashboard for an aggregate partner, ``rounded_to``), never records: nothing
of a partner is copied into the owner's schema but numbers the partner agreed to share,
and the partner's access log records the read. A partner that cannot be read is listed
as unavailable rather than silently left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from accord.compliance.sharing.dashboard import network_dashboard
from accord.platform.runtime import Runtime
from accord.policies.engine import Authorizer
from accord.policies.schemas import Actor


async def partner_inputs(
    runtime: Runtime,
    *,
    authorizer: Authorizer,
    principal: Actor,
    partners: Sequence[str],
    today: date,
    process: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    board = await network_dashboard(
        runtime,
        authorizer=authorizer,
        principal=principal,
        today=today,
        process=process,
        request_id=request_id,
    )
    wanted = sorted(set(partners))
    contributed: dict[str, Any] = {}
    for tenant in wanted:
        counts = board.of(tenant)
        if counts is None:
            continue
        contributed[tenant] = {
            "open_findings_by_grade": counts.by_grade,
            "open_findings_by_state": counts.by_state,
            "overdue_capa_actions": counts.overdue_actions or 0,
            "rounded_to": counts.rounded_to,
        }
    unreadable = sorted({e.tenant for e in board.errors} & set(wanted))
    return {
        "as_of": today.isoformat(),
        "process": process,
        "partners": contributed,
        "not_shared": sorted(set(wanted) - set(contributed) - set(unreadable)),
        "unavailable": unreadable,
    }
