"""The shared limiter holds the quota across processes, with one Redis round trip a call."""

from __future__ import annotations

import multiprocessing
import time
import uuid

import redis

from pipeline.provider.limiter import RateLimiter
from pipeline.settings import Settings

QPS = 5.0


def _hammer(url: str, name: str, calls: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    limiter = RateLimiter(redis.Redis.from_url(url), name, QPS)
    times = []
    while len(times) < calls:
        if limiter.acquire(max_wait_s=2.0) == 0:
            times.append(time.time())
    out.put((times, limiter.round_trips))


def _max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_quota_holds_across_processes(env: Settings) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(env.redis_url, name, 6, out)) for _ in range(4)]
    started = time.time()
    for proc in procs:
        proc.start()
    results = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=10)
    times = [t for got, _ in results for t in got]
    round_trips = sum(trips for _, trips in results)
    assert len(times) == 24
    assert _max_in_window(times) <= QPS
    # 24 calls at 5/s need about 4.7 s; nothing was lost to busy waiting or refusals.
    assert time.time() - started < 10
    assert round_trips <= len(times) * 1.5


def test_far_slot_is_refused_without_reserving(env: Settings) -> None:
    limiter = RateLimiter(redis.Redis.from_url(env.redis_url), f"t-{uuid.uuid4().hex}", 1.0)
    assert limiter.reserve(max_wait_s=0).reserved
    refused = limiter.reserve(max_wait_s=0.1)
    assert not refused.reserved and 0.5 < refused.wait_s <= 1.1
    accepted = limiter.reserve(max_wait_s=2)
    assert accepted.reserved and abs(accepted.wait_s - refused.wait_s) < 0.1
