"""The action gate's vocabulary: record types, actions, RACI letters, subject names.

Casbin sees plain strings. Users are ``user:<tenant>/<subject>``, roles are
``role:<tenant>/<role>``; the tenant inside a name is where the identity comes from, the
Casbin *domain* is always the tenant that owns the record being decided on.
"""

from __future__ import annotations

import re
from enum import StrEnum

from accord.tenants.service import MEMBER_ROLES

RECORD_TYPES: tuple[str, ...] = (
    "finding",
    "capa",
    "capa_action",
    "audit",
    "evidence",
    "management_review",
    "kpi",
    "risk",
    "incident",
    # the organisation itself: its identity providers, members, service accounts
    "tenant",
)
ACTIONS: tuple[str, ...] = (
    "read",
    "comment",
    "respond",
    "propose_capa",
    "complete_action",
    "verify",
    "close",
    "approve",
    "sign",
    "notify",
    "sync",
    "administer",
)
TENANT_ROLES: tuple[str, ...] = MEMBER_ROLES

#: Casbin request value for "this record belongs to no shared process".
NO_PROCESS = "-"
#: Policy value for "any process" (baseline rules) and "any subject" (governance denials).
ANY = "*"

_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class Letter(StrEnum):
    RESPONSIBLE = "R"
    ACCOUNTABLE = "A"
    CONSULTED = "C"
    INFORMED = "I"


#: The work a Responsible party does and the decisions an Accountable party takes; an
#: activity names which of these it covers. Read and comment come with the letter itself.
RESPONSIBLE_WORK = frozenset({"respond", "propose_capa", "complete_action"})
ACCOUNTABLE_WORK = frozenset({"approve", "verify", "close", "sign"})
GOVERNED_ACTIONS = RESPONSIBLE_WORK | ACCOUNTABLE_WORK
#: Actions an activity may list: the governed ones plus read/comment (implicit anyway).
ACTIVITY_ACTIONS = GOVERNED_ACTIONS | {"read", "comment"}

#: Letter hierarchy (Casbin ``g`` links): R and A include C, C includes I.
LETTER_PARENTS: dict[Letter, tuple[Letter, ...]] = {
    Letter.RESPONSIBLE: (Letter.CONSULTED,),
    Letter.ACCOUNTABLE: (Letter.CONSULTED,),
    Letter.CONSULTED: (Letter.INFORMED,),
    Letter.INFORMED: (),
}
LETTER_NAMES = {
    Letter.RESPONSIBLE: "Responsible",
    Letter.ACCOUNTABLE: "Accountable",
    Letter.CONSULTED: "Consulted",
    Letter.INFORMED: "Informed",
}


def letter_grants(letter: Letter, covered: frozenset[str]) -> frozenset[str]:
    """What a party holding ``letter`` on an activity covering ``covered`` may do."""
    if letter is Letter.INFORMED:
        return frozenset({"read"})
    base = frozenset({"read", "comment"})
    if letter is Letter.RESPONSIBLE:
        return base | (covered & RESPONSIBLE_WORK)
    if letter is Letter.ACCOUNTABLE:
        return base | (covered & ACCOUNTABLE_WORK)
    return base


def is_slug(value: str) -> bool:
    return bool(_SLUG_RE.match(value))


def slugify(value: str) -> str:
    """``"Supplier quality 2027"`` → ``"supplier-quality-2027"``."""
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:63]


def user_subject(tenant: str, subject: str) -> str:
    return f"user:{tenant}/{subject}"


def role_subject(tenant: str, role: str) -> str:
    return f"role:{tenant}/{role}"


def raci_role(owner: str, process: str, activity: str, letter: Letter) -> str:
    return role_subject(owner, f"raci:{process}:{activity}:{letter.value}")
