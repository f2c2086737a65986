"""Random matrices: ``authorize`` agrees with a brute-force reading of the semantics.

The oracle below is written from the rules as documented, independently of the compiler:
R reads, comments and does the covered work; A reads, comments and takes the covered
decisions; C reads and comments; I reads. A covered work/decision action on records of
the activity's type in the process's owners is reserved to those parties. Otherwise a
tenant's own members have their baseline rights in their own tenant.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.policies import formats
from accord.policies.compile import compile_matrix
from accord.policies.engine import PolicyEngine
from accord.policies.raci import Activity, Matrix, Party, validate
from accord.policies.schemas import Principal, Resource
from accord.policies.vocab import ACTIONS, Letter

TENANTS = ("t1", "t2", "t3")
SUBJECTS = ("u1", "u2")
ROLES = ("tenant_admin", "admin", "quality_manager", "auditor", "executive", "viewer")
TYPES = ("finding", "capa", "management_review")
PROCESSES = ("p1", "p2")
COVERABLE = ("respond", "propose_capa", "complete_action", "approve", "verify", "close", "sign")

R_WORK = {"respond", "propose_capa", "complete_action"}
A_WORK = {"approve", "verify", "close", "sign"}
PARENTS = {
    "quality_manager": {"auditor"},
    "auditor": {"contributor"},
    "executive": {"contributor"},
    "admin": {"contributor"},
    "tenant_admin": {"viewer"},
    "contributor": {"viewer"},
    "viewer": set(),
}
EVERY = set(TYPES)
OWN = {
    "viewer": {"read": EVERY},
    "contributor": {"comment": EVERY},
    "auditor": {"verify": {"finding", "capa"}},
    "executive": {"approve": {"management_review", "capa"}, "sign": {"management_review"}},
    "admin": {"notify": EVERY, "sync": EVERY},
    "quality_manager": {
        a: EVERY for a in ACTIONS if a not in ("sign", "read", "comment", "administer")
    },
    # administers the tenant itself (record type "tenant"), none of these record types
    "tenant_admin": {},
}


def closure(roles: frozenset[str]) -> set[str]:
    out, todo = set(), list(roles)
    while todo:
        role = todo.pop()
        if role not in out:
            out.add(role)
            todo.extend(PARENTS[role])
    return out


def may(letter: Letter, covered: set[str]) -> set[str]:
    return {
        Letter.INFORMED: {"read"},
        Letter.CONSULTED: {"read", "comment"},
        Letter.RESPONSIBLE: {"read", "comment"} | (covered & R_WORK),
        Letter.ACCOUNTABLE: {"read", "comment"} | (covered & A_WORK),
    }[letter]


def oracle(matrices: list[Matrix], who: Principal, action: str, res: Resource) -> bool:
    mine = closure(who.roles)
    governed = False
    for m in matrices:
        if m.process != res.process:
            continue
        for a in m.activities:
            if a.record_type != res.record_type or res.owner not in (a.owners or m.owners):
                continue
            for party in m.parties:
                holds = party.tenant == who.tenant and (
                    party.role in mine if party.role else party.subject == who.subject
                )
                letters = m.letters(a.name, party.key)
                if holds and any(action in may(x, set(a.actions)) for x in letters):
                    return True
            governed = governed or action in set(a.actions) & (R_WORK | A_WORK)
    if governed or who.tenant != res.owner:
        return False
    return any(res.record_type in OWN[r].get(action, ()) for r in mine)


NOT_ACCOUNTABLE = [Letter.RESPONSIBLE, Letter.CONSULTED, Letter.INFORMED]
PARTIES = [Party(t, role=r) for t in TENANTS for r in ROLES] + [
    Party(t, subject=s) for t in TENANTS for s in SUBJECTS
]


@st.composite
def matrices(draw: st.DrawFn, process: str) -> Matrix:
    owners = tuple(draw(st.lists(st.sampled_from(TENANTS), min_size=1, max_size=2, unique=True)))
    parties = draw(st.lists(st.sampled_from(PARTIES), min_size=1, max_size=5, unique=True))
    activities, cells = [], {}
    for i in range(draw(st.integers(1, 3))):
        name = f"activity {i}"
        activities.append(
            Activity(
                name=name,
                record_type=draw(st.sampled_from(TYPES)),
                actions=tuple(draw(st.lists(st.sampled_from(COVERABLE), max_size=4, unique=True))),
                owners=tuple(draw(st.lists(st.sampled_from(owners), max_size=1))),
            )
        )
        accountable = draw(st.sampled_from(parties))
        row = {}
        for party in parties:
            extra = draw(st.sets(st.sampled_from(NOT_ACCOUNTABLE), max_size=2))
            letters = extra | ({Letter.ACCOUNTABLE} if party == accountable else set())
            if letters:
                row[party.key] = frozenset(letters)
        cells[name] = row
    return Matrix(
        name=f"matrix {process}",
        process=process,
        owners=owners,
        parties=tuple(parties),
        activities=tuple(activities),
        cells=cells,
    )


@dataclass(frozen=True)
class Case:
    matrices: list[Matrix]
    principals: list[Principal]
    resources: list[Resource]


principals = st.builds(
    Principal,
    tenant=st.sampled_from(TENANTS),
    subject=st.sampled_from((*SUBJECTS, "u3")),
    roles=st.frozensets(st.sampled_from(ROLES), max_size=2),
)
resources = st.builds(
    Resource,
    owner=st.sampled_from(TENANTS),
    record_type=st.sampled_from(TYPES),
    process=st.sampled_from((*PROCESSES, None)),
)
cases = st.builds(
    Case,
    matrices=st.lists(st.sampled_from(PROCESSES), max_size=2, unique=True).flatmap(
        lambda procs: st.tuples(*(matrices(p) for p in procs)).map(list)
    ),
    principals=st.lists(principals, min_size=1, max_size=4),
    resources=st.lists(resources, min_size=1, max_size=4),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases)
def test_authorize_agrees_with_the_matrix_semantics(case: Case) -> None:
    engine = PolicyEngine()
    rules = [r for m in case.matrices for r in compile_matrix(m)]
    engine.load_all(rules, {})
    for m in case.matrices:
        assert validate(m, known_tenants=TENANTS) == []
        assert formats.parse_csv(formats.dump_csv(m)) == (m, [])
        assert formats.parse_yaml(formats.dump_yaml(m)) == (m, [])
    for who in case.principals:
        for res in case.resources:
            for action in ACTIONS:
                decision = engine.authorize(who, action, res)
                expected = oracle(case.matrices, who, action, res)
                assert decision.allowed == expected, (who, action, res, decision)
                assert decision.explain.startswith("allowed" if expected else "denied")
                if expected:
                    assert decision.rule is not None and decision.rule.endswith("allow")
