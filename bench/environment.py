"""A clean slate per scenario: its own Postgres database, Redis db number and settings.

Nothing of one scenario may leak into the next (a limiter's state, a queued message, a row),
or the second scenario would measure the first one's leftovers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import redis
from sqlalchemy.engine import make_url

from devkit.testdb import claim_redis_db, drop_database
from pipeline.adapters.services import forget_connections
from pipeline.settings import Settings

_OWNER = "make-bench"


def database_url(server_url: str, scenario: str) -> str:
    """A fresh database name on the configured Postgres server, for one scenario."""
    name = f"scangrade_bench_{scenario.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@contextmanager
def claimed_redis_db(server_url: str) -> Iterator[str]:
    """An empty Redis db of our own (``claim_redis_db``), flushed when the scenario ends."""
    url = claim_redis_db(server_url, _OWNER)
    client = redis.Redis.from_url(url)
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


def drop_scenario_database(settings: Settings) -> None:
    """Drop the scenario's database once this process holds no connection to it."""
    forget_connections()
    drop_database(settings)


def reset_s3(s3_url: str) -> None:
    """Forget every bucket and object of moto's in-memory S3, so memory does not pile up."""
    httpx.post(f"{s3_url}/moto-api/reset", timeout=30).raise_for_status()
