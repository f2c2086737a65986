"""Management review mutations, one per file; each returns a payload with
``errors: [ManagementReviewError!]!``."""

from __future__ import annotations

import strawberry

from accord.graphql.reviews.mutations.assign import (
    AssignReviewSignatoriesPayload,
    assign_review_signatories,
)
from accord.graphql.reviews.mutations.compile import (
    CompileReviewInputsPayload,
    compile_review_inputs,
)
from accord.graphql.reviews.mutations.create import (
    CreateManagementReviewPayload,
    create_management_review,
)
from accord.graphql.reviews.mutations.edit import (
    EditManagementReviewPayload,
    edit_management_review,
)
from accord.graphql.reviews.mutations.freeze import (
    FreezeManagementReviewPayload,
    freeze_management_review,
)
from accord.graphql.reviews.mutations.revise import (
    ReviseManagementReviewPayload,
    revise_management_review,
)
from accord.graphql.reviews.mutations.sign import (
    SignManagementReviewPayload,
    sign_management_review,
)


@strawberry.type
class ReviewMutations:
    create_management_review: CreateManagementReviewPayload = strawberry.mutation(
        resolver=create_management_review,
        description="Create a draft management review (its compiling party, Responsible).",
    )
    edit_management_review: EditManagementReviewPayload = strawberry.mutation(
        resolver=edit_management_review,
        description="Change a draft management review's content.",
    )
    compile_review_inputs: CompileReviewInputsPayload = strawberry.mutation(
        resolver=compile_review_inputs,
        description="Compile a draft's ISO 9.3.2 inputs from its owner's records.",
    )
    assign_review_signatories: AssignReviewSignatoriesPayload = strawberry.mutation(
        resolver=assign_review_signatories,
        description="Set a draft's required signatories from the review process's RACI.",
    )
    freeze_management_review: FreezeManagementReviewPayload = strawberry.mutation(
        resolver=freeze_management_review,
        description="Freeze a draft: its content is locked and digested for signing.",
    )
    revise_management_review: ReviseManagementReviewPayload = strawberry.mutation(
        resolver=revise_management_review,
        description="Make a new draft revision of a frozen review; its signatures lapse.",
    )
    sign_management_review: SignManagementReviewPayload = strawberry.mutation(
        resolver=sign_management_review,
        description="Sign a frozen management review as yourself, with your registered key.",
    )
