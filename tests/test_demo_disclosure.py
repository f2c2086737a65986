"""The aggregate-sharing attacker on the demo network: ``accord demo`` served on loopback,
globex reading initech (aggregate, minimum group size 3) before and after initech raises
one finding. No released number may pin one of initech's small cells."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from accord.demo import HOME_REGION, HOME_STORE, US_REGION, US_STORE
from tests.attacker import Released, linked_numbers_are_sums, pinned_cells
from tests.factories import raci
from tests.factories.cli import demo_env, free_port, start_demo, stop_demo

PROCESS = "initech-follow-up"
FOLLOW = raci.follow_findings(
    name="initech follow-up",
    process=PROCESS,
    owners=["initech"],
    accountable="initech",
    informed=["globex"],
)
READ = f"""
{{
  findingAggregates(process: "{PROCESS}") {{ groups {{ tenant grade state count roundedTo }} }}
  networkDashboard(process: "{PROCESS}") {{
    tenants {{
      tenant openByGrade openByState openByClause overdueCapaActions roundedTo
      suppressedGroups
    }}
  }}
}}
"""
OWN = """
query($after: String) {
  findings(first: 50, after: $after) {
    edges { node { tenant grade state } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
RAISE = """
mutation($input: RaiseFindingInput!) {
  raiseFinding(input: $input) { finding { id } errors { code message } }
}
"""


class Demo:
    def __init__(self, port: int, tokens: Path) -> None:
        self.url = f"http://127.0.0.1:{port}/graphql"
        self.tokens = tokens

    def post(self, who: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        token = (self.tokens / f"{who}.jwt").read_text()
        body = httpx.post(
            self.url,
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {token}"},
            timeout=30,
        ).json()
        assert "errors" not in body, body
        return body["data"]

    def released(self) -> Released:
        data = self.post("globex-maria.santos", READ)
        return Released.of("initech", data["findingAggregates"], data["networkDashboard"])

    def settled(self) -> Released:
        deadline = time.monotonic() + 10
        while True:
            seen = self.released()
            try:
                linked_numbers_are_sums(seen, 3)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert self.released() == seen, "a repeated read differs"
        return seen

    def truth(self) -> dict[tuple[str, str], int]:
        """initech's own (grade, state) counts, as initech reads them."""
        cells: dict[tuple[str, str], int] = {}
        after = None
        while True:
            page = self.post("initech-siobhan.murphy", OWN, {"after": after})["findings"]
            for edge in page["edges"]:
                node = edge["node"]
                if node["tenant"] == "initech":
                    cell = (node["grade"].lower(), node["state"].lower())
                    cells[cell] = cells.get(cell, 0) + 1
            if not page["pageInfo"]["hasNextPage"]:
                return cells
            after = page["pageInfo"]["endCursor"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    data = tmp_path_factory.mktemp("demo") / "data"
    port = free_port()
    env = demo_env(data)
    proc = start_demo(data, port, seconds=180)
    try:
        # The demo shares initech's findings in aggregate but puts them in no process;
        # a process in which globex follows them, imported as an operator would.
        matrix = data / "follow-initech.yaml"
        matrix.write_text(FOLLOW)
        cli = {
            **env,
            "ACCORD_DATA_DIR": str(data / "demo"),
            "ACCORD_HOME_STORE": HOME_STORE,
            "ACCORD_HOME_REGION": HOME_REGION,
            "ACCORD_STORES": json.dumps(
                [{"name": US_STORE, "region": US_REGION, "url": f"embedded:{US_STORE}"}]
            ),
        }
        imported = subprocess.run(
            [sys.executable, "-m", "accord", "raci", "import", str(matrix)],
            env=cli,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert imported.returncode == 0, imported.stderr
        time.sleep(1)  # the API's policy listener reloads the matrix
        yield Demo(port, data / "demo" / "demo-tokens")
    finally:
        try:
            stop_demo(proc)
        except subprocess.TimeoutExpired:
            proc.communicate()


@pytest.mark.slow
def test_the_demo_releases_nothing_that_pins_a_small_cell_of_initech(demo: Demo) -> None:
    truth = demo.truth()
    before = demo.settled()
    assert before.rounded_to == 3
    raised = demo.post(
        "initech-siobhan.murphy",
        RAISE,
        {
            "input": {
                "reference": "IT-DISCLOSURE-1",
                "title": "Backup restore test overdue",
                "grade": "MAJOR_NONCONFORMITY",
                "severity": "HIGH",
                "clauseKeys": ["iso27001:2022/A.8.13"],
                "criteria": "ISO/IEC 27001:2022 A.8.13",
                "condition": "No restore test in the last two quarters.",
            }
        },
    )["raiseFinding"]
    assert raised["errors"] == [], raised
    after = demo.settled()
    delta = {("major_nonconformity", "open"): 1}
    assert demo.truth() == {
        **truth,
        ("major_nonconformity", "open"): 1 + truth.get(("major_nonconformity", "open"), 0),
    }
    assert pinned_cells(before, after, truth, delta, 3, 3) == []
