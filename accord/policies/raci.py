"""RACI matrices of shared processes, and their validation.

A matrix names a shared process, the tenant(s) whose records it governs (owners), the
parties — a tenant's role (``role:globex/quality_manager``) or a named member
(``user:globex/alice``) — and activities, each about one record type and covering some
actions. Cells give each party's letter(s) per activity. Semantics (see ``vocab``):
Responsible does the covered work, Accountable takes the covered decisions (exactly one
per activity), Consulted reads and comments, Informed reads and is notified. A party
named by role includes the roles above it (a quality manager is also an auditor and a
viewer), as in the baseline hierarchy.

Validation never stops at the first problem: it returns all of them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from accord.platform.errors import BadInput
from accord.policies.vocab import (
    ACTIVITY_ACTIONS,
    RECORD_TYPES,
    TENANT_ROLES,
    Letter,
    is_slug,
    role_subject,
    slugify,
    user_subject,
)

_PARTY_RE = re.compile(r"^(?P<kind>role|user):(?P<tenant>[^/\s]+)/(?P<name>[^\s]+)$")
LETTER_ORDER = (Letter.RESPONSIBLE, Letter.ACCOUNTABLE, Letter.CONSULTED, Letter.INFORMED)


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    message: str
    where: str = ""

    def __str__(self) -> str:
        return f"{self.code}{f' ({self.where})' if self.where else ''}: {self.message}"


class RaciInvalid(BadInput):
    """A matrix with problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        lines = "; ".join(str(p) for p in problems)
        super().__init__(
            f"The RACI matrix has {len(problems)} problem(s): {lines}", reason="RACI_INVALID"
        )
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Party:
    tenant: str
    role: str | None = None
    subject: str | None = None

    @property
    def key(self) -> str:
        if self.role is not None:
            return role_subject(self.tenant, self.role)
        return user_subject(self.tenant, self.subject or "")

    @classmethod
    def parse(cls, key: str) -> Party | None:
        match = _PARTY_RE.match(key.strip())
        if match is None:
            return None
        if match["kind"] == "role":
            return cls(tenant=match["tenant"], role=match["name"])
        return cls(tenant=match["tenant"], subject=match["name"])


@dataclass(frozen=True, slots=True)
class Activity:
    name: str
    record_type: str
    actions: tuple[str, ...]
    owners: tuple[str, ...] = ()  # empty: every owner of the matrix

    @property
    def key(self) -> str:
        return slugify(self.name)


@dataclass(slots=True)
class Matrix:
    name: str
    process: str
    owners: tuple[str, ...]
    parties: tuple[Party, ...]
    activities: tuple[Activity, ...]
    #: activity name → party key → letters
    cells: dict[str, dict[str, frozenset[Letter]]] = field(default_factory=dict)
    description: str = ""

    def letters(self, activity: str, party: str) -> frozenset[Letter]:
        return self.cells.get(activity, {}).get(party, frozenset())

    def activity_owners(self, activity: Activity) -> tuple[str, ...]:
        return activity.owners or self.owners

    def assignments(self, activity: Activity) -> list[tuple[Party, Letter]]:
        """(party, letter) pairs of one activity, in party then R-A-C-I order."""
        row = self.cells.get(activity.name, {})
        return [
            (party, letter)
            for party in self.parties
            for letter in LETTER_ORDER
            if letter in row.get(party.key, frozenset())
        ]

    def tenants(self) -> set[str]:
        named = {p.tenant for p in self.parties} | set(self.owners)
        return named | {o for a in self.activities for o in a.owners}


def parse_letters(cell: str) -> frozenset[Letter] | None:
    """``"A"``, ``"A/R"``, ``"R, A"``, ``""`` → letters; None when a letter is unknown."""
    parts = [p for p in re.split(r"[\s/,;+]+", cell.strip().upper()) if p]
    if len(parts) == 1 and len(parts[0]) > 1 and set(parts[0]) <= {"R", "A", "C", "I"}:
        parts = list(parts[0])
    values = {letter.value for letter in Letter}
    if any(p not in values for p in parts):
        return None
    return frozenset(Letter(p) for p in parts)


def format_letters(letters: Iterable[Letter]) -> str:
    chosen = set(letters)
    return "/".join(letter.value for letter in LETTER_ORDER if letter in chosen)


def validate(
    matrix: Matrix,
    *,
    known_tenants: Iterable[str] | None,
    prior: Iterable[Problem] = (),
) -> list[Problem]:
    """Every problem of ``matrix`` (plus ``prior`` ones from parsing), in document order."""
    problems = list(prior)
    add = problems.append
    tenants = set(known_tenants) if known_tenants is not None else None

    def check_tenant(slug: str, where: str) -> None:
        if tenants is not None and slug not in tenants:
            add(Problem("UNKNOWN_TENANT", f"No tenant '{slug}'.", where))

    if not matrix.name.strip():
        add(Problem("MISSING_NAME", "A matrix needs a name.", "name"))
    if not is_slug(matrix.process):
        add(Problem("BAD_PROCESS", f"'{matrix.process}' is not a process slug.", "process"))
    if not matrix.owners:
        add(Problem("NO_OWNERS", "A matrix governs the records of at least one owner.", "owners"))
    for owner in matrix.owners:
        check_tenant(owner, "owners")
    for party, count in Counter(p.key for p in matrix.parties).items():
        if count > 1:
            add(Problem("DUPLICATE_PARTY", f"Party '{party}' is listed {count} times.", party))
    for member in dict.fromkeys(matrix.parties):
        check_tenant(member.tenant, member.key)
        if member.role is not None and member.role not in TENANT_ROLES:
            add(
                Problem(
                    "UNKNOWN_ROLE",
                    f"No tenant role '{member.role}' (roles: {', '.join(TENANT_ROLES)}).",
                    member.key,
                )
            )
    names = Counter(a.name for a in matrix.activities)
    for name, count in names.items():
        if count > 1:
            add(Problem("DUPLICATE_ACTIVITY", f"Activity '{name}' appears {count} times.", name))
    for activity in matrix.activities:
        problems.extend(_activity_problems(matrix, activity, tenants))
    party_keys = {p.key for p in matrix.parties}
    for activity_name, row in matrix.cells.items():
        if activity_name not in names:
            add(Problem("UNKNOWN_ACTIVITY", f"No activity '{activity_name}'.", activity_name))
        for party in row:
            if party not in party_keys:
                add(Problem("UNKNOWN_PARTY", f"'{party}' is not a party.", activity_name))
    return problems


def _activity_problems(
    matrix: Matrix, activity: Activity, tenants: set[str] | None
) -> list[Problem]:
    where = f"activity '{activity.name}'"
    found: list[Problem] = []
    if not activity.name.strip():
        found.append(Problem("MISSING_NAME", "An activity needs a name.", where))
    if activity.record_type not in RECORD_TYPES:
        found.append(
            Problem(
                "UNKNOWN_RECORD_TYPE",
                f"No record type '{activity.record_type}' (types: {', '.join(RECORD_TYPES)}).",
                where,
            )
        )
    for action in activity.actions:
        if action not in ACTIVITY_ACTIONS:
            found.append(
                Problem(
                    "UNKNOWN_ACTION",
                    f"'{action}' is not an action an activity can cover "
                    f"({', '.join(sorted(ACTIVITY_ACTIONS))}).",
                    where,
                )
            )
    for owner in activity.owners:
        if owner not in matrix.owners:
            found.append(
                Problem("UNKNOWN_OWNER", f"'{owner}' is not an owner of the matrix.", where)
            )
    accountable = [
        p.key for p, letter in matrix.assignments(activity) if letter is Letter.ACCOUNTABLE
    ]
    if not accountable:
        found.append(Problem("NO_ACCOUNTABLE", "Exactly one Accountable party is needed.", where))
    elif len(accountable) > 1:
        found.append(
            Problem(
                "MULTIPLE_ACCOUNTABLE",
                f"Exactly one Accountable party is allowed, found {len(accountable)}: "
                f"{', '.join(accountable)}.",
                where,
            )
        )
    return found


def find_cycles(links: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Cycles in a child → parents graph (role inheritance), each as a closed path."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for parent in links.get(node, ()):
            if state.get(parent) == 1:
                cycles.append([*path[path.index(parent) :], parent])
            elif parent not in state:
                visit(parent)
        path.pop()
        state[node] = 2

    for node in list(links):
        if node not in state:
            visit(node)
    return cycles
