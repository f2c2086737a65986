"""The gateway's enums mirror the domain's, value for value."""

from __future__ import annotations

from enum import Enum

import pytest

from accord.compliance.findings.models import FindingGrade, Severity, VerificationResult
from accord.compliance.findings.states import FindingState
from accord.graphql.errors import FINDING_CODE
from accord.graphql.findings.mutations.transition import ACTION_FOR_TARGET
from accord.graphql.findings.types import (
    FindingGradeEnum,
    FindingStateEnum,
    SeverityEnum,
    VerificationResultEnum,
)
from accord.graphql.permissions import RecordActionEnum
from accord.platform.errors import ErrorCode
from accord.policies.vocab import ACTIONS


@pytest.mark.parametrize(
    ("mirror", "domain"),
    [
        (FindingGradeEnum, FindingGrade),
        (SeverityEnum, Severity),
        (FindingStateEnum, FindingState),
        (VerificationResultEnum, VerificationResult),
        (FINDING_CODE, ErrorCode),
    ],
)
def test_mirrors_match(mirror: type[Enum], domain: type[Enum]) -> None:
    assert [(m.name, m.value) for m in mirror] == [(d.name, d.value) for d in domain]


def test_the_record_actions_are_the_policy_actions() -> None:
    assert [a.value for a in RecordActionEnum] == list(ACTIONS)


def test_every_target_state_has_a_known_action() -> None:
    assert set(ACTION_FOR_TARGET) == set(FindingState)
    assert set(ACTION_FOR_TARGET.values()) <= set(ACTIONS)
