"""The commands that run and look after the service: migrate, workers, keys."""

from __future__ import annotations

import os
import sys

import click
from rich.console import Console
from rich.table import Table

from pipeline.adapters.provider import get_redis
from pipeline.adapters.provider.keys import KeyState, key_states, pool_from, unpark
from pipeline.adapters.schema import migrate
from pipeline.operator.cli_support import console, need_services
from pipeline.settings import get_settings


@click.command("migrate")
def migrate_cmd() -> None:
    """Create the database if needed and apply every migration."""
    settings = get_settings()
    need_services()
    migrate(settings)
    console.print("[green]database is at the latest migration[/]")


@click.command()
def workers() -> None:
    """Run this host's worker nodes and beat (one beat in all hosts sends), restarting any."""
    need_services()
    # The supervisor needs little of what the CLI loaded: start it afresh in this process.
    os.execv(sys.executable, [sys.executable, "-m", "pipeline.runtime.supervisor"])


@click.command()
@click.option("--unpark", "unpark_id", metavar="KEY_ID", help="Let a parked key take calls again.")
def keys(unpark_id: str | None) -> None:
    """The API keys of the pool: calls today, budget, and which are parked and why."""
    need_services()
    pool = pool_from(get_settings())
    if not pool:
        raise click.UsageError(
            "no API key configured: set SCANGRADE_BAIDU_API_KEY and SCANGRADE_BAIDU_SECRET_KEY, "
            "or SCANGRADE_BAIDU_KEYS"
        )
    if unpark_id is not None:
        if unpark_id not in {key.key_id for key in pool}:
            raise click.UsageError(f"{unpark_id} is not a key of the pool (see scangrade keys)")
        done = unpark(get_redis(), unpark_id)
        console.print(f"{unpark_id} {'unparked' if done else 'was not parked'}")
    Console().print(_keys_table(key_states(get_redis(), pool)))


def _keys_table(states: list[KeyState]) -> Table:
    """One row per key: its calls today against its budget, and whether it is parked."""
    table = Table("key", "calls today", "daily budget", "state")
    for state in states:
        parked = "open"
        if state.parked is not None:
            until = f" for {state.parked_for_s:.0f} s" if state.parked_for_s else ""
            parked = f"[red]parked{until}[/]: {state.parked}"
        budget = "-" if state.daily_budget is None else str(state.daily_budget)
        table.add_row(state.key_id, str(state.calls_today), budget, parked)
    return table


COMMANDS = (migrate_cmd, workers, keys)
