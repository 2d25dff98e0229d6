"""Security (issue 5, item 7) on real services.

- No access token, key or secret anywhere: after a run through real workers that includes
  failures (rejected and broken files, a page the provider refuses, tokens rejected and
  refreshed, a token endpoint and an API answering 5xx, a result URL refused once) and a call
  made with a wrong secret, none of the secrets and none of the token answers the simulator
  ever granted is in any log file, any column of any table, or any S3 object.
- Every local service listens on loopback only, and does by default.
- ``scangrade_analyst`` reads the result tables and views, and writes and creates nothing.
- S3 objects are private; keys are made of ids; a file reached through a symlink that leads
  out of the scanned directory is never read.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import make_url
from support.security import listening

from devkit.standins import start_simulator
from devkit.testdb import drop_database
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.schema import alembic_config, migrate
from pipeline.settings import Settings
from simulator.config import SimConfig

ANALYST = "scangrade_analyst"


def _relations() -> list[str]:
    """Every table and view of the schema."""
    with session_scope() as session:
        return list(
            session.scalars(
                text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public' ORDER BY table_name"
                )
            )
        )


def _dsn(settings: Settings, database: str | None = None) -> str:
    url = make_url(settings.database_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def _as_analyst(dsn: str, statement: str) -> str | None:
    """Run one statement as scangrade_analyst, rolled back; the SQLSTATE if it failed."""
    with psycopg.connect(dsn) as conn:
        conn.execute(f"SET LOCAL ROLE {ANALYST}")
        try:
            conn.execute(statement)
        except psycopg.Error as e:
            return e.sqlstate
        finally:
            conn.rollback()
    return None


def test_analyst_reads_every_table_and_view(env: Settings) -> None:
    relations = _relations()
    assert {"batches", "pages", "questions", "slots", "essays", "correct_results"} <= {*relations}
    dsn = _dsn(env)
    readable = {name: _as_analyst(dsn, f'SELECT * FROM "{name}" LIMIT 1') for name in relations}
    assert readable.pop("alembic_version") == "42501"
    # the review app's accounts, but for their password hashes (0012)
    assert readable.pop("users") == "42501"
    assert _as_analyst(dsn, "SELECT id, username, role, created_at, disabled_at FROM users") is None
    assert _as_analyst(dsn, "SELECT password_hash FROM users") == "42501"
    assert readable == dict.fromkeys(readable)


PERMISSION_DENIED = "42501"


WRITES = [
    "INSERT INTO batches (name, root_dir, api) VALUES ('x', '/x', 'correct_edu')",
    "UPDATE pages SET state = 'failed'",
    "DELETE FROM slots",
    "TRUNCATE questions",
    "INSERT INTO correct_results VALUES (99, 'x')",
    "UPDATE alembic_version SET version_num = 'x'",
    "CREATE TABLE public.notes (id int)",
    "CREATE VIEW public.mine AS SELECT 1 AS one",
    "CREATE SCHEMA analyst_scratch",
    "CREATE INDEX ix_mine ON batches (name)",
    "ALTER TABLE batches ADD COLUMN mine text",
    "DROP TABLE slots",
    "CREATE FUNCTION public.mine() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE SEQUENCE public.mine",
    "COMMENT ON TABLE batches IS 'mine'",
]


@pytest.mark.parametrize("statement", WRITES, ids=lambda s: " ".join(s.split()[:2]))
def test_analyst_writes_and_creates_nothing(env: Settings, statement: str) -> None:
    assert _as_analyst(_dsn(env), statement) == PERMISSION_DENIED


def test_analyst_reads_what_later_migrations_create(env: Settings) -> None:
    """Default privileges: a view added the way a migration adds it is readable at once."""
    with psycopg.connect(_dsn(env)) as conn:
        conn.execute("CREATE VIEW later_view AS SELECT id, name FROM batches")
        conn.execute(f"SET LOCAL ROLE {ANALYST}")
        conn.execute("SELECT * FROM later_view").fetchall()
        conn.rollback()


def test_analyst_role_downgrade_revokes_and_upgrade_grants_again(env: Settings) -> None:
    name = f"{make_url(env.database_url).database}_analyst"
    scratch = env.model_copy(
        update={"database_url": make_url(env.database_url).set(database=name).render_as_string()}
    )
    config = alembic_config(scratch.database_url)
    check = f"SELECT has_table_privilege('{ANALYST}', 'batches', 'SELECT')"
    try:
        migrate(scratch)  # the role exists already: created only if missing
        with psycopg.connect(_dsn(env, name), autocommit=True) as conn:
            assert conn.execute(check).fetchone() == (True,)
            command.downgrade(config, "0005")
            assert conn.execute(check).fetchone() == (False,)
            exists = f"SELECT count(*) FROM pg_roles WHERE rolname = '{ANALYST}'"
            assert conn.execute(exists).fetchone() == (1,)
            command.upgrade(config, "head")
            assert conn.execute(check).fetchone() == (True,)
    finally:
        drop_database(scratch)


def test_simulator_binds_loopback_by_default(logs_dir: Path) -> None:
    assert SimConfig().host == "127.0.0.1"
    service = start_simulator(log=logs_dir / "simulator-default.log")
    try:
        assert service.url.startswith("http://127.0.0.1:")
        port = service.url.rsplit(":", 1)[1]
        assert listening(service.process.pid) == [f"127.0.0.1 {port}"]
    finally:
        service.stop()
