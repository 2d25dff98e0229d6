"""The review app's accounts on a real database, through the adapter and ``scangrade users``;
and migration 0012, down and up again: the views as 0011 left them, the tables gone, back.

Passwords are argon2id hashes that analysts may not read; a disabled account, a wrong
password and an unknown name all fail to sign in; an unknown user or class and a username
taken are errors of the error root, exit 2 with one line from the CLI's handler.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy.engine import make_url
from support.review import student

from devkit.testdb import drop_database
from pipeline.adapters.db.accounts import (
    add_user,
    authenticate,
    disable_user,
    find_user,
    list_users,
    visible_class_ids,
)
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.schema import alembic_config, migrate
from pipeline.errors import (
    BadAccount,
    DuplicateUsername,
    RequestRefused,
    UnknownClass,
    UnknownUser,
)
from pipeline.operator.cli import main
from pipeline.settings import Settings

ANALYST = "scangrade_analyst"


@pytest.fixture(scope="module")
def classes(env: Settings) -> dict[str, int]:
    """Three classes, and the account ``taken`` whose name the tests try to use again."""
    found = {name: student(name, f"someone-of-{name}")[0] for name in ("8A", "8B", "8C")}
    with session_scope() as session:
        add_user(session, "taken", "pw", "teacher", [])
    return found


def users(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(main, ["users", *args], input=input)


def test_add_authenticate_and_see_classes(classes: dict[str, int]) -> None:
    with session_scope() as session:
        teacher = add_user(session, "mr-wu", "s3cret pass", "teacher", ["8A", "8B", "8A"])
        admin = add_user(session, "root", "root pass", "admin", [])
    assert teacher.password_hash.startswith("$argon2id$") and "s3cret" not in teacher.password_hash
    with session_scope() as session:
        signed_in = authenticate(session, "mr-wu", "s3cret pass")
        assert signed_in is not None and signed_in.id == teacher.id
        assert authenticate(session, "mr-wu", "s3cret Pass") is None
        assert authenticate(session, "nobody", "s3cret pass") is None
        assert visible_class_ids(session, teacher) == {classes["8A"], classes["8B"]}
        everything = visible_class_ids(session, admin)
    assert {classes["8A"], classes["8B"], classes["8C"]} <= everything


def test_a_disabled_account_cannot_sign_in(classes: dict[str, int]) -> None:
    with session_scope() as session:
        add_user(session, "ms-qian", "pw", "teacher", ["8C"])
        disable_user(session, "ms-qian")
        assert find_user(session, "ms-qian").disabled_at is not None
        assert authenticate(session, "ms-qian", "pw") is None


@pytest.mark.parametrize(
    ("error", "args"),
    [
        (DuplicateUsername, ("taken", "other", "teacher", ["8A"])),
        (UnknownClass, ("new-one", "pw", "teacher", ["8A", "9Z"])),
        (BadAccount, ("no-password", "", "teacher", [])),
        (BadAccount, ("bad-role", "pw", "principal", [])),
        (BadAccount, ("admin-with-class", "pw", "admin", ["8A"])),
        (BadAccount, (" spaced ", "pw", "teacher", [])),
    ],
    ids=["name taken", "unknown class", "no password", "bad role", "admin with class", "spaces"],
)
def test_wrong_accounts_are_refused_and_write_nothing(
    classes: dict[str, int], error: type[RequestRefused], args: tuple[Any, ...]
) -> None:
    with session_scope() as session:
        before = list_users(session)
    with pytest.raises(error) as raised, session_scope() as session:
        add_user(session, *args)
    assert raised.value.exit_code == 2 and str(raised.value) != raised.value.message
    with session_scope() as session:
        assert list_users(session) == before


def test_cli_adds_lists_and_disables(classes: dict[str, int]) -> None:
    added = users("add", "t-zhou", "--role", "teacher", "--class", "8B", "--class", "8A",
                  "--password-stdin", input="from stdin\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "added teacher t-zhou: sees 8A, 8B" in added.output
    prompted = users("add", "a-sun", "--role", "admin", input="typed twice\ntyped twice\n")
    assert prompted.exit_code == 0, prompted.output
    assert "typed twice" not in prompted.output  # hidden input
    with session_scope() as session:
        assert authenticate(session, "t-zhou", "from stdin") is not None
        assert authenticate(session, "a-sun", "typed twice") is not None
    disabled = users("disable", "t-zhou")
    assert disabled.exit_code == 0 and "disabled t-zhou" in disabled.output
    listed = users("list")
    assert listed.exit_code == 0, listed.output
    lines = {line.split()[1]: line for line in listed.output.splitlines() if "│" in line[:3]}
    assert "8A, 8B" in lines["t-zhou"] and "teacher" in lines["t-zhou"]
    assert any(char.isdigit() for char in lines["t-zhou"].split("│")[4])  # disabled when
    assert "all" in lines["a-sun"] and not any(c.isdigit() for c in lines["a-sun"].split("│")[4])


def test_cli_asks_again_when_the_two_passwords_differ(classes: dict[str, int]) -> None:
    result = users("add", "t-mismatch", "--role", "teacher", input="one\ntwo\nthree\nthree\n")
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    with session_scope() as session:
        assert authenticate(session, "t-mismatch", "three") is not None
        assert authenticate(session, "t-mismatch", "one") is None


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("disable", "no-such-user"), "no user named 'no-such-user'"),
        (("add", "x", "--role", "teacher", "--class", "9Z", "--password-stdin"), "9Z"),
        (("add", "taken", "--role", "teacher", "--password-stdin"), "exists already"),
        (("add", "y", "--role", "teacher", "--password-stdin"), "may not be empty"),
    ],
    ids=["unknown user", "unknown class", "duplicate", "empty password"],
)
def test_cli_errors_exit_2_with_one_line(
    classes: dict[str, int], args: tuple[str, ...], says: str
) -> None:
    result = users(*args, input="\n" if args[1] == "y" else "pw\n")
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert UnknownUser.exit_code == UnknownClass.exit_code == DuplicateUsername.exit_code == 2


def _dsn(settings: Settings, database: str | None = None) -> str:
    url = make_url(settings.database_url).set(drivername="postgresql")
    return url.set(database=database or url.database).render_as_string(hide_password=False)


def test_analysts_read_accounts_but_not_password_hashes(env: Settings) -> None:
    with psycopg.connect(_dsn(env)) as conn:
        conn.execute(f"SET LOCAL ROLE {ANALYST}")
        conn.execute("SELECT id, username, role, created_at, disabled_at FROM users").fetchall()
        conn.execute("SELECT * FROM user_classes, grade_overrides LIMIT 1").fetchall()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT password_hash FROM users")


VIEWS_AND_COMMENTS = """
    SELECT c.relname, pg_get_viewdef(c.oid, true), obj_description(c.oid, 'pg_class'),
           array_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod) || ':'
                     || coalesce(col_description(c.oid, a.attnum), '') ORDER BY a.attnum),
           has_table_privilege('scangrade_analyst', c.oid, 'SELECT')
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
    WHERE c.relkind = 'v' AND c.relnamespace = 'public'::regnamespace
    GROUP BY c.oid ORDER BY c.relname
"""


TABLES = (
    "SELECT count(*) FROM pg_tables WHERE tablename IN ('users', 'user_classes', 'grade_overrides')"
)


def test_migration_down_restores_0011_and_up_again(env: Settings) -> None:
    url = make_url(env.database_url)
    name = f"{url.database}_0012"
    scratch = env.model_copy(
        update={"database_url": url.set(database=name).render_as_string(False)}
    )
    config = alembic_config(scratch.database_url)
    tables = TABLES
    partial = "SELECT meaning FROM correct_results WHERE code = 4"
    try:
        migrate(scratch, "0011_repairs")
        with psycopg.connect(_dsn(scratch, name), autocommit=True) as conn:
            before = conn.execute(VIEWS_AND_COMMENTS).fetchall()
            command.upgrade(config, "0012_teacher_review")
            assert conn.execute(tables).fetchone() == (3,)
            assert len(conn.execute(VIEWS_AND_COMMENTS).fetchall()) == len(before) + 3
            conn.execute(
                "INSERT INTO users (username, password_hash, role) VALUES ('u', 'h', 'admin')"
            )
            command.downgrade(config, "0011_repairs")
            assert conn.execute(VIEWS_AND_COMMENTS).fetchall() == before
            assert conn.execute(tables).fetchone() == (0,)
            assert conn.execute("SELECT max(code) FROM correct_results").fetchone() == (3,)
            command.upgrade(config, "head")  # and on through the migrations after it
            assert conn.execute(tables).fetchone() == (3,)
            assert conn.execute(partial).fetchone() == ("partial",)
    finally:
        drop_database(scratch)
