"""The decision point in memory: memo granularity and invalidation, changing roles, callers."""

from __future__ import annotations

from accord.policies import formats
from accord.policies.compile import compile_matrix
from accord.policies.engine import PolicyEngine
from accord.policies.schemas import Principal, Resource
from accord.tenants.identity.principal import Principal as TokenPrincipal
from accord.tenants.identity.principal import PrincipalKind

MATRIX = """
name: Small
owners: [acme]
parties: [role:acme/quality_manager, role:zenith/quality_manager]
activities: [{name: Close, record_type: finding, actions: [close]}]
raci: {Close: {role:zenith/quality_manager: A, role:acme/quality_manager: C}}
"""


def _engine() -> PolicyEngine:
    matrix, problems = formats.parse_yaml(MATRIX)
    assert problems == []
    engine = PolicyEngine()
    engine.load("acme", compile_matrix(matrix), version=1)
    return engine


def test_decisions_are_memoised_per_policy_granularity_and_dropped_on_reload() -> None:
    engine = _engine()
    zoe = Principal.of("zenith", "zoe", "quality_manager")
    finding = Resource("acme", "finding", "small")
    first = engine.authorize(zoe, "close", finding)
    assert first.allowed
    # Any finding of acme in that process: the same memo entry, whatever the record.
    assert engine.authorize(zoe, "close", Resource("acme", "finding", "small")) is first
    request = engine.for_request()
    assert request.authorize(zoe, "close", finding) is first
    version = engine.version
    engine.load("acme", [], version=2)  # the matrix is gone
    assert engine.version == version + 1
    again = request.authorize(zoe, "close", finding)
    assert not again.allowed and again is not first


def test_a_principal_whose_roles_change_is_decided_on_its_new_roles() -> None:
    engine = _engine()
    finding = Resource("acme", "finding")
    assert not engine.authorize(Principal.of("acme", "al", "viewer"), "close", finding).allowed
    assert engine.authorize(Principal.of("acme", "al", "quality_manager"), "close", finding).allowed
    assert not engine.authorize(Principal.of("acme", "al", "viewer"), "close", finding).allowed
    assert not engine.authorize(Principal.of("acme", "al"), "read", finding).allowed


def test_roles_never_cross_tenants() -> None:
    engine = _engine()
    # A zenith quality manager is not acme's quality manager, in acme's own records.
    decision = engine.authorize(Principal.of("zenith", "zoe", "quality_manager"), "close",
                                Resource("acme", "finding"))  # fmt: skip
    assert not decision.allowed and "own tenant" in decision.explain


def test_token_principals_and_operators() -> None:
    engine = _engine()
    token = TokenPrincipal(
        tenant="zenith",
        subject="zoe",
        kind=PrincipalKind.USER,
        issuer="https://id.zenith.example",
        roles=frozenset({"quality_manager"}),
    )
    assert engine.authorize(token, "close", Resource("acme", "finding", "small")).allowed
    operator = TokenPrincipal(
        tenant=None, subject="op", kind=PrincipalKind.OPERATOR, issuer="https://ops.example"
    )
    refused = engine.authorize(operator, "read", Resource("acme", "finding"))
    assert not refused.allowed and "operator" in refused.explain


def test_unknown_actions_and_record_types_are_refused_with_reasons() -> None:
    engine = _engine()
    al = Principal.of("acme", "al", "quality_manager")
    assert "not an action" in engine.authorize(al, "delete", Resource("acme", "finding")).explain
    assert not engine.authorize(al, "read", Resource("acme", "spaceship")).allowed
    assert engine.stats().domains == 1 and engine.stats().rules > 0
