"""The layers of ``pipeline/`` and ``workers/``, read from the source (no import, no service).

Imports run one way, from the top down (``pipeline/__init__.py`` draws it)::

    operator, workers      the CLI and what it shows; the Celery tasks (siblings: neither
                           imports the other; the CLI names tasks by their name strings)
    runtime                the worker nodes of a host, their supervisor, beat's lease
    stages                 the flow's steps
    domain                 students, routing, polling, progress, summary, notify, rows
    adapters               provider, db (with its migrations), object store, broker, ...
    telemetry              metrics, logs
    core                   pipeline.settings, pipeline.errors (and the package itself)

A module may import its own layer and the layers below it, nothing above. Three checks:

- no first-party import (``pipeline``, ``workers``, ``simulator``, ``devkit``) inside a
  function or method: an import put there to dodge a cycle or to defer a cost hides the
  dependency it is. ``importlib.import_module`` is not an import statement and is not looked
  at (a plugin hook names its module in a string on purpose);
- no cycle among modules, counting every import wherever it is;
- no import upward, and none of ``simulator`` or ``devkit`` (tools of a clone, not in the wheel).

Imports under ``if TYPE_CHECKING:`` count like any other, in the cycles and the layers: a type
is a dependency of a module's meaning even when it costs nothing at run time, so it runs
downward too, and two modules that need each other's types are one module or miss a lower
one. ``TYPE_CHECKING`` is for sparing the run time an import (a heavy library), not for hiding
one. A package's ``__init__`` is not counted as imported by its submodules (Python runs it
first, but that is how packages work, not a dependency of the submodule's).

Each failure lists every violation, one per line, with its file and line.
"""

from __future__ import annotations

import ast
import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "workers")
FIRST_PARTY = frozenset({"pipeline", "workers", "simulator", "devkit"})
OUTSIDE_THE_PRODUCT = frozenset({"simulator", "devkit"})

CORE = frozenset({"pipeline", "pipeline.settings", "pipeline.errors"})
# (package, layer, rank): a module's layer is its package's. Core is the modules above.
LAYERS = (
    ("pipeline.telemetry", "telemetry", 1),
    ("pipeline.adapters", "adapters", 2),
    ("pipeline.migrations", "adapters", 2),  # the database's schema: Alembic reads db models
    ("pipeline.domain", "domain", 3),
    ("pipeline.stages", "stages", 4),
    ("pipeline.runtime", "runtime", 5),
    ("pipeline.operator", "operator", 6),
    ("workers", "workers", 6),
)


@dataclass(frozen=True)
class Import:
    """One first-party module named by one import statement."""

    source: str
    target: str
    path: Path
    line: int
    in_function: str | None
    """The function or method around the statement, or None at module level."""
    type_only: bool

    def where(self) -> str:
        """``file:line`` (and the function it is in), for a violation's line."""
        place = f"{self.path.relative_to(ROOT)}:{self.line}"
        return f"{place} in {self.in_function}()" if self.in_function else place


@functools.cache
def modules() -> dict[str, Path]:
    """Every module of the packages, by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _resolve(name: str) -> str:
    """The known module ``name`` is or lies in (``pkg.mod.attr`` -> ``pkg.mod``)."""
    known = modules()
    candidate = name
    while candidate and candidate not in known:
        candidate = candidate.rpartition(".")[0]
    return candidate or name


def _targets(node: ast.Import | ast.ImportFrom, source: str, is_package: bool) -> set[str]:
    if isinstance(node, ast.Import):
        return {_resolve(alias.name) for alias in node.names}
    base = node.module or ""
    if node.level:  # relative: from the module's own package upwards
        package = source if is_package else source.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    known = modules()
    return {
        f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else _resolve(base)
        for alias in node.names
    }


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(
    node: ast.AST, function: str | None, type_only: bool
) -> Iterator[tuple[ast.Import | ast.ImportFrom, str | None, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, function, type_only
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _walk(child, child.name if function is None else function, type_only)
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for statement in child.body:
                yield from _walk(ast.Module([statement], []), function, True)
            for statement in child.orelse:
                yield from _walk(ast.Module([statement], []), function, type_only)
        else:
            yield from _walk(child, function, type_only)


@functools.cache
def imports() -> tuple[Import, ...]:
    """Every first-party import statement of the packages, one per module it names."""
    found: list[Import] = []
    for source, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node, function, type_only in _walk(tree, None, False):
            for target in sorted(_targets(node, source, is_package)):
                if target.split(".")[0] in FIRST_PARTY and target != source:
                    found.append(Import(source, target, path, node.lineno, function, type_only))
    return tuple(found)


def layer_of(module: str) -> tuple[str, int] | None:
    """The layer and rank of a first-party module of the packages (None: in none)."""
    if module in CORE:
        return "core", 0
    for package, layer, rank in LAYERS:
        if module == package or module.startswith(f"{package}."):
            return layer, rank
    return None


def _shown(imp: Import, why: str) -> str:
    kind = " (under TYPE_CHECKING)" if imp.type_only else ""
    return f"{imp.where()}: {imp.source} imports {imp.target}{kind}: {why}"


def test_every_module_has_a_layer() -> None:
    unplaced = [name for name in modules() if layer_of(name) is None]
    assert not unplaced, "modules in no layer (add them to LAYERS):\n" + "\n".join(unplaced)


def test_no_first_party_import_inside_a_function() -> None:
    found = [f"{imp.where()}: import of {imp.target}" for imp in imports() if imp.in_function]
    assert not found, (
        f"{len(found)} first-party imports inside functions (import at module level; a cycle "
        "or an upward import it dodged must be untied instead):\n" + "\n".join(found)
    )


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def _loop(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """One shortest way round a component, from its first module back to it."""
    start = component[0]
    members = set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(edges.get(node, ())):
            if child == start:
                return [*paths[node], start]
            if child in members and child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    return component


def test_no_import_cycle() -> None:
    edges: dict[str, set[str]] = {}
    lines: dict[tuple[str, str], Import] = {}
    for imp in imports():
        if imp.target in modules():
            edges.setdefault(imp.source, set()).add(imp.target)
            lines.setdefault((imp.source, imp.target), imp)
    found = []
    for component in _cycles(edges):
        loop = _loop(component, edges)
        steps = [lines[(a, b)] for a, b in itertools.pairwise(loop)]
        found.append(
            " -> ".join(loop)
            + "\n    "
            + "\n    ".join(_shown(step, "part of the cycle") for step in steps)
        )
    assert not found, f"{len(found)} import cycles:\n" + "\n".join(found)


def _upward(imp: Import) -> str | None:
    """Why ``imp`` breaks the layering, or None if it does not."""
    if imp.target.split(".")[0] in OUTSIDE_THE_PRODUCT:
        return "simulator and devkit are not in the wheel: the product never imports them"
    source, target = layer_of(imp.source), layer_of(imp.target)
    if source is None or target is None:
        return None  # test_every_module_has_a_layer says so
    if source[0] == target[0] or target[1] < source[1]:
        return None
    return f"{source[0]} (rank {source[1]}) may not import {target[0]} (rank {target[1]})"


def test_imports_run_downward() -> None:
    found = [_shown(imp, why) for imp in imports() if (why := _upward(imp)) is not None]
    assert not found, f"{len(found)} imports against the layers:\n" + "\n".join(found)


def test_the_checks_see_what_they_look_for() -> None:
    """The scanner itself: it finds imports in functions, under TYPE_CHECKING, relative ones."""
    assert modules()["pipeline.adapters.provider.limiter"].name == "limiter.py"
    assert layer_of("pipeline.adapters.provider.limiter") == ("adapters", 2)
    assert layer_of("pipeline.settings") == ("core", 0)
    assert layer_of("workers.tasks") == ("workers", 6)
    assert layer_of("pipeline.nowhere") is None
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pipeline.errors import Stop\n"
        "def f():\n    from pipeline import settings\n"
        "class C:\n    def m(self):\n        import workers.tasks\n"
    )
    seen = [
        (node.lineno, function, type_only) for node, function, type_only in _walk(tree, None, False)
    ]
    assert seen == [(1, None, False), (3, None, True), (5, "f", False), (8, "m", False)]
    relative = ast.parse("from . import keys\nfrom ..db import models\n").body
    assert isinstance(relative[0], ast.ImportFrom) and isinstance(relative[1], ast.ImportFrom)
    source = "pipeline.adapters.provider.client"
    assert _targets(relative[0], source, False) == {"pipeline.adapters.provider.keys"}
    assert _targets(relative[1], source, False) == {"pipeline.adapters.db.models"}
    assert _upward(
        Import("pipeline.telemetry.metrics", "pipeline.adapters.db", ROOT, 1, None, True)
    )
    assert _upward(Import("pipeline.operator.cli", "workers.tasks", ROOT, 1, None, False))
    assert _upward(Import("pipeline.operator.cli", "devkit.demo", ROOT, 1, None, False))
    assert not _upward(Import("workers.tasks", "pipeline.stages.submit", ROOT, 1, None, False))
    assert _cycles({"a": {"b"}, "b": {"c", "a"}, "c": set()}) == [["a", "b"]]
