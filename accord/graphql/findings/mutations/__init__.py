"""Finding mutations, one per file (transfers in ``accord.graphql.transfers``); each
returns a payload with ``errors: [FindingError!]!``."""

from __future__ import annotations

import strawberry

from accord.graphql.findings.mutations.raise_finding import RaiseFindingPayload, raise_finding
from accord.graphql.findings.mutations.respond import (
    RespondToFindingPayload,
    respond_to_finding,
)
from accord.graphql.findings.mutations.transition import (
    TransitionFindingPayload,
    transition_finding,
)
from accord.graphql.transfers import (
    FindingTransferPayload,
    accept_finding_transfer,
    decline_finding_transfer,
    propose_finding_transfer,
)


@strawberry.type
class FindingMutations:
    raise_finding: RaiseFindingPayload = strawberry.mutation(
        resolver=raise_finding, description="Raise a finding against clauses of the catalog."
    )
    respond_to_finding: RespondToFindingPayload = strawberry.mutation(
        resolver=respond_to_finding, description="Respond to an open or reopened finding."
    )
    transition_finding: TransitionFindingPayload = strawberry.mutation(
        resolver=transition_finding, description="Move a finding to another state."
    )
    propose_finding_transfer: FindingTransferPayload = strawberry.mutation(
        resolver=propose_finding_transfer,
        description="Propose moving a finding from its owner to another organisation.",
    )
    accept_finding_transfer: FindingTransferPayload = strawberry.mutation(
        resolver=accept_finding_transfer,
        description="Accept a proposed finding transfer (the other party); the finding moves.",
    )
    decline_finding_transfer: FindingTransferPayload = strawberry.mutation(
        resolver=decline_finding_transfer,
        description="Decline a proposed finding transfer, or withdraw your own proposal.",
    )
