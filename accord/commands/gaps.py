"""``accord gaps``: a tenant's gap analysis against one standard."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from accord.commands._support import JsonOption, out
from accord.commands._support import with_synced_runtime as _with_runtime
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session


def gaps(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant slug.")],
    standard: Annotated[str, typer.Option("--standard", help="Standard id, e.g. iso45001:2018.")],
    as_json: JsonOption = False,
) -> None:
    """Gap analysis of a tenant against a standard, through the clause cross-walk.

    Lists clauses with no evidence, only partial coverage, or open nonconformities.
    """
    from accord.compliance.gaps.service import TenantGapReport, analyse

    async def run_analysis(runtime: Runtime) -> TenantGapReport:
        async with tenant_session(runtime, tenant) as session:
            return await analyse(session=session, tenant_slug=tenant, standard_id=standard)

    result = _with_runtime(run_analysis)
    report = result.report
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "tenant": tenant,
                    "standard": standard,
                    "summary": report.summary,
                    "clauses": [
                        {
                            "clause": e.clause,
                            "title": result.titles.get(e.clause, ""),
                            "status": e.status.value,
                            "coverage": e.coverage.value,
                            "direct": e.direct,
                            "via": list(e.via),
                            "open_nonconformities": e.open_nonconformities,
                        }
                        for e in report.entries
                    ],
                }
            )
        )
        return
    table = Table("clause", "title", "status", "coverage", "via", title=f"{tenant} — {standard}")
    for e in report.entries:
        if e.status.value != "covered":
            via = " → ".join(e.via) if not e.direct else "direct"
            table.add_row(
                e.clause, result.titles.get(e.clause, ""), e.status.value, e.coverage.value, via
            )
    out.print(table)
    summary = report.summary
    out.print(
        f"{summary['covered']} of {summary['assessable']} clauses covered "
        f"({report.coverage_pct:.0f}%); {summary['partial_only']} partial, "
        f"{summary['no_evidence']} without evidence, {summary['open_nonconformity']} with open "
        "nonconformities"
    )
