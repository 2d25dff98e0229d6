"""``scangrade users``: the accounts of the teachers' review app (add, list, disable).

An unknown user or class, or a username taken, is an error of its own (exit 2), turned into
its message by the group's one handler, with nothing written.
"""

from __future__ import annotations

import sys

import click
from rich.table import Table
from rich.text import Text

from pipeline.adapters.db.accounts import ADMIN, Account, add_user, disable_user, list_users
from pipeline.adapters.db.review_tables import ROLES
from pipeline.adapters.db.session import session_scope
from pipeline.operator.cli_support import console, need_services


@click.group()
def users() -> None:
    """The review app's accounts: add, list and disable teachers and admins."""


@users.command("add")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    required=True,
    help="admin: sees and grades every class; teacher: the classes given with --class.",
)
@click.option(
    "--class",
    "class_names",
    metavar="NAME",
    multiple=True,
    help="A class the teacher may see and grade (repeat for more); classes come from enqueue.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin instead of asking for it twice.",
)
def add(username: str, role: str, class_names: tuple[str, ...], password_stdin: bool) -> None:
    """Add the account USERNAME, with its role and, for a teacher, its classes."""
    need_services()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with session_scope() as session:
        add_user(session, username, password, role, class_names)
    sees = "every class" if role == ADMIN else ", ".join(sorted(class_names)) or "no class yet"
    console.print(f"added {role} {username}: sees {sees}", markup=False, highlight=False)


@users.command("list")
def list_cmd() -> None:
    """Every account: its role, the classes it sees, and whether it is disabled."""
    need_services()
    with session_scope() as session:
        accounts = list_users(session)
    console.print(_table(accounts))


def _table(accounts: list[Account]) -> Table:
    table = Table("username", "role", "classes", "disabled")
    for account in accounts:
        classes = "all" if account.role == ADMIN else ", ".join(account.classes) or "-"
        disabled = "" if account.disabled_at is None else f"{account.disabled_at:%Y-%m-%d %H:%M}"
        table.add_row(Text(account.username), account.role, Text(classes), disabled)
    return table


@users.command("disable")
@click.argument("username")
def disable(username: str) -> None:
    """Disable the account USERNAME: it can no longer sign in or grade; its grades stay."""
    need_services()
    with session_scope() as session:
        user = disable_user(session, username)
        when = user.disabled_at
    console.print(f"disabled {username} (since {when:%Y-%m-%d %H:%M})", markup=False)


COMMANDS = (users,)
