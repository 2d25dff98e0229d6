"""The house stays in order: no module over 500 lines, no function over 50 (issue 17).

Reads the sources only, so it needs no service. Migrations are exempt: each is one revision,
written once. A function's length runs from its ``def`` line to its last line, docstring
included. Run it as a script to list the offenders without pytest.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "workers", "simulator", "devkit", "bench", "tests")
EXEMPT = (Path("pipeline", "migrations"),)
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 50


def modules() -> Iterator[Path]:
    """Every Python module of the checked packages, relative to the repository, but migrations."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if not any(relative.is_relative_to(exempt) for exempt in EXEMPT):
                yield relative


def long_modules() -> list[str]:
    """``path: N lines`` for each module over the limit."""
    offenders: list[str] = []
    for path in modules():
        count = len((ROOT / path).read_text(encoding="utf-8").splitlines())
        if count > MAX_MODULE_LINES:
            offenders.append(f"{path}: {count} lines")
    return offenders


def long_functions() -> list[str]:
    """``path:line name: N lines`` for each function over the limit, methods and nested ones too."""
    offenders: list[tuple[Path, int, str]] = []
    for path in modules():
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                count = node.end_lineno - node.lineno + 1
                if count > MAX_FUNCTION_LINES:
                    offenders.append((path, node.lineno, f"{node.name}: {count} lines"))
    return [f"{path}:{line} {what}" for path, line, what in sorted(offenders)]


def test_the_checked_packages_are_found() -> None:
    found = {path.parts[0] for path in modules()}
    assert found == set(PACKAGES)
    assert not any(path.parts[:2] == ("pipeline", "migrations") for path in modules())


def test_no_module_is_over_500_lines() -> None:
    offenders = long_modules()
    assert not offenders, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(offenders)


def test_no_function_is_over_50_lines() -> None:
    offenders = long_functions()
    assert not offenders, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(offenders)


if __name__ == "__main__":
    found = long_modules() + long_functions()
    print("\n".join(found) or "no module or function over its limit")
    sys.exit(1 if found else 0)
