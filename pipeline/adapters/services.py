"""Reaching Postgres and Redis, and letting go of every connection.

When a service is down the operator is told exactly what to start; nothing here starts a
service (``make up`` does that on purpose). Creating the database and migrating it are
``pipeline.adapters.schema``'s (Alembic is loaded only by what migrates).
"""

from __future__ import annotations

import logging

import psycopg
import redis
from sqlalchemy.engine import make_url

from pipeline.adapters import broker, objectstore, provider
from pipeline.adapters.db.session import dispose_engine
from pipeline.errors import ServiceDown as ServiceDown  # defined with the others; kept here
from pipeline.settings import Settings, get_settings

log = logging.getLogger(__name__)

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
