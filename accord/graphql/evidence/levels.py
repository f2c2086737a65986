"""At which level a caller's organisation sees another organisation's evidence."""

from __future__ import annotations

from accord.graphql.context import Context
from accord.tenants.agreements.models import SharingLevel
from accord.tenants.agreements.service import Grant, grants_for


async def evidence_grant(context: Context, own: str, owner: str) -> Grant | None:
    """``owner``'s active grant of evidence to ``own`` (read fresh: revocation holds from
    the next request); None for one's own evidence or without a grant."""
    if own == owner:
        return None
    async with context.runtime.control_session() as session:
        grants = await grants_for(session=session, grantee=own, record_type="evidence")
    return next((g for g in grants if g.grantor == owner), None)


async def evidence_level(context: Context, own: str, owner: str) -> SharingLevel:
    """``full`` for one's own evidence; else the level of ``owner``'s evidence grant, and
    ``summary`` (metadata, never the file) without one."""
    if own == owner:
        return SharingLevel.FULL
    grant = await evidence_grant(context, own, owner)
    if grant is None or grant.level is SharingLevel.AGGREGATE:
        return SharingLevel.SUMMARY
    return grant.level
