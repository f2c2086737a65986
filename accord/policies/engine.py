"""The single decision point: ``authorize(principal, action, resource) -> Decision``.

Partitioning: one ``Partition`` per owning tenant (the Casbin domain), holding a small
Casbin enforcer with that tenant's baseline rules, the compiled RACI lines of matrices
governing its records, and its role links. A decision touches one partition and, inside
it, only the rules indexed under the request's (record type, process, action), so its cost
does not grow with the number of tenants or processes.

Caching: each partition memoises decisions by (principal tenant, subject, roles, action,
record type, process) — the granularity policies are written at, never a record id. A
reload builds a new partition and swaps it in, so old decisions go with the old
partition; ``version`` counts swaps, and ``RequestAuthorizer`` (one per request) keys its
own memo on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from accord.platform import telemetry
from accord.policies import explain
from accord.policies.baseline import baseline_rules, hierarchy_links
from accord.policies.compile import CompiledRule
from accord.policies.enforcer import PartitionEnforcer
from accord.policies.schemas import Actor, Decision, Principal, Resource
from accord.policies.vocab import (
    ACTIONS,
    ANY,
    RECORD_TYPES,
    TENANT_ROLES,
    role_subject,
    user_subject,
)

DecisionKey = tuple[str, str, frozenset[str], str, str, str | None]
_ACTIONS = frozenset(ACTIONS)
_RECORD_TYPES = frozenset(RECORD_TYPES)
MAX_CACHED_DECISIONS = 65_536


class Authorizer(Protocol):
    """The action gate: ``PolicyEngine`` or a request's ``RequestAuthorizer``."""

    def authorize(self, principal: Actor, action: str, resource: Resource) -> Decision: ...


class Partition:
    """One owning tenant's policies, enforcer and decision memo."""

    def __init__(self, domain: str, rules: Iterable[CompiledRule], *, version: int = 0) -> None:
        rules = [r for r in rules if r.domain == domain]
        self.domain = domain
        self.version = version
        self.rule_count = sum(1 for r in rules if r.ptype == "p") + len(baseline_rules(domain))
        self.enforcer = PartitionEnforcer(
            domain,
            [*(r.values for r in rules if r.ptype == "p"), *baseline_rules(domain)],
            [*(r.values for r in rules if r.ptype == "g"), *hierarchy_links(domain)],
        )
        self.index = explain.RuleIndex(rules)
        self.decisions: dict[DecisionKey, Decision] = {}
        self._members: dict[tuple[str, str], frozenset[str]] = {}
        self._tenants = {domain}

    def register(self, principal: Principal) -> None:
        """Make the principal's tenant roles Casbin links (domain "*") in this partition."""
        key = (principal.tenant, principal.subject)
        roles = frozenset(r for r in principal.roles if r in TENANT_ROLES)
        old = self._members.get(key)
        if old == roles:
            return
        if principal.tenant not in self._tenants:
            for child, parent, domain in hierarchy_links(principal.tenant):
                self.enforcer.link(child, parent, domain)
            self._tenants.add(principal.tenant)
        user = user_subject(principal.tenant, principal.subject)
        for role in (old or frozenset()) - roles:
            self.enforcer.unlink(user, role_subject(principal.tenant, role), ANY)
        for role in sorted(roles - (old or frozenset())):
            self.enforcer.link(user, role_subject(principal.tenant, role), ANY)
        self._members[key] = roles

    def decide(self, principal: Principal, action: str, resource: Resource) -> Decision:
        self.register(principal)
        sub = user_subject(principal.tenant, principal.subject)
        proc = resource.process_value
        allowed, rule = self.enforcer.decide(sub, self.domain, resource.record_type, proc, action)
        line = ", ".join(["p", *rule]) if rule else None
        if allowed:
            role = self.index.letter_role(rule[0])
            return Decision(True, line, explain.allowed_by(principal, action, resource, rule, role))
        governance = self.index.governed.get((resource.record_type, proc, action), [])
        granted_to = [
            party
            for r in self.enforcer.indexed.bucket(resource.record_type, proc, action)
            if r[5] == "allow" and (role := self.index.letter_role(r[0])) is not None
            for party, _ in role.parties
        ]
        text = explain.denied_by(principal, action, resource, rule, governance, granted_to)
        return Decision(False, line, text)

    def remember(self, key: DecisionKey, decision: Decision) -> None:
        if len(self.decisions) >= MAX_CACHED_DECISIONS:
            self.decisions.clear()
        self.decisions[key] = decision


@dataclass(frozen=True, slots=True)
class EngineStats:
    domains: int
    rules: int
    links: int
    version: int


class PolicyEngine:
    """Partitions by owning tenant; ``authorize`` is the one decision point."""

    def __init__(self) -> None:
        self._partitions: dict[str, Partition] = {}
        self.version = 0
        #: the database version each partition was loaded at (see ``service``)
        self.loaded_versions: dict[str, int] = {}

    def authorize(self, principal: Actor, action: str, resource: Resource) -> Decision:
        if principal.tenant is None:
            return Decision(
                False,
                None,
                f"denied: {principal.subject} belongs to no tenant (a platform operator); "
                f"operators act through break-glass grants, not RACI or baseline rights.",
            )
        key: DecisionKey = (
            principal.tenant,
            principal.subject,
            principal.roles,
            action,
            resource.record_type,
            resource.process,
        )
        partition = self._partitions.get(resource.owner)
        if partition is not None:
            cached = partition.decisions.get(key)
            if cached is not None:
                return cached
        if action not in _ACTIONS or resource.record_type not in _RECORD_TYPES:
            return Decision(
                False,
                None,
                f"denied: '{action}' on '{resource.record_type}' is not an action on a known "
                f"record type (actions: {', '.join(ACTIONS)}; types: {', '.join(RECORD_TYPES)}).",
            )
        if partition is None:
            partition = self._baseline_partition(resource.owner)
        asker = Principal(principal.tenant, principal.subject, frozenset(principal.roles))
        decision = partition.decide(asker, action, resource)
        partition.remember(key, decision)
        return decision

    def for_request(self) -> RequestAuthorizer:
        return RequestAuthorizer(self)

    def load(self, domain: str, rules: Iterable[CompiledRule], *, version: int = 0) -> None:
        """Replace ``domain``'s partition (its cached decisions go with the old one)."""
        self._partitions[domain] = Partition(domain, rules, version=version)
        self.loaded_versions[domain] = version
        self.version += 1

    def load_all(self, rules: Iterable[CompiledRule], versions: dict[str, int]) -> None:
        by_domain: dict[str, list[CompiledRule]] = {d: [] for d in versions}
        for rule in rules:
            by_domain.setdefault(rule.domain, []).append(rule)
        for domain, domain_rules in by_domain.items():
            self.load(domain, domain_rules, version=versions.get(domain, 0))

    def _baseline_partition(self, domain: str) -> Partition:
        partition = Partition(domain, (), version=0)
        self._partitions[domain] = partition
        return partition

    def partition(self, domain: str) -> Partition | None:
        return self._partitions.get(domain)

    def stats(self) -> EngineStats:
        parts = list(self._partitions.values())
        return EngineStats(
            domains=len(parts),
            rules=sum(p.rule_count for p in parts),
            links=sum(p.enforcer.link_count() for p in parts),
            version=self.version,
        )


#: A decision as telemetry records it: allowed, action, record type, owner.
Decided = tuple[bool, str, str, str]


class RequestAuthorizer:
    """One request's decisions, memoised while the engine's policy version holds.

    While telemetry is active, ``decided`` lists the request's decisions; the GraphQL
    operation's span records them as events when it ends (``graphql.tracing``).
    """

    def __init__(self, engine: PolicyEngine) -> None:
        self._engine = engine
        self._version = engine.version
        self._memo: dict[tuple[str | None, str, frozenset[str], str, Resource], Decision] = {}
        self.decided: list[Decided] | None = [] if telemetry.active() is not None else None

    def authorize(self, principal: Actor, action: str, resource: Resource) -> Decision:
        if self._version != self._engine.version:
            self._memo.clear()
            self._version = self._engine.version
        key = (principal.tenant, principal.subject, principal.roles, action, resource)
        decision = self._memo.get(key)
        if decision is None:
            decision = self._engine.authorize(principal, action, resource)
            self._memo[key] = decision
            if self.decided is not None:
                self.decided.append(
                    (decision.allowed, action, resource.record_type, resource.owner)
                )
        return decision
