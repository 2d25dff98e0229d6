"""Talking to the workers through the broker: whether they are up, how fast bare hops go.

The bench uses its own small Celery client bound to the scenario's Redis db, never the
workers' app, whose broker URL is fixed when ``workers.app`` is first imported.
"""

from __future__ import annotations

import time

import redis
from celery import Celery

from bench.metrics import ChainRun
from pipeline.adapters.broker import QUEUES, ROUTES, broker_options
from pipeline.settings import Settings
from workers.hops import DONE_KEY, HOP_TASK, LAST_KEY

HOPS = tuple(queue for _, queue in ROUTES.values())
"""The queues a page passes through, in stage order: one no-op chain visits each once."""


def client_app(settings: Settings) -> Celery:
    """A producer and remote-control client for the scenario's broker."""
    app = Celery("scangrade-bench")
    app.conf.update(broker_options(settings))
    return app


def wait_for_workers(app: Celery, timeout_s: float) -> None:
    """Return once every queue has a consumer, so start-up is not timed as work.

    Judged by queue rather than by worker name: how ``scangrade workers`` splits the stages
    into processes is its own business.
    """
    deadline = time.monotonic() + timeout_s
    missing = set(QUEUES)
    while time.monotonic() < deadline:
        replies = app.control.inspect(timeout=1.0).active_queues() or {}
        consumed = {queue["name"] for queues in replies.values() for queue in queues}
        missing = set(QUEUES) - consumed
        if not missing:
            return
    raise TimeoutError(f"no worker consumes {', '.join(sorted(missing))} after {timeout_s:.0f} s")


def run_chains(app: Celery, redis_url: str, count: int, timeout_s: float) -> ChainRun:
    """Start ``count`` chains of no-op hops at once and wait until they all arrive.

    Each chain is one ``scangrade.hop`` message visiting every queue of ``HOPS`` in turn, on
    the same workers as the pipeline: what the broker alone costs a page.
    """
    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(DONE_KEY, LAST_KEY)
        started = time.time()
        with app.producer_or_acquire() as producer:
            for chain_id in range(count):
                app.send_task(
                    HOP_TASK, args=[chain_id, list(HOPS[1:])], queue=HOPS[0], producer=producer
                )
        completed = _wait_count(client, count, time.monotonic() + timeout_s)
        last = client.get(LAST_KEY)
    finally:
        client.close()
    return ChainRun(count, completed, started, float(last) if last else None)


def _wait_count(client: redis.Redis, count: int, deadline: float) -> int:
    """The number of arrived chains once it reaches ``count`` or the deadline passes."""
    while True:
        completed = int(client.get(DONE_KEY) or 0)
        if completed >= count or time.monotonic() > deadline:
            return completed
        time.sleep(0.05)
