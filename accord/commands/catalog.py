"""``accord catalog``: the standards catalog, clause mappings, imports, exports, conflicts.

Every command first brings the stores' catalogs up to the shipped data (one query per
store when they are current).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree
from sqlalchemy.ext.asyncio import AsyncSession

from accord.commands._support import JsonOption, err, out, with_runtime
from accord.compliance.catalog import service as catalog_service
from accord.compliance.catalog.models import Clause, Standard
from accord.compliance.catalog.service import ClauseNode
from accord.compliance.crosswalk import MappingConflict
from accord.compliance.mappings import flows
from accord.compliance.mappings import service as mapping_service
from accord.compliance.mappings.service import ImportReport
from accord.platform.errors import NotFound
from accord.platform.runtime import Runtime

CLI_ACTOR = "accord-cli"

catalog_app = typer.Typer(
    help="Standards catalog and clause mappings: list, show, import, export, conflicts.",
    no_args_is_help=True,
)
TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="Tenant slug: its own mappings, not global ones.")
]


def _standard_dict(standard: Standard, clauses: int) -> dict[str, Any]:
    return {
        "id": standard.id,
        "number": standard.number,
        "title": standard.title,
        "year": standard.year,
        "kind": standard.kind,
        "version": standard.version,
        "origin": standard.origin,
        "library_urn": standard.library_urn,
        "clauses": clauses,
    }


def _clause_dict(clause: Clause) -> dict[str, Any]:
    return {
        "key": clause.key,
        "number": clause.number,
        "title": clause.title,
        "parent": clause.parent_key,
        "depth": clause.depth,
        "hs": clause.hs,
        "hs_ref": clause.hs_ref,
        "assessable": clause.assessable,
    }


def _node_dict(node: ClauseNode) -> dict[str, Any]:
    return {**_clause_dict(node.clause), "children": [_node_dict(c) for c in node.children]}


async def _synced(runtime: Runtime) -> None:
    await catalog_service.sync_catalog(runtime)


@catalog_app.command("list")
def catalog_list(as_json: JsonOption = False) -> None:
    """List the catalog's standards and global mapping sets."""

    async def run(runtime: Runtime) -> dict[str, Any]:
        await _synced(runtime)
        async with runtime.control_session() as session:
            counts = await catalog_service.count_clauses(session=session)
            standards = await catalog_service.list_standards(session=session)
            sets = await mapping_service.list_mapping_sets(session=session)
        return {
            "standards": [_standard_dict(s, counts.get(s.id, 0)) for s in standards],
            "mapping_sets": [
                {
                    "id": m.id,
                    "name": m.name,
                    "source_standard": m.source_standard,
                    "target_standard": m.target_standard,
                    "origin": m.origin,
                    "mappings": m.mapping_count,
                }
                for m in sets
            ],
        }

    data = with_runtime(run)
    if as_json:
        out.print_json(json.dumps(data))
        return
    standards = Table("id", "title", "kind", "origin", "clauses", title="Standards")
    for s in data["standards"]:
        standards.add_row(s["id"], s["title"], s["kind"], s["origin"], str(s["clauses"]))
    out.print(standards)
    sets = Table("id", "source", "target", "origin", "mappings", title="Global mapping sets")
    for m in data["mapping_sets"]:
        sets.add_row(
            m["id"],
            m["source_standard"] or "*",
            m["target_standard"] or "*",
            m["origin"],
            str(m["mappings"]),
        )
    out.print(sets)


async def _lookup(session: AsyncSession, name: str) -> dict[str, Any]:
    if "/" in name:
        try:
            return {
                "clause": _clause_dict(await catalog_service.get_clause(session=session, key=name))
            }
        except NotFound:
            pass
    else:
        try:
            standard = await catalog_service.get_standard(session=session, standard_id=name)
        except NotFound:
            pass
        else:
            tree = await catalog_service.clause_tree(session=session, standard_id=name)
            count = sum(1 for _ in _walk(tree))
            return {
                "standard": _standard_dict(standard, count),
                "tree": [_node_dict(n) for n in tree],
            }
    raise NotFound(
        f"No standard or clause {name!r} in the catalog.", reason="UNKNOWN_CLAUSE", field="key"
    )


def _walk(nodes: list[ClauseNode] | tuple[ClauseNode, ...]) -> Any:
    for node in nodes:
        yield node
        yield from _walk(node.children)


def _add_branches(branch: Tree, nodes: list[dict[str, Any]]) -> None:
    for node in nodes:
        _add_branches(branch.add(f"{node['number']}  {escape(node['title'])}"), node["children"])


@catalog_app.command("show")
def catalog_show(
    key: Annotated[str, typer.Argument(help="A standard id (iso9001:2015) or clause key.")],
    as_json: JsonOption = False,
) -> None:
    """Show a standard's clause tree, or one clause."""

    async def run(runtime: Runtime) -> dict[str, Any]:
        await _synced(runtime)
        async with runtime.control_session() as session:
            return await _lookup(session, key)

    data = with_runtime(run)
    if as_json:
        out.print_json(json.dumps(data))
    elif "clause" in data:
        for field, value in data["clause"].items():
            out.print(f"[bold]{field}[/bold]: {escape(str(value))}")
    else:
        s = data["standard"]
        tree = Tree(f"[bold]{s['id']}[/bold] {escape(s['title'])} ({s['clauses']} clauses)")
        _add_branches(tree, data["tree"])
        out.print(tree)


def _print_report(report: ImportReport) -> None:
    for standard in report.standards:
        out.print(f"standard {standard}: imported")
    for standard in report.linked:
        out.print(f"standard {standard}: linked to the library's framework")
    for m in report.mapping_sets:
        counts = ", ".join(f"{rel} {n}" for rel, n in m.counts_by_relationship.items()) or "none"
        replaced = f"; replaced {m.replaced}" if m.replaced else ""
        out.print(
            f"mapping set {escape(m.id)} ({m.source_standard or '*'} -> "
            f"{m.target_standard or '*'}): {m.count} mappings ({counts}){replaced}",
            soft_wrap=True,
        )


@catalog_app.command("import")
def catalog_import(
    file: Annotated[Path, typer.Argument(help="A CISO Assistant library (YAML) or OSCAL JSON.")],
    tenant: TenantOption = None,
    source_standard: Annotated[
        str | None, typer.Option(help="OSCAL only: Accord standard of the source catalog.")
    ] = None,
    target_standard: Annotated[
        str | None, typer.Option(help="OSCAL only: Accord standard of the target catalog.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Import frameworks and mapping sets, all or nothing; every problem is listed."""

    async def run(runtime: Runtime) -> ImportReport:
        await _synced(runtime)
        return await flows.import_file(
            runtime,
            source=file,
            actor=CLI_ACTOR,
            tenant=tenant,
            source_standard=source_standard,
            target_standard=target_standard,
        )

    report = with_runtime(run)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "scope": report.scope,
                    "standards": list(report.standards),
                    "linked": list(report.linked),
                    "clauses": report.clauses,
                    "mapping_sets": [
                        {
                            "id": m.id,
                            "source_standard": m.source_standard,
                            "target_standard": m.target_standard,
                            "count": m.count,
                            "counts_by_relationship": m.counts_by_relationship,
                            "replaced": m.replaced,
                        }
                        for m in report.mapping_sets
                    ],
                }
            )
        )
        return
    _print_report(report)


@catalog_app.command("export")
def catalog_export(
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the OSCAL JSON.")],
    mapping_set: Annotated[
        str | None, typer.Option("--set", help="Mapping set id (a tenant's, with --tenant).")
    ] = None,
    tenant: TenantOption = None,
) -> None:
    """Export a global mapping set, or a tenant's mappings, as an OSCAL mapping collection."""
    if mapping_set is None and tenant is None:
        err.print("[red]error[/red] BAD_USER_INPUT/MAPPING_SET_REQUIRED: pass --set or --tenant")
        raise typer.Exit(2)

    async def run(runtime: Runtime) -> int:
        await _synced(runtime)
        return await flows.export_file(
            runtime, out=out_file, mapping_set=mapping_set, tenant=tenant
        )

    count = with_runtime(run)
    out.print(f"wrote {count} mappings to {out_file}")


def _conflict_dict(conflict: MappingConflict) -> dict[str, Any]:
    return {
        "kind": conflict.kind.value,
        "source": conflict.source,
        "target": conflict.target,
        "reason": conflict.reason,
        "mappings": [
            {
                "id": m.mapping_id,
                "relationship": m.relationship.value,
                "scope": m.scope,
                "method": m.method.value,
                "author": m.author,
            }
            for m in conflict.mappings
        ],
    }


@catalog_app.command("conflicts")
def catalog_conflicts(tenant: TenantOption = None, as_json: JsonOption = False) -> None:
    """Report mappings that disagree (global ones, plus a tenant's own with --tenant)."""

    async def run(runtime: Runtime) -> list[MappingConflict]:
        await _synced(runtime)
        return await flows.conflicts(runtime, tenant=tenant)

    found = with_runtime(run)
    if as_json:
        out.print_json(json.dumps([_conflict_dict(c) for c in found]))
        return
    if not found:
        out.print("no conflicts")
    for conflict in found:
        out.print(
            f"[yellow]{conflict.kind.value}[/yellow] {escape(conflict.reason)}", soft_wrap=True
        )
