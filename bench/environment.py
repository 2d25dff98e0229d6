"""A clean slate per scenario: its own Postgres database, Redis db number and settings.

Nothing of one scenario may leak into the next (a limiter's state, a queued message, a row),
or the second scenario would measure the first one's leftovers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import httpx
import redis
from sqlalchemy.engine import make_url

from pipeline.services import drop_database, forget_connections
from pipeline.settings import Settings, get_settings

_OWNER_KEY = "scangrade:test-owner"
"""The key tests/conftest.py claims its Redis db with (SET NX): holding it keeps a test run
out of the bench's db, and its presence keeps the bench out of a test run's."""
_OWNER = "make-bench"
_OWNER_TTL_S = 6 * 3600
_REDIS_DBS = range(1, 16)
"""db 0 is the default deployment's; the tests claim numbers from the same range."""


def database_url(server_url: str, scenario: str) -> str:
    """A fresh database name on the configured Postgres server, for one scenario."""
    name = f"scangrade_bench_{scenario.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def redis_db_url(server_url: str, number: int) -> str:
    """The configured Redis server's URL, pointing at db ``number``."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{number}"))


@contextmanager
def claimed_redis_db(server_url: str) -> Iterator[str]:
    """An empty Redis db number of our own, flushed before use and after.

    A db holding anyone else's keys (a test run's, a deployment's) is never taken, so the
    flushes can only ever remove the benchmark's own data.
    """
    url, client = _claim(server_url)
    try:
        with client.pipeline(transaction=True) as flush:  # never unclaimed in between
            flush.flushdb()
            flush.set(_OWNER_KEY, _OWNER, ex=_OWNER_TTL_S)
            flush.execute()
        yield url
    finally:
        client.flushdb()
        client.close()


def _claim(server_url: str) -> tuple[str, redis.Redis]:
    for number in _REDIS_DBS:
        url = redis_db_url(server_url, number)
        client = redis.Redis.from_url(url)
        if client.set(_OWNER_KEY, _OWNER, nx=True, ex=_OWNER_TTL_S):
            if client.dbsize() == 1:
                return url, client
            client.delete(_OWNER_KEY)
        client.close()
    raise RuntimeError(f"no empty Redis db number ({_REDIS_DBS.start}-{_REDIS_DBS.stop - 1})")


@contextmanager
def scenario_settings(values: Mapping[str, str]) -> Iterator[Settings]:
    """Point the bench process's settings at one scenario's services; restore them after.

    The bench process migrates, creates the bucket and reads Postgres through the pipeline's
    own helpers, and those read their settings from the environment, as the workers do.
    """
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    forget_connections()
    try:
        yield get_settings()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        forget_connections()


def drop_scenario_database(settings: Settings) -> None:
    """Drop the scenario's database once this process holds no connection to it."""
    forget_connections()
    drop_database(settings)


def reset_s3(s3_url: str) -> None:
    """Forget every bucket and object of moto's in-memory S3, so memory does not pile up."""
    httpx.post(f"{s3_url}/moto-api/reset", timeout=30).raise_for_status()
