"""The import graph of ``accord``, read from the source: layers, domain packages, cycles.

Every ``import`` counts, at module level or inside a function (a function-local import is
still a dependency, only a later one); imports under ``if TYPE_CHECKING:`` do not, as they
never run. Importing ``a.b.c`` runs ``a`` and ``a.b`` first, so it depends on them too.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import accord

ROOT = Path(accord.__file__).parent

#: Layers from the bottom up; a module may import its own layer and the ones below.
LAYERS: list[set[str]] = [
    {"platform"},
    {"tenants"},
    {"policies"},
    {"compliance"},
    {"connectors"},
    {"graphql"},
    {"web"},
    {"app", "cli", "commands", "demo", "__main__"},
]

#: The packages under ``accord.compliance`` that every domain may build on; they import no
#: domain package themselves.
CORE = {"records", "vocab"}

#: Cycles between modules that remain, each with the reason it is still there. Every
#: entry is the sorted list of a strongly connected component's modules.
ALLOWED_MODULE_CYCLES: list[list[str]] = [
    # GraphQL object types that refer to each other (a finding's audit and CAPAs, an
    # audit's findings, a CAPA's finding and evidence, an evidence's CAPA): the schema is a
    # graph, and strawberry.lazy with a resolver-local import is how its types close the loop.
    [
        "accord.graphql.findings.types",
        "accord.graphql.records.audits",
        "accord.graphql.records.capas",
        "accord.graphql.records.common",
        "accord.graphql.records.evidence",
    ],
]

#: Cycles between packages (``accord.<layer>.<package>``) that remain, likewise.
ALLOWED_PACKAGE_CYCLES: list[list[str]] = [
    # The same GraphQL types, seen as packages; and the audit mutations return finding
    # types while the findings' access gate asks the audits' (``graphql.findings.access``
    # -> ``graphql.audits.access``).
    ["accord.graphql.audits", "accord.graphql.findings", "accord.graphql.records"],
]


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int


def module_name(path: Path) -> str:
    parts = ["accord", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under ``node`` except those in ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for orelse in child.orelse:
                yield from _statements(orelse)
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        yield from _statements(child)


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(1, len(parts))]


def imports_of(name: str, path: Path, known: set[str]) -> Iterator[Import]:
    """The ``accord`` modules that ``name`` imports (packages run on the way included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for statement in _statements(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(statement, ast.Import):
            targets = [alias.name for alias in statement.names]
        else:
            base = statement.module or ""
            if statement.level:
                anchor = package.split(".")[: len(package.split(".")) - statement.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in statement.names
            ]
        for target in targets:
            for step in _with_parents(target):
                if step in known and step != name and not name.startswith(f"{step}."):
                    yield Import(name, step, statement.lineno)


def graph() -> dict[str, list[Import]]:
    found = modules()
    known = set(found)
    return {name: list(imports_of(name, path, known)) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(edges.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def layer_of(name: str) -> int:
    top = name.split(".")[1] if "." in name else "__init__"
    for level, members in enumerate(LAYERS):
        if top in members:
            return level
    raise AssertionError(f"{name} is in no layer; add its top-level package to LAYERS")


def domain_of(name: str) -> str | None:
    parts = name.split(".")
    if parts[:2] != ["accord", "compliance"] or len(parts) < 3:
        return None
    return parts[2]


def test_every_module_is_in_a_layer() -> None:
    for name in modules():
        if name != "accord":
            layer_of(name)


def test_no_layer_imports_one_above_it() -> None:
    upward = [
        f"{edge.source}:{edge.line} imports {edge.target}"
        for edges in graph().values()
        for edge in edges
        if edge.target != "accord" and layer_of(edge.target) > layer_of(edge.source)
    ]
    assert upward == []


def package_of(name: str) -> str | None:
    """The package a module belongs to at the level below its layer (``accord.compliance.
    capa`` for ``accord.compliance.capa.service``); None for a layer's own modules."""
    parts = name.split(".")
    if len(parts) < 3 or (len(parts) == 3 and name not in PACKAGES):
        return None
    return ".".join(parts[:3])


PACKAGES = {name for name, path in modules().items() if path.name == "__init__.py"}


def _package_edges(of: Callable[[str], str | None]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for source, imports in graph().items():
        mine = of(source)
        if mine is None:
            continue
        for edge in imports:
            theirs = of(edge.target)
            if theirs is not None and theirs != mine:
                edges.setdefault(mine, set()).add(theirs)
    return edges


def test_no_cycle_between_domain_packages() -> None:
    """Between the packages of ``accord.compliance``: none is allowed."""
    assert cycles(_package_edges(domain_of)) == []


def test_no_cycle_between_packages() -> None:
    assert cycles(_package_edges(package_of)) == ALLOWED_PACKAGE_CYCLES


def test_the_records_core_imports_no_domain() -> None:
    leaks = [
        f"{edge.source}:{edge.line} imports {edge.target}"
        for source, imports in graph().items()
        if domain_of(source) in CORE
        for edge in imports
        if domain_of(edge.target) not in {*CORE, None}
    ]
    assert leaks == []


def test_no_cycle_between_modules() -> None:
    edges = {source: {edge.target for edge in imports} for source, imports in graph().items()}
    assert cycles(edges) == ALLOWED_MODULE_CYCLES
