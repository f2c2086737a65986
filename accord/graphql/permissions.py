"""What the viewer may do to a record: the RACI's answer (Casbin), from the same decision
the mutations enforce, so a client (or a page) offers only the actions that can pass the
action gate. The record's state and the services' rules (nobody approves their own plan,
…) may still refuse an allowed action; those refusals come back as payload errors."""

from __future__ import annotations

from enum import Enum

import strawberry

from accord.graphql.auth import require_tenant
from accord.graphql.context import Context
from accord.policies.schemas import Resource


@strawberry.enum(
    name="RecordAction",
    description="An action on a record, as RACI matrices and baseline rights grant it.",
)
class RecordActionEnum(Enum):
    READ = strawberry.enum_value("read", description="See the record.")
    COMMENT = strawberry.enum_value("comment", description="Comment on it.")
    RESPOND = strawberry.enum_value(
        "respond", description="Respond to a finding (respondToFinding)."
    )
    PROPOSE_CAPA = strawberry.enum_value(
        "propose_capa", description="Plan corrective action (createCapa)."
    )
    COMPLETE_ACTION = strawberry.enum_value(
        "complete_action", description="Report a CAPA action done (completeCapaAction)."
    )
    VERIFY = strawberry.enum_value(
        "verify", description="Verify a finding or a CAPA's effectiveness."
    )
    CLOSE = strawberry.enum_value("close", description="Close (or reopen) a finding.")
    APPROVE = strawberry.enum_value("approve", description="Approve a CAPA plan.")
    SIGN = strawberry.enum_value("sign", description="Sign a management review.")
    NOTIFY = strawberry.enum_value("notify", description="Notify partners of an incident.")
    SYNC = strawberry.enum_value("sync", description="Sync records from a connector.")
    ADMINISTER = strawberry.enum_value(
        "administer", description="Administer the organisation (members, keys, identity)."
    )


def allowed_actions(
    context: Context, *, owner: str, record_type: str, process: str | None
) -> list[RecordActionEnum]:
    """The actions the caller's RACI allows on ``owner``'s ``record_type`` under
    ``process``, by ``context.authorizer`` (the decision the mutations' gate asks)."""
    principal, _ = require_tenant(context)
    resource = Resource(owner, record_type, process)
    return [
        action
        for action in RecordActionEnum
        if context.authorizer.authorize(principal, str(action.value), resource).allowed
    ]
