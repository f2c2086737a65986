"""Mutation check of the security guards: break each guard with one small edit, run its tests.

    ACCORD_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/accord_mut \\
    ACCORD_TEST_DATA_DIR=/tmp/accord-mut python bench/mutation_check.py [--only NAME,...]
        [--list] [--worktree] [--no-baseline] [--out bench/results/mutation.json]

Each mutant below names a guard, the file and the exact text it changes, and the test files
that must notice. The check copies the committed tree (``git archive HEAD``; ``--worktree``:
the working tree as it is, uncommitted files included) into a temporary directory, runs the
union of the mutants' test files there once unchanged (they must pass, or a "killed" would
mean nothing), then for each mutant: applies it to the copy, runs its test files
(``pytest -x``), records ``killed`` (the tests failed) or ``survived`` (they passed) and puts
the file back. The working tree is never touched, so the check can run beside other work.
A mutant whose text is no longer found exactly once is ``stale``: the guard moved, update
the mutant. Exit status: 0 when every mutant is killed.

On demand only (slow: minutes per mutant on two cores), never in CI; the latest score is in
docs/benchmarks.md. Use a database of your own: the tests create and drop tenants in it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
console = Console()


@dataclass(frozen=True)
class Mutant:
    name: str
    guard: str
    path: str
    #: (text as it is, text of the mutant) pairs; each "as it is" must occur exactly once
    edits: tuple[tuple[str, str], ...]
    tests: tuple[str, ...]


MUTANTS = (
    Mutant(
        "sovereignty-revoked",
        "sovereignty gate: a revoked or proposed agreement grants nothing",
        "accord/tenants/agreements/service.py",
        (("a.c.state == AgreementState.ACTIVE.value,", "a.c.state.is_not(None),"),),
        ("tests/tenants/test_agreements.py", "tests/compliance/test_sharing_reads.py"),
    ),
    Mutant(
        "redaction-level",
        "redaction: a summary grantee gets every column",
        "accord/compliance/sharing/reads.py",
        (
            (
                "if owner.level is SharingLevel.FULL\n",
                "if owner.level in (SharingLevel.FULL, SharingLevel.SUMMARY)\n",
            ),
        ),
        ("tests/compliance/test_sharing_reads.py",),
    ),
    Mutant(
        "redaction-whitelist",
        "redaction: a finding's deleted_at moved onto the summary whitelist",
        "accord/compliance/sharing/fields.py",
        (
            (
                '        "closed_at",\n    ),\n    "capa": (',
                '        "closed_at",\n        "deleted_at",\n    ),\n    "capa": (',
            ),
            ('        "deleted_at": _I,\n    },\n    "capa": {', '    },\n    "capa": {'),
        ),
        ("tests/compliance/test_sharing_reads.py",),
    ),
    Mutant(
        "casbin-denials",
        "Casbin: a process's governance denials are not compiled",
        "accord/policies/compile.py",
        (
            (
                'denials.append(CompiledRule("p", denial, **where))',
                "pass  # denial dropped",
            ),
        ),
        ("tests/policies/test_raci_decisions.py", "tests/policies/test_engine.py"),
    ),
    Mutant(
        "jwt-audience",
        "JWT: the audience is not compared",
        "accord/tenants/identity/tokens.py",
        (('aud={"essential": True, "value": audience},', 'aud={"essential": True},'),),
        ("tests/tenants/test_token_attacks.py",),
    ),
    Mutant(
        "jwt-weak-key",
        "JWT: RSA keys under 2048 bits accepted",
        "accord/tenants/identity/tokens.py",
        (("public.key_size < MIN_RSA_BITS", "public.key_size < 0"),),
        ("tests/tenants/test_token_attacks.py",),
    ),
    Mutant(
        "jwt-key-use",
        "JWT: a key published for encryption verifies signatures",
        "accord/tenants/identity/tokens.py",
        (('key.get("use") not in (None, "sig")', 'key.get("use") not in (None, "sig", "enc")'),),
        ("tests/tenants/test_token_attacks.py",),
    ),
    Mutant(
        "cursor-hmac",
        "cursors: the HMAC is not checked",
        "accord/graphql/cursors.py",
        (
            (
                "if len(raw) <= _MAC_SIZE or not hmac.compare_digest(mac, self._mac(body)):",
                "if len(raw) <= _MAC_SIZE:",
            ),
        ),
        ("tests/graphql/test_ids_and_cursors.py",),
    ),
    Mutant(
        "hash-chain",
        "event log: an entry whose content does not match its hash passes",
        "accord/platform/eventlog.py",
        (('problem = "content does not match its hash"', "problem = None"),),
        ("tests/platform/test_eventlog.py",),
    ),
    Mutant(
        "closing-protocol",
        "closing protocol: any team member may act in any team role",
        "accord/compliance/audits/protocol/team.py",
        (("fitting = [m for m in mine if m.role in allowed]", "fitting = mine"),),
        ("tests/compliance/test_audit_protocol.py",),
    ),
    Mutant(
        "capa-verifier",
        "CAPA: anyone of another party may record effectiveness, not only the planned verifier",
        "accord/compliance/capa/flows.py",
        (
            (
                "if subject is not None and me != Person.of(subject, tenant):",
                "if subject is None:",
            ),
        ),
        ("tests/compliance/test_capa_cross_entity.py",),
    ),
    Mutant(
        "dashboard-minimum-group",
        "dashboard: an aggregate owner's counts released exactly",
        "accord/compliance/sharing/dashboard.py",
        (("    return rounding_base(planned.min_group_size)", "    return None"),),
        ("tests/graphql/test_aggregate_disclosure.py",),
    ),
    Mutant(
        "disclosure-group-size",
        "disclosure: the agreement's minimum group size ignored (base always the floor)",
        "accord/compliance/sharing/disclosure.py",
        (("return max(min_group_size, ROUNDING_FLOOR)", "return ROUNDING_FLOOR"),),
        ("tests/graphql/test_aggregate_disclosure.py", "tests/compliance/test_sharing_reads.py"),
    ),
    Mutant(
        "content-digest",
        "review signing: content that no longer matches its digest is signed",
        "accord/compliance/reviews/signatures/service.py",
        (("if document_digest(review) != review.content_digest:", "if False:"),),
        ("tests/compliance/test_review_signing.py",),
    ),
)


def copy_tree(target: Path, *, worktree: bool) -> None:
    """The committed tree (or the working tree's tracked and untracked files) in ``target``."""
    if not worktree:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", "HEAD"], cwd=REPO, check=True, capture_output=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
        return
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = REPO / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            (target / name.decode()).write_bytes(source.read_bytes())


def run_tests(tree: Path, tests: tuple[str, ...], timeout: float) -> tuple[bool, float, str]:
    """Whether ``tests`` pass in ``tree``, the seconds taken and the summary line."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", *tests, "-x", "-q", "-p", "no:cacheprovider"],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return False, time.perf_counter() - started, f"timed out after {timeout:.0f} s"
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return done.returncode == 0, time.perf_counter() - started, lines[-1] if lines else ""


def apply(tree: Path, mutant: Mutant) -> str | None:
    """Apply ``mutant`` in ``tree``; the original text, or None when it is stale."""
    path = tree / mutant.path
    original = path.read_text()
    text = original
    for before, after in mutant.edits:
        if text.count(before) != 1:
            return None
        text = text.replace(before, after)
    path.write_text(text)
    return original


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated mutant names")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--worktree", action="store_true", help="copy the working tree, not HEAD")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per test run")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "mutation.json"))
    args = parser.parse_args()
    chosen = [m for m in MUTANTS if not args.only or m.name in args.only.split(",")]
    if args.list:
        for m in chosen:
            console.print(f"{m.name:26} {m.path}\n{'':26} {m.guard}; {' '.join(m.tests)}")
        return 0
    if not os.environ.get("ACCORD_TEST_DATABASE_URL") or not os.environ.get("ACCORD_TEST_DATA_DIR"):
        console.print("Set ACCORD_TEST_DATABASE_URL and ACCORD_TEST_DATA_DIR to your own.")
        return 2
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="accord-mutants-") as tmp:
        tree = Path(tmp)
        copy_tree(tree, worktree=args.worktree)
        imported = subprocess.run(
            [sys.executable, "-c", "import accord; print(accord.__file__)"],
            cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if not Path(imported).is_relative_to(tree):
            console.print(f"The copy imports accord from {imported}, not from the copy.")
            return 2
        if not args.no_baseline:
            every = tuple(sorted({t for m in chosen for t in m.tests}))
            console.print(f"baseline: {len(every)} test files, unmutated …")
            ok, seconds, summary = run_tests(tree, every, args.timeout * 2)
            console.print(f"  {summary} ({seconds:.0f} s)")
            if not ok:
                console.print("The unmutated tests fail; no mutant can be judged.")
                return 2
        for mutant in chosen:
            original = apply(tree, mutant)
            if original is None:
                outcome, seconds, summary = "stale", 0.0, "the text to change was not found once"
            else:
                try:
                    passed, seconds, summary = run_tests(tree, mutant.tests, args.timeout)
                finally:
                    (tree / mutant.path).write_text(original)
                outcome = "survived" if passed else "killed"
            console.print(f"{mutant.name}: {outcome} ({seconds:.0f} s) {summary}")
            results.append(
                {
                    "name": mutant.name,
                    "guard": mutant.guard,
                    "path": mutant.path,
                    "tests": list(mutant.tests),
                    "outcome": outcome,
                    "seconds": round(seconds, 1),
                    "summary": summary,
                }
            )
    table = Table(title="Mutation check of the security guards")
    for column in ("mutant", "guard", "outcome", "s"):
        table.add_column(column)
    for r in results:
        table.add_row(str(r["name"]), str(r["guard"]), str(r["outcome"]), str(r["seconds"]))
    console.print(table)
    killed = sum(r["outcome"] == "killed" for r in results)
    console.print(f"score: {killed}/{len(results)} killed")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"killed": killed, "mutants": results}, indent=2) + "\n")
    return 0 if killed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
