"""Reaching Postgres and Redis, creating the database, and applying migrations.

When a service is down the operator is told exactly what to start; nothing here starts a
service (``make up`` does that on purpose). The migrations ship inside the package
(``pipeline/migrations``), so an installed copy migrates without the source tree.
"""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
import redis
from alembic import command
from alembic.config import Config
from psycopg import sql
from sqlalchemy.engine import make_url

from pipeline import migrations
from pipeline.adapters import broker, objectstore, provider
from pipeline.adapters.db.session import dispose_engine
from pipeline.errors import ServiceDown as ServiceDown  # defined with the others; kept here
from pipeline.settings import Settings, get_settings

log = logging.getLogger(__name__)

MIGRATIONS = Path(migrations.__file__).resolve().parent
"""Alembic's script directory (env.py, versions/), wherever the package is installed."""

_HOW_TO_START = {
    "postgres": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
    "   (or, with Docker, in the checkout: make up)",
    "redis": 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" '
    "--appendonly no   (or, with Docker, in the checkout: make up)",
}


def forget_connections() -> None:
    """Drop every cached client and re-read the settings.

    For a forked worker child (never share a parent's connections) and for processes that
    change their settings at run time (the demo, the tests).
    """
    get_settings.cache_clear()
    dispose_engine()
    provider.reset_clients()
    objectstore.get_store.cache_clear()
    broker.reset_producer()


def server_dsn(settings: Settings, database: str | None = None) -> str:
    """A libpq DSN for the configured Postgres server, on ``database`` (default ``postgres``).

    Creating (or dropping) the configured database needs a connection to another one.
    """
    url = make_url(settings.database_url)
    url = url.set(drivername="postgresql", database=database or "postgres")
    return url.render_as_string(hide_password=False)


def problems(settings: Settings) -> dict[str, str]:
    """Which of Postgres and Redis do not answer, with the error."""
    found: dict[str, str] = {}
    try:
        psycopg.connect(server_dsn(settings), connect_timeout=3).close()
    except psycopg.Error as e:
        found["postgres"] = str(e).strip().splitlines()[0]
    try:
        redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as e:
        found["redis"] = str(e)
    return found


def ensure_services(settings: Settings) -> None:
    """Return if Postgres and Redis answer; else raise ServiceDown saying what to start.

    Starts nothing: a command that brought up containers as a side effect would run services
    the operator did not ask for, on a host that may not be the one meant to hold them.
    """
    down = problems(settings)
    if down:
        lines = [
            f"{name} is not reachable ({error}). Start it with:\n    {_HOW_TO_START[name]}"
            for name, error in down.items()
        ]
        raise ServiceDown("\n".join(lines))


def create_database(settings: Settings) -> bool:
    """Create the configured database if it does not exist; True if it was created."""
    name = make_url(settings.database_url).database
    assert name, "SCANGRADE_DATABASE_URL names no database"
    with psycopg.connect(server_dsn(settings), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def alembic_config(database_url: str) -> Config:
    """Alembic's configuration for ``database_url``, built from the package: no file is read."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["database_url"] = database_url
    return config


def migrate(settings: Settings, revision: str = "head") -> None:
    """Create the database if needed and apply the Alembic migrations."""
    create_database(settings)
    command.upgrade(alembic_config(settings.database_url), revision)
