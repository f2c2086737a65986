"""``addMember``, ``changeMemberRoles``, ``removeMember``: a tenant admin's people."""

from __future__ import annotations

import strawberry

from accord.graphql.context import Context
from accord.graphql.errors import IdentityError
from accord.graphql.identity.access import require_admin
from accord.graphql.identity.types import MemberType
from accord.platform.errors import AccordError
from accord.tenants.identity import flows


@strawberry.input
class AddMemberInput:
    subject: str = strawberry.field(description="The `sub` of the person's tokens.")
    display_name: str
    roles: list[str] = strawberry.field(
        description="tenant_admin, admin, quality_manager, auditor, executive, viewer."
    )
    email: str | None = None


@strawberry.type
class MemberPayload:
    member: MemberType | None
    errors: list[IdentityError]


@strawberry.type
class RemoveMemberPayload:
    removed_subject: str | None
    errors: list[IdentityError]


async def add_member(info: strawberry.Info[Context, None], input: AddMemberInput) -> MemberPayload:
    try:
        admin = require_admin(info.context)
        member = await flows.add_member(
            info.context.runtime,
            tenant=admin.tenant,
            subject=input.subject,
            display_name=input.display_name,
            roles=input.roles,
            email=input.email,
            actor=admin.actor,
        )
    except AccordError as exc:
        return MemberPayload(member=None, errors=[IdentityError.of(exc)])
    return MemberPayload(member=MemberType.from_model(member), errors=[])


async def change_member_roles(
    info: strawberry.Info[Context, None], subject: str, roles: list[str]
) -> MemberPayload:
    try:
        admin = require_admin(info.context)
        member = await flows.change_member_roles(
            info.context.runtime,
            tenant=admin.tenant,
            subject=subject,
            roles=roles,
            actor=admin.actor,
        )
    except AccordError as exc:
        return MemberPayload(member=None, errors=[IdentityError.of(exc)])
    return MemberPayload(member=MemberType.from_model(member), errors=[])


async def remove_member(info: strawberry.Info[Context, None], subject: str) -> RemoveMemberPayload:
    try:
        admin = require_admin(info.context)
        await flows.remove_member(
            info.context.runtime, tenant=admin.tenant, subject=subject, actor=admin.actor
        )
    except AccordError as exc:
        return RemoveMemberPayload(removed_subject=None, errors=[IdentityError.of(exc)])
    return RemoveMemberPayload(removed_subject=subject, errors=[])
