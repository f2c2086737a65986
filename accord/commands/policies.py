"""``accord raci …`` (RACI matrices of shared processes) and ``accord authz …`` (decisions).

Wire into the main CLI with ``app.add_typer(raci_app, name="raci")`` and
``app.add_typer(authz_app, name="authz")``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from sqlalchemy import select

from accord.commands._support import JsonOption, err, out, with_runtime
from accord.platform.errors import BadInput
from accord.platform.runtime import Runtime
from accord.policies import formats
from accord.policies import service as policy_service
from accord.policies.engine import PolicyEngine
from accord.policies.raci import Problem, RaciInvalid
from accord.policies.schemas import Principal, Resource
from accord.tenants.models import Member

raci_app = typer.Typer(
    help="RACI matrices of shared processes: who does, approves, is consulted, is informed.",
    no_args_is_help=True,
)
authz_app = typer.Typer(help="The action gate: ask and explain decisions.", no_args_is_help=True)


@authz_app.callback()
def _authz() -> None:
    # A callback keeps ``authz`` a command group even while it has a single command.
    pass


FileArgument = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="YAML or CSV file.")
]
FormatOption = Annotated[
    str | None, typer.Option("--format", help="yaml or csv (default: from the file name).")
]


def _print_problems(problems: list[Problem]) -> None:
    err.print(f"[red]{len(problems)} problem(s)[/red]")
    for problem in problems:
        err.print(f"  {escape(str(problem))}", soft_wrap=True)


def _read(path: Path, fmt: str | None) -> tuple[str, str]:
    return path.read_text(encoding="utf-8-sig"), fmt or formats.detect_format(path.name)


@raci_app.command("check")
def check(path: FileArgument, fmt: FormatOption = None, as_json: JsonOption = False) -> None:
    """Validate a matrix without storing it; lists every problem (exit 2 if any)."""
    text, chosen = _read(path, fmt)

    async def run(runtime: Runtime) -> tuple[int, list[Problem]]:
        async with runtime.control_session() as session:
            _, rules, problems = await policy_service.check(session=session, text=text, fmt=chosen)
            return len(rules), problems

    count, problems = with_runtime(run)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "ok": not problems,
                    "rules": count,
                    "problems": [
                        p.__dict__ if hasattr(p, "__dict__") else _problem(p) for p in problems
                    ],
                }
            )
        )
    elif not problems:
        out.print(f"ok: {count} policy lines would be compiled")
    else:
        _print_problems(problems)
    if problems:
        raise typer.Exit(2)


def _problem(p: Problem) -> dict[str, str]:
    return {"code": p.code, "message": p.message, "where": p.where}


@raci_app.command("import")
def import_(
    path: FileArgument,
    fmt: FormatOption = None,
    actor: Annotated[str | None, typer.Option(help="Who imports (kept with the matrix).")] = None,
) -> None:
    """Store a matrix (replacing one of the same name) and its compiled policies."""
    text, chosen = _read(path, fmt)

    async def run(runtime: Runtime) -> policy_service.ImportResult | list[Problem]:
        try:
            async with runtime.control_session() as session:
                return await policy_service.import_matrix(
                    session=session, text=text, fmt=chosen, actor=actor
                )
        except RaciInvalid as exc:  # listed one per line rather than as one error message
            return exc.problems

    result = with_runtime(run)
    if isinstance(result, list):
        _print_problems(result)
        raise typer.Exit(2)
    versions = ", ".join(f"{d} v{v}" for d, v in sorted(result.domains.items()))
    out.print(
        f"imported '{result.matrix.name}' (process {result.matrix.process}) version "
        f"{result.version}: {result.rules} policy lines; domains {versions}"
    )


@raci_app.command("export")
def export(
    name: Annotated[str, typer.Argument(help="Matrix name.")],
    fmt: Annotated[str, typer.Option("--format", help="yaml or csv.")] = "yaml",
) -> None:
    """Print a stored matrix as YAML or as the CSV spreadsheet."""

    async def run(runtime: Runtime) -> str:
        async with runtime.control_session() as session:
            return await policy_service.export_matrix(session=session, name=name, fmt=fmt)

    typer.echo(with_runtime(run), nl=False)


@raci_app.command("list")
def list_(as_json: JsonOption = False) -> None:
    """The stored matrices."""

    async def run(runtime: Runtime) -> list[dict[str, object]]:
        async with runtime.control_session() as session:
            return [
                {"name": m.name, "process": m.process, "owners": m.owners, "version": m.version}
                for m in await policy_service.list_matrices(session=session)
            ]

    rows = with_runtime(run)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    for row in rows:
        owners = " ".join(str(o) for o in row["owners"])  # type: ignore[attr-defined]
        out.print(f"{row['name']}  process={row['process']}  owners={owners}  v{row['version']}")


def _user(value: str) -> tuple[str, str]:
    tenant, _, subject = value.partition("/")
    if not tenant or not subject:
        raise BadInput(f"'{value}' is not TENANT/SUBJECT.", reason="BAD_USER", field="user")
    return tenant, subject


@authz_app.command("explain")
def explain(
    user: Annotated[str, typer.Option("--user", help="TENANT/SUBJECT")],
    action: Annotated[str, typer.Option("--action", help="read, comment, respond, close, …")],
    resource: Annotated[
        str,
        typer.Option("--resource", help="OWNER/TYPE, or OWNER/TYPE/PROCESS for a shared process."),
    ],
    roles: Annotated[
        list[str] | None,
        typer.Option("--role", help="Tenant role(s) to assume (default: the member's roles)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Decide one request and say why: matrix, activity and party, baseline rule, or refusal."""

    async def run(runtime: Runtime) -> dict[str, object]:
        tenant, subject = _user(user)
        target = Resource.parse(resource)
        async with runtime.control_session() as session:
            held = roles
            if held is None:
                found = await session.scalar(
                    select(Member.roles).where(Member.tenant == tenant, Member.subject == subject)
                )
                held = list(found or [])
            engine = PolicyEngine()
            await policy_service.reload(session=session, engine=engine, domains={target.owner})
        principal = Principal(tenant=tenant, subject=subject, roles=frozenset(held))
        decision = engine.authorize(principal, action, target)
        return {
            "allowed": decision.allowed,
            "rule": decision.rule,
            "explain": decision.explain,
            "roles": sorted(held),
        }

    result = with_runtime(run)
    if as_json:
        out.print_json(json.dumps(result))
        return
    verdict = "[green]ALLOWED[/green]" if result["allowed"] else "[red]DENIED[/red]"
    out.print(f"{verdict}  {escape(str(result['explain']))}", soft_wrap=True)
    out.print(f"rule: {escape(str(result['rule'] or '(none matched)'))}", soft_wrap=True)
