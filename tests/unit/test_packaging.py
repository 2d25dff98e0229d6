"""The product, the simulator and the dev kit stay apart (issue 17), read from the source alone.

The wheel ships ``pipeline`` and ``workers`` only, so neither may import ``simulator`` or
``devkit``: the one exception is the operator's commands, which may reach them through
``importlib`` (the ``scangrade simulator``/``demo`` hook says so when they are absent). The
simulator implements the provider's contract on its own: it imports nothing of the product or
the dev kit, or it could pass by sharing the pipeline's misunderstanding.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("pipeline", "workers")
BESIDE = ("simulator", "devkit")
STRICT = ("pipeline/adapters", "pipeline/domain", "pipeline/stages", "pipeline/runtime")
STRICT += ("pipeline/telemetry", "workers")
HOOKS = "pipeline/operator"  # may import the dev kit through importlib, never statically
_DYNAMIC = frozenset({"import_module", "__import__"})


def _modules(folder: str) -> list[Path]:
    found = sorted((ROOT / folder).rglob("*.py"))
    assert found, f"no modules under {folder}"
    return found


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def _package(path: Path) -> tuple[str, ...]:
    return path.relative_to(ROOT).parent.parts


def _static(source: str, package: tuple[str, ...]) -> Iterator[tuple[int, str]]:
    """Every module an ``import`` statement names (at any depth, relative ones resolved)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            yield node.lineno, ".".join([*base, *([node.module] if node.module else [])])


def _dynamic(source: str) -> Iterator[tuple[int, str]]:
    """Every module named by a string in ``importlib.import_module(...)``/``__import__(...)``."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        first = node.args[0]
        if name in _DYNAMIC and isinstance(first, ast.Constant) and isinstance(first.value, str):
            yield node.lineno, first.value


def _offending(folders: tuple[str, ...], forbidden: tuple[str, ...], dynamic: bool) -> list[str]:
    found = []
    for folder in folders:
        for path in _modules(folder):
            source = path.read_text()
            names = [*_static(source, _package(path)), *(_dynamic(source) if dynamic else [])]
            found += [
                f"{path.relative_to(ROOT)}:{line} imports {name}"
                for line, name in names
                if _top(name) in forbidden
            ]
    return found


def test_the_simulator_imports_nothing_of_the_product_or_the_dev_kit() -> None:
    assert _offending(("simulator",), (*PRODUCT, "devkit"), dynamic=True) == []


def test_the_product_never_imports_the_simulator_or_the_dev_kit() -> None:
    assert _offending(STRICT, BESIDE, dynamic=True) == []


def test_the_product_outside_its_roles_never_imports_them_either() -> None:
    """``pipeline``'s own modules (settings, errors, migrations) and any role added later."""
    checked = {ROOT / folder for folder in (*STRICT, HOOKS)}
    rest = [p for p in _modules("pipeline") if not any(p.is_relative_to(c) for c in checked)]
    assert rest, "pipeline/ has modules of its own (settings.py, errors.py)"
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in rest
        for line, name in [*_static(path.read_text(), _package(path)), *_dynamic(path.read_text())]
        if _top(name) in BESIDE
    ]
    assert found == []


def test_the_operators_commands_reach_the_dev_kit_only_through_importlib() -> None:
    assert _offending((HOOKS,), BESIDE, dynamic=False) == []


def test_the_simulator_extra_lists_everything_the_simulator_imports() -> None:
    """``pip install .[simulator]`` (and the Dockerfile's simulator stage) is all it needs."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extra = pyproject["project"]["optional-dependencies"]["simulator"]
    listed = {re.split(r"[<>=\[ ;]", requirement)[0].lower() for requirement in extra}
    distributions = packages_distributions()
    third_party = {
        _top(name)
        for path in _modules("simulator")
        for _, name in _static(path.read_text(), _package(path))
        if _top(name) not in (*sys.stdlib_module_names, "simulator", "__future__")
    }
    assert third_party, "the simulator imports no third-party package?"
    missing = {
        name: distributions.get(name)
        for name in third_party
        if not {d.lower() for d in distributions.get(name, [])} & listed
    }
    assert missing == {}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import devkit.samples", "devkit.samples"),
        ("from simulator.config import SimConfig", "simulator.config"),
        ("def f():\n    from devkit import demo", "devkit"),
        ("from . import x", "pipeline.stages"),
        ("from ..adapters import broker", "pipeline.adapters"),
    ],
)
def test_every_import_form_is_seen(source: str, expected: str) -> None:
    assert [name for _, name in _static(source, ("pipeline", "stages"))] == [expected]


def test_a_string_passed_to_importlib_is_seen() -> None:
    source = 'import importlib\nimportlib.import_module("devkit.demo")\n__import__("simulator")\n'
    assert [name for _, name in _dynamic(source)] == ["devkit.demo", "simulator"]


@pytest.mark.parametrize("module", ["devkit.demo", "devkit.commands", "pipeline.operator.cli"])
def test_each_entry_imports_first_in_a_fresh_interpreter(module: str) -> None:
    """No cycle through the CLI's plugin hook: whichever side is imported first."""
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
