"""The Casbin model a deployment mounts (ACCORD_POLICY_MODEL): used when compatible,
refused with a code when it changes what Accord compiles rules for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.platform.errors import AccordError
from accord.policies import formats
from accord.policies.compile import compile_matrix
from accord.policies.enforcer import MODEL_TEXT, model_text
from accord.policies.engine import PolicyEngine
from accord.policies.schemas import Principal, Resource

MATRIX = """
name: Small
owners: [acme]
parties: [role:acme/quality_manager, role:zenith/quality_manager]
activities: [{name: Close, record_type: finding, actions: [close]}]
raci: {Close: {role:zenith/quality_manager: A, role:acme/quality_manager: C}}
"""
ZOE = Principal.of("zenith", "zoe", "quality_manager")
FINDING = Resource("acme", "finding", "small")


@pytest.fixture
def deployed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A model file named by ACCORD_POLICY_MODEL, read afresh by this test."""
    path = tmp_path / "model.conf"
    monkeypatch.setenv("ACCORD_POLICY_MODEL", str(path))
    model_text.cache_clear()
    yield path
    monkeypatch.delenv("ACCORD_POLICY_MODEL")
    model_text.cache_clear()


def _may_close() -> bool:
    matrix, problems = formats.parse_yaml(MATRIX)
    assert problems == []
    engine = PolicyEngine()
    engine.load("acme", compile_matrix(matrix), version=1)
    return engine.authorize(ZOE, "close", FINDING).allowed


def test_the_packaged_model_as_deployed_decides_as_before(deployed: Path) -> None:
    deployed.write_text(MODEL_TEXT)
    assert model_text() == MODEL_TEXT
    assert _may_close()


def test_a_narrowed_matcher_is_the_one_enforced(deployed: Path) -> None:
    # An operator reserving "close" to nobody: the mounted file, not the packaged one, decides.
    matcher = next(line for line in MODEL_TEXT.splitlines() if line.startswith("m = "))
    deployed.write_text(MODEL_TEXT.replace(matcher, f'{matcher} && r.act != "close"'))
    assert not _may_close()


def test_a_model_that_changes_the_rule_shape_is_refused(deployed: Path) -> None:
    deployed.write_text(
        MODEL_TEXT.replace("p = sub, dom, obj, proc, act, eft", "p = sub, obj, act")
    )
    with pytest.raises(AccordError) as refused:
        model_text()
    assert refused.value.reason == "POLICY_MODEL_INCOMPATIBLE"
    assert "[p]" in refused.value.message
    assert str(deployed) in refused.value.message


def test_an_unreadable_model_is_refused(deployed: Path) -> None:
    with pytest.raises(AccordError) as missing:
        model_text()
    assert missing.value.reason == "POLICY_MODEL_INVALID"
    model_text.cache_clear()
    deployed.write_text("[request_definition]\nr = sub, obj\n[matchers]\n")
    with pytest.raises(AccordError) as partial:
        model_text()
    assert partial.value.reason == "POLICY_MODEL_INCOMPATIBLE"
    assert "[r]" in partial.value.message
