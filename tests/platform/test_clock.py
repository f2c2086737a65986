"""Time is an input: the product reads one clock, and no test takes the date at import."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime, timedelta

import pytest

from accord.platform import clock
from tests.conftest import REPO

#: Where reading the operating system's clock is the point: the clock itself, and a
#: Retry-After header that names a moment in real time to wait for.
SYSTEM_TIME_ALLOWED = {"accord/platform/clock.py", "accord/connectors/framework/http.py"}


def _calls_the_system_clock(node: ast.AST) -> bool:
    for call in ast.walk(node):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
            owner = call.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if (name, call.func.attr) in {
                ("datetime", "now"),
                ("datetime", "utcnow"),
                ("date", "today"),
                ("datetime", "today"),
            }:
                return True
    return False


def test_the_product_reads_the_time_only_from_its_clock() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for path in sorted((REPO / "accord").rglob("*.py"))
        if str(path.relative_to(REPO)) not in SYSTEM_TIME_ALLOWED
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and _calls_the_system_clock(node)
    ]
    assert offenders == [], "use accord.platform.clock.now() / today()"


def test_no_test_module_takes_the_date_when_it_is_imported() -> None:
    # A module-level "today" is yesterday for a run that crosses midnight.
    offenders = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for path in sorted((REPO / "tests").rglob("*.py"))
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and node.value is not None
        and _calls_the_system_clock(node.value)
        and any(
            isinstance(target, ast.Name) and target.id in {"TODAY", "NOW"}
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        )
    ]
    assert offenders == [], "read accord.platform.clock.today() / now() when the value is needed"


def test_a_clock_put_in_place_is_what_the_product_reads_then_the_one_before() -> None:
    before = clock.now()
    fixed = clock.FixedClock(datetime(2031, 2, 28, 23, 30, tzinfo=UTC))
    with clock.use(fixed):
        assert clock.now() == datetime(2031, 2, 28, 23, 30, tzinfo=UTC)
        fixed.advance(timedelta(hours=1))
        assert clock.today() == date(2031, 3, 1)
    assert clock.now() >= before and clock.now().year < 2031


def test_a_clock_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.FixedClock(datetime(2026, 1, 1))
