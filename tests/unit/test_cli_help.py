"""Every command explains itself: ``--help`` works and says what the command is for."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from pipeline.operator.cli import AREAS, main

CONTEXT = click.Context(main)


def commands() -> list[str]:
    assert isinstance(main, click.Group)
    return main.list_commands(CONTEXT)


def command_named(name: str) -> click.Command:
    found = main.get_command(CONTEXT, name)
    assert found is not None, name
    return found


def test_the_operator_has_every_command_the_issue_names() -> None:
    wanted = {"enqueue", "status", "watch", "retry", "cancel", "export", "replay", "report"}
    assert wanted <= set(commands())


@pytest.mark.parametrize("command", commands())
def test_help_of_every_command(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert (
        f"Usage: main {command}" in result.output or f"Usage: scangrade {command}" in result.output
    )
    described = command_named(command).get_short_help_str(limit=1000)
    assert described and described in " ".join(result.output.split())


@pytest.mark.parametrize("module", sorted(AREAS))
def test_the_lazy_table_names_each_areas_commands(module: str) -> None:
    """The group loads a command from the module its table names: the table is the module's."""
    area = importlib.import_module(module)
    assert {command.name for command in area.COMMANDS} == set(AREAS[module])


def test_a_command_loads_only_its_area() -> None:
    """``status`` runs without the report's PDF library, the review app's server or moto."""
    probe = (
        "import sys; from pipeline.operator.cli import main; "
        "main(['status', '--help'], standalone_mode=False); "
        "unused = ('reportlab', 'uvicorn', 'moto', 'simulator'); "
        "print(sorted(m for m in unused if m in sys.modules))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert shown.splitlines()[-1] == "[]", shown
