"""Explanations: which matrix, activity and party (or baseline rule) decided, or why not.

Casbin returns the policy line that decided; the metadata stored with compiled lines
(matrix, activity, party, letter) turns that line into a sentence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from accord.policies.baseline import BASELINE_PARENTS, role_closure
from accord.policies.compile import CompiledRule
from accord.policies.raci import Party
from accord.policies.schemas import Principal, Resource
from accord.policies.vocab import ANY, LETTER_NAMES, LETTER_PARENTS, Letter

SUB = 0


@dataclass(frozen=True, slots=True)
class LetterRole:
    """A compiled letter role and the parties that hold it (directly or through R/A → C → I)."""

    matrix: str
    activity: str
    letter: Letter
    parties: tuple[tuple[str, Letter], ...]


@dataclass(frozen=True, slots=True)
class Governance:
    matrix: str
    activity: str


def _implied(letter: Letter) -> set[Letter]:
    out, stack = set(), [letter]
    while stack:
        current = stack.pop()
        out.add(current)
        stack.extend(LETTER_PARENTS[current])
    return out


class RuleIndex:
    """Metadata of a partition's compiled lines, turned into ``LetterRole``s on demand."""

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        self._meta: dict[str, tuple[str, str, Letter]] = {}
        self._holders: dict[str, list[tuple[str, Letter]]] = {}
        self._roles: dict[str, LetterRole | None] = {}
        #: governance denials by (record type, process, action)
        self.governed: dict[tuple[str, str, str], list[Governance]] = {}
        for r in rules:
            if r.letter and not r.party:
                self._meta[r.values[0]] = (r.matrix, r.activity, Letter(r.letter))
            elif r.ptype == "g" and r.party:
                self._holders.setdefault(r.values[1], []).append((r.party, Letter(r.letter)))
            elif r.ptype == "p" and r.values[5] == "deny":
                key = (r.values[2], r.values[3], r.values[4])
                self.governed.setdefault(key, []).append(Governance(r.matrix, r.activity))

    def letter_role(self, name: str) -> LetterRole | None:
        """The letter role ``name`` (None for baseline roles) with every party holding it."""
        if name not in self._roles:
            found = self._meta.get(name)
            if found is None:
                self._roles[name] = None
            else:
                matrix, activity, letter = found
                prefix = name.rsplit(":", 1)[0]
                parties = [
                    (party, held)
                    for held in Letter
                    if letter in _implied(held)
                    for party, _ in self._holders.get(f"{prefix}:{held.value}", [])
                ]
                self._roles[name] = LetterRole(matrix, activity, letter, tuple(parties))
        return self._roles[name]


def holds(principal: Principal, party_key: str) -> bool:
    party = Party.parse(party_key)
    if party is None or party.tenant != principal.tenant:
        return False
    if party.role is not None:
        return party.role in role_closure(principal.roles)
    return party.subject == principal.subject


def _via(principal: Principal, role: str) -> str:
    for own in sorted(principal.roles):
        if own == role:
            return own
        if own in BASELINE_PARENTS and role in role_closure([own]):
            return f"{own} (which includes {role})"
    return role


def allowed_by(
    principal: Principal, action: str, resource: Resource, rule: list[str], role: LetterRole | None
) -> str:
    what = f"{action} {resource.describe()}"
    if role is not None:
        party = next((p for p, _ in role.parties if holds(principal, p)), None)
        held = next((h for p, h in role.parties if p == party), role.letter)
        who = f"{party} is {LETTER_NAMES[held]}" if party else f"holds {rule[SUB]}"
        return (
            f"allowed: RACI matrix '{role.matrix}', activity '{role.activity}': {who}, "
            f"so {principal.name} may {what}."
        )
    base = rule[SUB].split("/", 1)[-1]
    return (
        f"allowed: baseline rule of {resource.owner}: its {_via(principal, base)} "
        f"may {action} {'every record type' if rule[2] == ANY else rule[2]}, "
        f"so {principal.name} may {what}."
    )


def denied_by(
    principal: Principal,
    action: str,
    resource: Resource,
    rule: list[str],
    governance: list[Governance],
    granted_to: list[str],
) -> str:
    what = f"{action} {resource.describe()}"
    if rule and governance:
        g = governance[0]
        only = ", ".join(granted_to) or "nobody (the matrix assigns no such party)"
        return (
            f"denied: '{action}' on {resource.describe()} is governed by RACI matrix "
            f"'{g.matrix}', activity '{g.activity}'; only {only} may do it, and "
            f"{principal.name} holds none of those parties."
        )
    roles = ", ".join(sorted(principal.roles)) or "none"
    if principal.tenant != resource.owner:
        return (
            f"denied: {principal.name} (roles: {roles}) is not a party that may {action} "
            f"in any RACI matrix governing {resource.describe()}, and baseline rights "
            f"hold only in one's own tenant."
        )
    return (
        f"denied: no rule lets {principal.name} (roles: {roles}) {what}; "
        f"neither their roles' baseline rights nor a RACI matrix grant it."
    )
