"""``scangrade``: the operator's commands.

Exit codes (:class:`pipeline.errors.ExitCode`): 0 success; 1 the batch ended with failures; 2
usage error (an unknown batch, user or class, a username taken); 3 a service (Postgres, Redis,
S3, a webhook) is unreachable; 4 configuration error (no API key, S3 credentials missing or
refused, a webhook refused); 5 ``check`` found rows their other rows do not back; 130 stopped
with Ctrl-C (``status --watch``). A command returns its exit
code or raises one of scangrade's errors, which carries its code and its message: the group
(``_Commands``) is the one place either becomes the exit, an error as its message on stderr,
never a traceback.

Results, tables and summaries go to stdout (``scangrade status X > night.log``); progress bars,
errors and log lines to stderr, where only warnings show unless ``-v``.

The commands live by area: ``batches`` (enqueue, status, check, cancel, retry, replay),
``results`` (report, export, notify), ``service`` (migrate, workers, keys), ``users`` (the
review app's accounts), ``watch``, ``web`` (serve: the review app itself),
``labels`` (the QR labels printed before scanning). ``demo``
and ``simulator`` belong to the dev kit of a clone (``devkit.commands``), which the installed
package does not have: there they only say so.

An area's module is imported when one of its commands runs (click's lazy subcommands), so a
command loads what it uses and no more: ``scangrade status`` neither the PDF and web
libraries of the report, the labels and the review app, nor the dev kit's S3 stand-in.
``--help`` lists every command and so imports every area.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from pipeline.errors import NeedsClone, ScangradeError
from pipeline.operator.cli_support import progress_console
from pipeline.settings import get_settings, load_env_file
from pipeline.telemetry.logs import configure_logging, one_line

#: Services whose log is their output: they log at SCANGRADE_LOG_LEVEL without -v.
_SERVICES = frozenset({"workers", "simulator", "serve"})

#: The modules of a clone that the wheel leaves out, and the plugin that brings their commands.
_DEV_KIT, _DEV_KIT_COMMANDS = frozenset({"devkit", "simulator"}), "devkit.commands"

#: Each area's module and the commands its ``COMMANDS`` holds, by name.
AREAS = {
    "pipeline.operator.cli.batches": ("enqueue", "status", "check", "cancel", "retry", "replay"),
    "pipeline.operator.cli.results": ("report", "export", "notify"),
    "pipeline.operator.cli.service": ("migrate", "workers", "keys"),
    "pipeline.operator.cli.users": ("users",),
    "pipeline.operator.cli.watch": ("watch",),
    "pipeline.operator.cli.web": ("serve",),
    "pipeline.operator.cli.labels": ("labels",),
    _DEV_KIT_COMMANDS: ("demo", "simulator"),
}
_AREA_OF = {name: module for module, names in AREAS.items() for name in names}


class _Commands(click.Group):
    """The command group: the one place a command's outcome becomes the exit code.

    Its commands are loaded by name from their area's module (:data:`AREAS`) when asked for.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_AREA_OF})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = _AREA_OF.get(cmd_name)
        if module is None:
            return super().get_command(ctx, cmd_name)
        commands = _area_commands(module)
        return next(command for command in commands if command.name == cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Exit with the code the command returned, or with the code of the error it raised."""
        try:
            code = super().invoke(ctx)
        except ScangradeError as e:
            for line in e.lines():
                progress_console.print(Text(one_line(line), style="red"), soft_wrap=True)
            ctx.exit(e.exit_code)
        if isinstance(code, int) and code:
            ctx.exit(code)
        return code


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Show the log on stderr: -v at SCANGRADE_LOG_LEVEL (INFO), -vv DEBUG.",
)
@click.option(
    "--env-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read SCANGRADE_* settings from this file, over the environment's (the demo writes "
    "var/demo/scangrade.env, which reaches its database and S3).",
)
@click.pass_context
def main(ctx: click.Context, verbose: int, env_file: Path | None) -> None:
    """Bulk grading of school scans through the provider's education OCR APIs."""
    if env_file is not None:
        load_env_file(env_file)
    level = {0: "WARNING", 1: None}.get(verbose, "DEBUG")
    if ctx.invoked_subcommand in _SERVICES and not verbose:
        level = None
    configure_logging(get_settings(), level=level)


def _needs_clone(name: str, summary: str) -> click.Command:
    """A dev kit command as an installed copy shows it: listed, and saying what it needs."""

    def refuse() -> None:
        raise NeedsClone(
            f"scangrade {name} needs a clone of the scangrade repository (its dev kit and "
            "simulator are not in the installed package): run `make demo` from a clone"
        )

    return click.Command(
        name,
        callback=refuse,
        help=f"{summary} Needs a clone of the repository (make demo).",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


def _area_commands(module: str) -> tuple[click.Command, ...]:
    """The ``COMMANDS`` of an area's module; for the dev kit's, stand-ins when it is absent."""
    try:
        area = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if module != _DEV_KIT_COMMANDS or (e.name or "").partition(".")[0] not in _DEV_KIT:
            raise
        return (
            _needs_clone("demo", "Run a bundled sample batch end to end on local stand-ins."),
            _needs_clone("simulator", "Run the provider simulator."),
        )
    commands: tuple[click.Command, ...] = area.COMMANDS
    return commands
