"""Compile a RACI matrix to Casbin policy lines, one set per owning domain.

For each activity and each owner tenant ``d`` it governs:

* four letter roles ``role:d/raci:<process>:<activity>:<R|A|C|I>`` with ``g`` links
  R → C, A → C, C → I (so a Responsible party also comments and reads);
* ``p`` grants: I reads, C comments, R does the covered work, A takes the covered
  decisions — on the activity's record type, narrowed to the process;
* ``p`` denials ``*`` for each covered work/decision action: in this process that action is
  reserved to the R/A parties, whatever baseline rights the owner's members have;
* ``g`` links from each party (``role:b/x`` or ``user:b/s``, any tenant ``b``) to the letter
  role in domain ``d`` — the cross-entity part.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from accord.policies.raci import Matrix, Problem, find_cycles
from accord.policies.vocab import (
    ACCOUNTABLE_WORK,
    ANY,
    GOVERNED_ACTIONS,
    LETTER_PARENTS,
    RESPONSIBLE_WORK,
    Letter,
    raci_role,
)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    ptype: str  # "p" or "g"
    values: tuple[str, ...]
    domain: str
    matrix: str
    activity: str = ""
    party: str = ""
    letter: str = ""

    def line(self) -> str:
        return ", ".join((self.ptype, *self.values))


def _letter_actions(letter: Letter, covered: frozenset[str]) -> list[str]:
    """The actions a letter role is granted itself (the rest it inherits)."""
    if letter is Letter.INFORMED:
        return ["read"]
    if letter is Letter.CONSULTED:
        return ["comment"]
    work = RESPONSIBLE_WORK if letter is Letter.RESPONSIBLE else ACCOUNTABLE_WORK
    return sorted(covered & work)


def compile_matrix(matrix: Matrix) -> list[CompiledRule]:
    """All lines of ``matrix``: grants, then denials, then links (the order they load in)."""
    grants: list[CompiledRule] = []
    denials: list[CompiledRule] = []
    links: list[CompiledRule] = []
    for activity in matrix.activities:
        covered = frozenset(activity.actions)
        obj, proc, key = activity.record_type, matrix.process, activity.key
        for owner in matrix.activity_owners(activity):
            roles = {letter: raci_role(owner, proc, key, letter) for letter in Letter}
            where = {"domain": owner, "matrix": matrix.name, "activity": activity.name}
            for letter in Letter:
                for action in _letter_actions(letter, covered):
                    grant = (roles[letter], owner, obj, proc, action, "allow")
                    grants.append(CompiledRule("p", grant, **where, letter=letter.value))
                for parent in LETTER_PARENTS[letter]:
                    link = (roles[letter], roles[parent], owner)
                    links.append(CompiledRule("g", link, **where, letter=letter.value))
            for action in sorted(covered & GOVERNED_ACTIONS):
                denial = (ANY, owner, obj, proc, action, "deny")
                denials.append(CompiledRule("p", denial, **where))
            for party, letter in matrix.assignments(activity):
                held = (party.key, roles[letter], owner)
                links.append(CompiledRule("g", held, **where, party=party.key, letter=letter.value))
    return grants + denials + links


def cycle_problems(rules: Iterable[CompiledRule]) -> list[Problem]:
    """Role-inheritance cycles among the compiled ``g`` links (per domain)."""
    graphs: dict[str, dict[str, list[str]]] = {}
    for r in rules:
        if r.ptype == "g":
            graphs.setdefault(r.domain, {}).setdefault(r.values[0], []).append(r.values[1])
    return [
        Problem("ROLE_CYCLE", " → ".join(cycle), f"domain {domain}")
        for domain, graph in sorted(graphs.items())
        for cycle in find_cycles(graph)
    ]


def domains_of(rules: Iterable[CompiledRule]) -> set[str]:
    return {r.domain for r in rules}
