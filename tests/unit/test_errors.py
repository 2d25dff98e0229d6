"""Every error of the product descends from the root and carries its exit code and message;
the CLI's one handler turns a raised error into that message on stderr and that code.

Unit tier: no service is reached (the commands below raise before they need one).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

import pipeline
from pipeline.errors import (
    ExitCode,
    NeedsClone,
    ScangradeError,
    ServiceDown,
    StoreRefused,
    SummaryNotSent,
    Transient,
)
from pipeline.operator.cli import main

# Alembic's scripts run only inside a migration; ``__main__`` runs the CLI when imported.
_NOT_IMPORTED = ("pipeline.migrations", "pipeline.operator.cli.__main__")


def _product_modules() -> Iterator[str]:
    for module in pkgutil.walk_packages(pipeline.__path__, "pipeline."):
        if not module.name.startswith(_NOT_IMPORTED):
            yield module.name


def _exception_classes() -> list[type[BaseException]]:
    found = []
    for name in _product_modules():
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == name:
                found.append(value)
    return found


EXCEPTIONS = _exception_classes()


def test_the_product_defines_its_errors_in_more_than_one_module() -> None:
    modules = {kind.__module__ for kind in EXCEPTIONS}
    assert "pipeline.errors" in modules and len(modules) > 1, modules


@pytest.mark.parametrize("kind", EXCEPTIONS, ids=lambda kind: kind.__qualname__)
def test_every_error_descends_from_the_root_with_a_code_and_a_message(
    kind: type[BaseException],
) -> None:
    assert issubclass(kind, ScangradeError), f"{kind.__module__}.{kind.__qualname__}"
    assert isinstance(kind.exit_code, int) and kind.exit_code in set(ExitCode)
    assert kind.exit_code != ExitCode.OK
    assert isinstance(kind.message, str) and kind.message.strip()


def test_an_error_raised_without_text_says_its_message() -> None:
    assert str(StoreRefused()) == StoreRefused.message
    assert str(StoreRefused("S3 refused the key")) == "S3 refused the key"


def test_the_codes_of_the_readme() -> None:
    assert Transient.exit_code == ServiceDown.exit_code == ExitCode.SERVICE == 3
    assert StoreRefused.exit_code == NeedsClone.exit_code == ExitCode.CONFIG == 4


def _group_raising(error: ScangradeError) -> click.Group:
    """A copy of the CLI's group (same handler) with one command that raises ``error``."""
    group = type(main)(name="scangrade", callback=lambda: None)

    @group.command()
    def fails() -> None:
        raise error

    return group


@pytest.mark.parametrize(
    "error",
    [
        SummaryNotSent("not sent, try again later: http://127.0.0.1:9/hook refused"),
        StoreRefused("S3 refuses the credentials: set SCANGRADE_S3_ACCESS_KEY_ID"),
        ScangradeError(),
    ],
    ids=lambda error: type(error).__name__,
)
def test_the_handler_prints_the_message_and_exits_with_the_code(error: ScangradeError) -> None:
    result = CliRunner().invoke(_group_raising(error), ["fails"])
    assert result.exit_code == type(error).exit_code
    assert result.stderr.strip() == str(error) and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_message_on_several_lines_is_printed_as_lines_and_one_line_otherwise() -> None:
    down = ServiceDown("postgres is not reachable (refused).\nStart it with: make up")
    result = CliRunner().invoke(_group_raising(down), ["fails"])
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        "postgres is not reachable (refused).",
        "Start it with: make up",
    ]
    odd = StoreRefused("a name\nwith a newline")
    result = CliRunner().invoke(_group_raising(odd), ["fails"])
    assert result.exit_code == 4 and result.stderr.splitlines() == ["a name\\nwith a newline"]


def test_a_returned_exit_code_is_the_exit_code() -> None:
    group = type(main)(name="scangrade", callback=lambda: None)

    @group.command()
    def findings() -> int:
        return ExitCode.FINDINGS

    assert CliRunner().invoke(group, ["findings"]).exit_code == 5


# An installed copy: the dev kit and the simulator cannot be imported.
_WITHOUT_DEV_KIT = """
import sys
class _Absent:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("devkit", "simulator"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
for name in [m for m in sys.modules if m.partition(".")[0] in ("devkit", "simulator")]:
    del sys.modules[name]
sys.meta_path.insert(0, _Absent())
from pipeline.operator.cli import main
main(sys.argv[1:])
"""


def _installed(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_DEV_KIT, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_the_dev_kit_demo_and_simulator_are_listed() -> None:
    listed = _installed("--help")
    assert listed.returncode == 0, listed.stderr
    assert " demo " in listed.stdout and " simulator " in listed.stdout


@pytest.mark.parametrize("command", ["demo", "simulator"])
def test_without_the_dev_kit_they_say_a_clone_is_needed(command: str) -> None:
    done = _installed(command, "--port", "0")
    assert done.returncode == NeedsClone.exit_code == 4, done.stderr
    [line] = done.stderr.splitlines()
    assert f"scangrade {command} needs a clone" in line and "make demo" in line
    assert "Traceback" not in done.stderr
