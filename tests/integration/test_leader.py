"""The beat lease: one holder at a time, takeover after expiry, fenced periodic runs."""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from support.services import REDIS_BASE

from devkit.testdb import claim_redis_db
from pipeline.runtime.leader import LEASE_KEY, RUN_LOCK_PREFIX, Lease, periodic_run

TTL_S = 0.3


@pytest.fixture(scope="module")
def client() -> Iterator[redis.Redis]:
    url = claim_redis_db(REDIS_BASE, f"pytest-leader-{uuid.uuid4().hex}")
    client = redis.Redis.from_url(url)
    yield client
    client.flushdb()


@pytest.fixture
def key(client: redis.Redis) -> str:
    return f"test:lease:{uuid.uuid4().hex}"


def test_one_holder_and_takeover_after_expiry(client: redis.Redis, key: str) -> None:
    a, b = Lease(client, TTL_S, key), Lease(client, TTL_S, key)
    assert a.hold() and a.held
    assert not b.hold() and not b.held
    for _ in range(5):  # the holder renews past its first ttl; the other keeps waiting
        time.sleep(TTL_S / 3)
        assert a.hold() and not b.hold()
    time.sleep(TTL_S * 1.2)  # a stops renewing (dies, or pauses)
    assert not a.held  # it stopped believing before its key expired
    assert b.hold() and b.held
    assert not a.hold() and a.token is None  # back from its pause: b keeps the lease
    assert b.hold()


def test_a_clean_stop_hands_over_at_once(client: redis.Redis, key: str) -> None:
    a, b = Lease(client, 30.0, key), Lease(client, 30.0, key)
    assert a.hold() and not b.hold()
    a.release()
    assert not a.held and b.hold()


def test_no_two_holders_however_they_pause(client: redis.Redis, key: str) -> None:
    """Contenders that renew late or stall past the ttl never hold the lease at once."""
    held: list[tuple[int, float, float]] = []  # (contender, from, until) on one clock
    lock = threading.Lock()
    stop = time.monotonic() + 4.0

    def contend(n: int) -> None:
        lease = Lease(client, TTL_S, key)
        rng = random.Random(n)
        while time.monotonic() < stop:
            if lease.hold():
                with lock:
                    held.append((n, time.monotonic(), lease.valid_until))
            # Mostly renew in time; sometimes stall past the ttl, as a paused process would.
            time.sleep(rng.choice([0.02, 0.05, 0.1, TTL_S * 1.5]))

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    holders = {n for n, _, _ in held}
    assert len(holders) >= 2, "the lease never changed hands: the test proves nothing"
    spans = sorted(held, key=lambda span: span[1])
    for (n1, _, until1), (n2, from2, _) in itertools.pairwise(spans):
        if n1 != n2:
            assert from2 >= until1, f"{n2} held the lease before {n1}'s ended"


def test_a_deposed_beats_ticks_do_nothing(client: redis.Redis) -> None:
    client.delete(LEASE_KEY)
    old = Lease(client, TTL_S)
    assert old.hold()
    stale = old.token
    time.sleep(TTL_S * 1.2)
    new = Lease(client, 30.0)
    assert new.hold()
    try:
        with periodic_run(client, "test-tick", stale) as go:
            assert not go
        with periodic_run(client, "test-tick", None) as go:  # by hand while a beat leads
            assert not go
        with periodic_run(client, "test-tick", new.token) as go:
            assert go
            with periodic_run(client, "test-tick", new.token) as again:
                assert not again  # a run is under way: the second tick waits its turn
        assert not client.exists(RUN_LOCK_PREFIX + "test-tick")
    finally:
        new.release()
    with periodic_run(client, "test-tick", None) as go:  # no beat leads: a run by hand goes
        assert go
