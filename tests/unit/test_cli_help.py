"""Every command explains itself: ``--help`` works and says what the command is for."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from pipeline.operator.cli import main


def commands() -> list[str]:
    assert isinstance(main, click.Group)
    return sorted(main.commands)


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
    described = main.commands[command].get_short_help_str(limit=1000)
    assert described and described in " ".join(result.output.split())
