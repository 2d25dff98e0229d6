"""Whatever breaks in the night, the morning finds every page done, nothing doubled, and every
create_task call accounted for: workers, Redis, Postgres and S3 failing under a running batch.

The provider's own misbehaviour is test_faults_provider's; both run on ``support.faults``'
stack, each its own, so the two run side by side.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from support.faults import PAGES, Stack, assert_whole, fault_stack, run_batch

from pipeline.adapters.services import forget_connections


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with fault_stack(tmp_path_factory) as services:
        yield services


def _kill_worker(group: int, name: str) -> int:
    """SIGKILL every process of one worker node of this stack (its pool children too).

    Only processes in the stack's process group ``group``: other test runs on this machine
    start workers of the same names.
    """
    killed = 0
    for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
        try:
            cmdline = b" ".join(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"))
            ours = os.getpgid(pid) == group
        except OSError:
            continue
        if ours and b"celery" in cmdline and f"{name}@".encode() in cmdline:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
    return killed


def test_workers_killed_mid_batch(stack: Stack) -> None:
    killed: list[int] = []

    def kill() -> None:
        group = stack.workers.process.pid  # started as its own process group
        killed.extend(_kill_worker(group, name) for name in ("submit", "poll", "persist"))

    batch_id = run_batch(stack, "killed-workers", kill)
    assert all(killed), killed
    accounts = assert_whole(stack, batch_id)
    print(f"workers killed: {sum(accounts.creates.values())} tasks for {PAGES} pages")


def test_redis_flushed_mid_batch(stack: Stack) -> None:
    batch_id = run_batch(stack, "redis-flushed", redis.Redis.from_url(stack.redis.url).flushall)
    assert_whole(stack, batch_id)


def test_redis_restarted_mid_batch(stack: Stack) -> None:
    def restart() -> None:
        stack.redis.stop()
        time.sleep(3)
        stack.redis.start()

    batch_id = run_batch(stack, "redis-restarted", restart)
    assert_whole(stack, batch_id)


def test_postgres_restarted_mid_batch(stack: Stack) -> None:
    batch_id = run_batch(stack, "postgres-restarted", stack.postgres.restart)
    forget_connections()
    assert_whole(stack, batch_id)


def test_s3_unavailable_while_archiving(stack: Stack) -> None:
    def outage() -> None:
        stack.s3.down()
        time.sleep(6)
        stack.s3.up()

    batch_id = run_batch(stack, "s3-outage", outage, when=0.5)
    assert_whole(stack, batch_id)
