"""The shared limiter on Redis: the quota holds across processes, one Redis round trip per
reservation, keys are spread and skipped when parked or out of budget, a lane's window keeps any
second within the quota however late its calls arrive, and a slot is given back however its
call ends. The fake backend (tests/unit/test_limiter_logic.py) answers as the Lua scripts do."""

from __future__ import annotations

import multiprocessing
import random
import time
import uuid
from collections.abc import Callable

import pytest
import redis

from pipeline.adapters.provider.keys import park
from pipeline.adapters.provider.limiter import STATS_KEY, Lane, Limiter, calls_key
from pipeline.adapters.provider.limiter_fake import FakeBackend
from pipeline.adapters.provider.limiter_redis import RedisBackend
from pipeline.settings import Settings

QPS = 5.0


def _lane(key_id: str = "", qps: float = QPS, daily_limit: int | None = None) -> Lane:
    return Lane(
        key_id or f"key-{uuid.uuid4().hex[:8]}", "correct_edu", "create_task", qps, daily_limit
    )


def _hammer(url: str, lane: Lane, calls: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    limiter = Limiter(RedisBackend(redis.Redis.from_url(url)))
    slots, woke, reservations = [], [], 0
    while len(slots) < calls:
        grant = limiter.acquire([lane], max_wait_s=2.0)
        reservations += 1
        if grant.granted:
            slots.append(grant.at_s)
            woke.append(time.time())
    out.put((slots, woke, reservations))


def _max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_quota_holds_across_processes(env: Settings) -> None:
    lane = _lane()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(env.redis_url, lane, 8, out)) for _ in range(4)]
    started = time.time()
    for proc in procs:
        proc.start()
    results = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=10)
    slots = [t for got, _, _ in results for t in got]
    woke = [t for _, got, _ in results for t in got]
    assert len(slots) == 32
    # The slots handed out, by Redis' clock: never more than the quota in any second.
    assert _max_in_window(slots) <= QPS
    # When the callers actually went: the margin absorbs their sleep overshoot.
    assert _max_in_window(woke) <= QPS
    # 32 calls at 5/s need about 6.3 s: nothing lost to busy waiting or refusals.
    assert time.time() - started < 12
    assert sum(trips for _, _, trips in results) == len(slots)


def test_far_slot_is_refused_without_reserving(env: Settings) -> None:
    limiter = Limiter(RedisBackend(redis.Redis.from_url(env.redis_url)))
    lane = _lane(qps=1.0)
    assert limiter.reserve([lane], max_wait_s=0).granted
    refused = limiter.reserve([lane], max_wait_s=0.1)
    assert not refused.granted and 0.5 < refused.wait_s <= 1.1
    accepted = limiter.reserve([lane], max_wait_s=2)
    assert accepted.granted and abs(accepted.wait_s - refused.wait_s) < 0.1


def test_round_trips_are_counted(env: Settings) -> None:
    client = redis.Redis.from_url(env.redis_url)
    before = int(client.hget(STATS_KEY, "round_trips") or 0)
    Limiter(RedisBackend(client)).reserve([_lane(), _lane()], max_wait_s=1)
    assert int(client.hget(STATS_KEY, "round_trips") or 0) == before + 1


def test_pages_go_to_the_key_whose_slot_comes_first(env: Settings) -> None:
    limiter = Limiter(RedisBackend(redis.Redis.from_url(env.redis_url)))
    lanes = [_lane(qps=2.0), _lane(qps=2.0)]
    granted = [limiter.reserve(lanes, max_wait_s=5) for _ in range(8)]
    assert all(grant.granted for grant in granted)
    used = [grant.lane.key_id for grant in granted if grant.lane]
    assert used.count(lanes[0].key_id) == used.count(lanes[1].key_id) == 4
    # Two keys at 2/s each: eight slots within two seconds, not four.
    assert max(grant.wait_s for grant in granted) < 1.6


def test_parked_key_gets_no_slot(env: Settings) -> None:
    client = redis.Redis.from_url(env.redis_url)
    limiter = Limiter(RedisBackend(client))
    open_lane, parked_lane = _lane(qps=0), _lane(qps=0)
    park(client, parked_lane.key_id, "test", 60)
    grants = [limiter.reserve([parked_lane, open_lane], max_wait_s=1) for _ in range(5)]
    assert {grant.lane for grant in grants} == {open_lane}
    alone = limiter.reserve([parked_lane], max_wait_s=1)
    assert not alone.granted and alone.lane is None


def test_daily_budget_closes_the_lane(env: Settings) -> None:
    client = redis.Redis.from_url(env.redis_url)
    limiter = Limiter(RedisBackend(client))
    lane = _lane(qps=0, daily_limit=3)
    assert all(limiter.reserve([lane], max_wait_s=1).granted for _ in range(3))
    spent = limiter.reserve([lane], max_wait_s=1)
    assert not spent.granted and spent.lane is None and spent.spent == (lane,)
    assert int(client.get(calls_key(lane.key_id)) or 0) == 3


def _call_slowly(url: str, lane: Lane, calls: int, seed: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    limiter = Limiter(RedisBackend(redis.Redis.from_url(url)))
    rng = random.Random(seed)
    spans = []
    while len(spans) < calls:
        if not limiter.acquire([lane], max_wait_s=2.0).granted:
            continue
        call_id = limiter.enter_window(lane, max_wait_s=5.0)
        assert call_id is not None
        sent = time.time()
        time.sleep(rng.uniform(0.0, 0.15))  # the call: it arrives somewhere in there
        answered = time.time()
        limiter.leave_window(lane, call_id)
        spans.append((sent, answered))
    out.put(spans)


def test_window_holds_however_late_calls_arrive(env: Settings) -> None:
    """Each call may arrive anywhere between sending and its answer: no second ever holds
    more than the quota, even with every earlier call as late and every later one as early
    as possible."""
    lane = _lane()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_call_slowly, args=(env.redis_url, lane, 6, seed, out))
        for seed in range(4)
    ]
    started = time.time()
    for proc in procs:
        proc.start()
    spans = [span for _ in procs for span in out.get(timeout=60)]
    for proc in procs:
        proc.join(timeout=10)
    assert len(spans) == 24
    for sent, _ in spans:
        # Calls that may still be arriving in the second before this one at its earliest.
        before = [s for s, answered in spans if s <= sent and answered > sent - 1.0]
        assert len(before) <= QPS  # this call included
    # 24 calls at 5/s with answers up to 0.15 s late: about 5 s, not much more.
    assert time.time() - started < 15


def test_unanswered_calls_fill_the_window_until_answered(env: Settings) -> None:
    limiter = Limiter(RedisBackend(redis.Redis.from_url(env.redis_url)))
    lane = _lane(qps=2.0)
    first, second = limiter.enter_window(lane, 0), limiter.enter_window(lane, 0)
    assert first is not None and second is not None
    assert limiter.enter_window(lane, max_wait_s=0.2) is None
    limiter.leave_window(lane, first)
    answered = time.monotonic()
    assert limiter.enter_window(lane, max_wait_s=2.0) is not None
    assert 0.95 < time.monotonic() - answered < 1.3  # a second after the first answer
    unlimited = _lane(qps=0)
    assert all(limiter.enter_window(unlimited, 0) for _ in range(10))


def test_a_slot_is_given_back_when_its_call_raises(env: Settings) -> None:
    limiter = Limiter(RedisBackend(redis.Redis.from_url(env.redis_url)))
    lane = _lane(qps=1.0)
    with pytest.raises(RuntimeError), limiter.slot([lane], max_wait_s=2.0) as grant:
        assert grant.granted and grant.held
        raise RuntimeError("the call failed")
    left = time.monotonic()
    # Stamped when the block ended: the window has room a second later, not HOLD_S later.
    assert limiter.enter_window(lane, max_wait_s=1.5) is not None
    assert 0.9 < time.monotonic() - left < 1.4


# The same scenarios on Redis and on the fake: the fake must answer as the Lua scripts do.
Scenario = Callable[[Limiter, Callable[[str], None]], list[object]]


def _spread(limiter: Limiter, _: Callable[[str], None]) -> list[object]:
    lanes = [_lane(qps=2.0), _lane(qps=2.0)]
    grants = [limiter.reserve(lanes, max_wait_s=5) for _ in range(8)]
    return [(g.granted, lanes.index(g.lane) if g.lane else None, g.wait_s) for g in grants]


def _closed(limiter: Limiter, park_key: Callable[[str], None]) -> list[object]:
    parked, budgeted = _lane(qps=0), _lane(qps=0, daily_limit=2)
    park_key(parked.key_id)
    lanes = [parked, budgeted]
    grants = [limiter.reserve(lanes, max_wait_s=1) for _ in range(3)]
    return [
        (g.granted, lanes.index(g.lane) if g.lane else None, [lanes.index(s) for s in g.spent])
        for g in grants
    ]


def _window(limiter: Limiter, _: Callable[[str], None]) -> list[object]:
    lane = _lane(qps=2.0)
    first, second = limiter.enter_window(lane, 0), limiter.enter_window(lane, 0)
    full = limiter.enter_window(lane, 0)
    assert first is not None and second is not None
    limiter.leave_window(lane, first)
    refused = limiter.reserve([lane], max_wait_s=0.1)
    return [full is None, refused.granted, refused.wait_s]


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) < 0.05  # the two run a few milliseconds apart
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.parametrize("scenario", [_spread, _closed, _window], ids=lambda s: s.__name__)
def test_the_fake_answers_as_redis_does(env: Settings, scenario: Scenario) -> None:
    client = redis.Redis.from_url(env.redis_url)
    stats_before = {k.decode(): int(v) for k, v in client.hgetall(STATS_KEY).items()}
    on_redis = scenario(Limiter(RedisBackend(client)), lambda key: park(client, key, "test", 60))
    stats_after = {k.decode(): int(v) for k, v in client.hgetall(STATS_KEY).items()}
    fake = FakeBackend()
    on_fake = scenario(Limiter(fake), fake.park)
    assert _close(on_redis, on_fake), (on_redis, on_fake)
    redis_counts = {k: v - stats_before.get(k, 0) for k, v in stats_after.items()}
    assert {k: v for k, v in redis_counts.items() if v} == dict(fake.stats)
