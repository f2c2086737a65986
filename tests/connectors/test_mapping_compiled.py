"""The compiled mapping (one closure per rule) maps exactly as the rule interpreter does."""

from __future__ import annotations

import random
from typing import Any

import pytest

from accord.connectors.framework.mapping import RecordMapping, compile_mapping
from accord.connectors.framework.source import get_source
from tests.connectors.fake_sap import FakeSap

_ODD = [None, "", "  ", "x", "9", "1", " 2 ", "Q1", "/Date(123)/", "2024-01-01", "bad", 5, "a;b"]


def _interpreted(mapping: RecordMapping, payload: dict[str, Any]) -> Any:
    out: dict[str, Any] = {}
    reasons: list[dict[str, Any]] = []
    for rule in mapping.rules:
        mapping.map_rule(rule, payload, out, reasons)
    state = None
    if mapping.state_rule is not None:
        holder: dict[str, Any] = {}
        mapping.map_rule(mapping.state_rule, payload, holder, reasons)
        state = holder.get("state")
    return out, state, reasons


@pytest.mark.parametrize("seed", range(3))
def test_compiled_equals_interpreted(seed: int) -> None:
    source = get_source("sap")
    stream = source.streams(source.config_model())[0]
    override = {
        "fields": {
            "owner": {"from": "Plant", "type": "text", "default": "nobody"},
            "cause": {"from": "Material", "type": "list", "separator": ";"},
        }
    }
    mapping = compile_mapping(source.mapping_spec(stream), override)
    fake = FakeSap(count=300)
    rnd = random.Random(seed)
    failing = 0
    for i in range(300):
        payload = dict(fake.record(i))
        for key in list(payload):
            if rnd.random() < 0.25:
                payload[key] = rnd.choice(_ODD)
        if rnd.random() < 0.1:
            payload.pop(rnd.choice(list(payload)))
        expected = _interpreted(mapping, payload)
        assert mapping.apply(payload) == expected
        failing += bool(expected[2])
    assert 0 < failing < 300
