"""The dev kit's commands, ``scangrade demo`` and ``scangrade simulator``, for a clone.

``pipeline.operator.cli`` registers them through its one plugin hook (it imports this module
by name and never statically): the installed package has neither the dev kit nor the
simulator, and lists stand-ins there that say a clone is needed.
"""

from __future__ import annotations

from pathlib import Path

import click

from devkit.demo import run_demo, serve_demo_s3
from pipeline.operator.cli_support import console, need_services
from pipeline.settings import get_settings
from simulator.__main__ import main as simulator_main
from simulator.config import DEFAULT_KEYS


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def simulator(ctx: click.Context) -> None:
    """Run the provider simulator (see --help of the simulator for its options).

    Without --key it accepts its demo key and the keys of the settings
    (SCANGRADE_BAIDU_API_KEY/SECRET_KEY, SCANGRADE_BAIDU_KEYS), so workers configured for the
    real provider can be pointed at it (SCANGRADE_BAIDU_BASE_URL) as they are.
    """
    args = list(ctx.args)
    if not any(arg == "--key" or arg.startswith("--key=") for arg in args):
        keys = dict(DEFAULT_KEYS) | {
            key.api_key.get_secret_value(): key.secret_key.get_secret_value()
            for key in get_settings().api_keys()
        }
        args = [arg for pair in keys.items() for arg in ("--key", ":".join(pair))] + args
    simulator_main(args)


@click.command()
@click.option(
    "--keep",
    is_flag=True,
    help="Leave the services running at the end; print the exports that reach them and the "
    "pids to stop.",
)
@click.option(
    "--s3-only",
    is_flag=True,
    help="Only start the demo's S3 again, with the objects of every demo so far, and leave it "
    "running (report and replay of a demo batch read it).",
)
@click.option(
    "--dir",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/demo"),
    show_default=True,
    help="Where the demo keeps its S3 objects, settings file, reports and logs.",
)
def demo(keep: bool, s3_only: bool, root: Path) -> int:
    """Run a bundled sample batch end to end on local stand-ins, and show what landed where.

    It writes the batch's teachers' report and prints the commands that look at the batch
    again; its S3 objects stay on disk under --dir for them.
    """
    if s3_only:
        return serve_demo_s3(console, root)
    need_services()
    return run_demo(console, keep=keep, root=root)


COMMANDS = (demo, simulator)
"""What ``pipeline.operator.cli`` adds to its group."""
