"""A periodic run is timed, in all and in its SQL: what the scale study reads per tick."""

from __future__ import annotations

import uuid

import redis
from prometheus_client import REGISTRY
from sqlalchemy import text

from pipeline.adapters.db.session import session_scope, timing_queries
from pipeline.runtime.leader import LEASE_KEY, periodic_run
from pipeline.settings import Settings


def _sample(name: str, task: str) -> float:
    return REGISTRY.get_sample_value(name, {"task": task}) or 0.0


def test_the_query_clock_counts_the_statements_run_within_it(env: Settings) -> None:
    with session_scope() as session:
        session.execute(text("select 1"))  # outside: not counted
        with timing_queries() as clock:
            session.execute(text("select pg_sleep(0.05)"))
            session.execute(text("select 1"))
    assert clock.statements == 2
    assert 0.05 <= clock.seconds < 1.0


def test_a_periodic_run_records_its_time_and_its_sqls(env: Settings) -> None:
    client = redis.Redis.from_url(env.redis_url)
    task = f"test-timed-{uuid.uuid4().hex[:8]}"
    with periodic_run(client, task, None) as go:  # by hand, no beat leads: it runs
        assert go
        with session_scope() as session:
            session.execute(text("select pg_sleep(0.05)"))
    assert _sample("scangrade_periodic_query_seconds_count", task) == 1
    query_s = _sample("scangrade_periodic_query_seconds_sum", task)
    assert 0.05 <= query_s <= _sample("scangrade_periodic_seconds_sum", task) < 1.0
    client.set(LEASE_KEY, "another-beat")  # a beat leads: a run by hand is not
    try:
        with periodic_run(client, task, None) as go:
            assert not go
    finally:
        client.delete(LEASE_KEY)
    assert _sample("scangrade_periodic_seconds_count", task) == 1
