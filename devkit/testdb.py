"""A database and a Redis db of their own for each test run, benchmark or demo.

Runs share one Postgres server and one Redis server (a developer's, CI's) with each other and
perhaps with a deployment: each creates a database under its own name and drops it when done,
and claims an empty Redis db number before it flushes one. The product never does either.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql
from sqlalchemy.engine import make_url

from pipeline.adapters.services import forget_connections, server_dsn
from pipeline.settings import Settings, get_settings

REDIS_CLAIM_KEY = "scangrade:test-owner"
"""Marks a Redis db number as taken by a test run or a benchmark (see claim_redis_db)."""


@contextlib.contextmanager
def settings_from(values: Mapping[str, str]) -> Iterator[Settings]:
    """Point this process's settings at a run's own services; restore them after.

    The pipeline's helpers (engines, Redis clients, the broker, the object store) read their
    settings from the environment, as the workers do, so the run sets the environment and
    drops every cached client on the way in and on the way out.
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


def claim_redis_db(server_url: str, owner: str, ttl_s: int = 6 * 3600) -> str:
    """The URL of an empty Redis db (1–15) on ``server_url``, now claimed for ``owner``.

    Test runs and benchmarks each take a db of their own and flush it: a db holding any key
    but the claim (another run's, a deployment's) is never taken, so a flush only ever
    removes the claimant's own data. db 0 is left to deployments.
    """
    for number in range(1, 16):
        url = urlunsplit(urlsplit(server_url)._replace(path=f"/{number}"))
        client = redis.Redis.from_url(url)
        try:
            if client.set(REDIS_CLAIM_KEY, owner, nx=True, ex=ttl_s):
                if client.dbsize() == 1:
                    return url
                client.delete(REDIS_CLAIM_KEY)
        finally:
            client.close()
    raise RuntimeError("no empty Redis db number (1-15) to claim")


def copy_database(settings: Settings, template: str) -> None:
    """Create the configured database as a copy of ``template``, an already migrated one.

    A copy takes a fraction of a second where running the migrations takes seconds, so a test
    module can have a database of its own. Nothing may be connected to ``template``.
    """
    name = make_url(settings.database_url).database
    assert name
    with psycopg.connect(server_dsn(settings), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )


def drop_database(settings: Settings) -> None:
    """Drop the configured database (tests use one database per run)."""
    name = make_url(settings.database_url).database
    assert name
    with psycopg.connect(server_dsn(settings), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
