"""The evidence mutations, merged into ``Mutation`` by ``accord.graphql.schema``."""

from __future__ import annotations

import strawberry

from accord.graphql.evidence.upload import UploadEvidencePayload, upload_evidence


@strawberry.type
class EvidenceMutations:
    upload_evidence: UploadEvidencePayload = strawberry.mutation(
        resolver=upload_evidence,
        description="Upload a file as evidence on a finding, a CAPA, a CAPA action or an "
        "effectiveness check (a GraphQL multipart request); it is kept in the owner's store.",
    )
