"""The limiter's rule on the in-memory backend, no Redis: what ``limiter.py`` promises.

Slots spaced by the quota (plus the margin) and refused without being reserved when too far,
keys taking turns and skipped when parked or out of budget, a lane's window that no second ever
overfills however late answers come, waits that never add up to more than the caller's, and a
slot held by ``with limiter.slot(...)`` given back however the block ends. Most tests run on a
:class:`FakeClock` (time passes only when the limiter sleeps); one runs threads on the real one.
``tests/test_limiter.py`` runs the same rule on Redis and checks the two backends agree.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Sequence

import pytest
from prometheus_client import REGISTRY

from pipeline.adapters.provider.limiter import (
    HOLD_S,
    RECHECK_S,
    WINDOW_S,
    WINDOW_SLACK_S,
    Lane,
    Limiter,
    provider_day,
    seconds_to_day_end,
)
from pipeline.adapters.provider.limiter_fake import FakeBackend, FakeClock
from pipeline.adapters.provider.limiter_redis import script_source
from pipeline.errors import Transient

WINDOW = WINDOW_S + WINDOW_SLACK_S


def _lane(qps: float = 5.0, daily_limit: int | None = None, api: str = "correct_edu") -> Lane:
    return Lane(f"key-{uuid.uuid4().hex[:8]}", api, "create_task", qps, daily_limit)


def _on_fake_clock(margin: float = 0.02) -> tuple[Limiter, FakeBackend, FakeClock]:
    clock = FakeClock()
    backend = FakeBackend(clock.time)
    return (
        Limiter(backend, margin=margin, sleep=clock.sleep, monotonic=clock.monotonic),
        backend,
        clock,
    )


def _at(moment: float) -> object:
    """A moment on the fake clock, to the microsecond (approx's default is relative: useless
    on seconds since the epoch)."""
    return pytest.approx(moment, rel=0, abs=1e-5)


def _max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    ordered = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


# Slots


def test_slots_are_spaced_by_the_quota_and_the_margin() -> None:
    limiter, _, clock = _on_fake_clock(margin=0.02)
    lane = _lane(qps=5.0)
    started = clock.now
    grants = [limiter.acquire([lane], max_wait_s=5.0) for _ in range(11)]
    assert all(grant.granted for grant in grants)
    slots = [grant.at_s - started for grant in grants]
    assert slots == pytest.approx([i * 0.204 for i in range(11)], abs=1e-6)
    assert _max_in_window(slots) <= 5
    # Each caller slept exactly until its slot; the first went at once.
    assert clock.slept == pytest.approx([0.204] * 10, abs=1e-6)
    assert clock.now - started == pytest.approx(slots[-1], abs=1e-6)


def test_far_slot_is_refused_without_reserving() -> None:
    limiter, backend, _ = _on_fake_clock()
    lane = _lane(qps=1.0)
    assert limiter.reserve([lane], max_wait_s=0).granted
    refused = limiter.reserve([lane], max_wait_s=0.1)
    assert not refused.granted and refused.lane == lane and refused.outcome == "refused"
    assert refused.wait_s == pytest.approx(1.02)
    accepted = limiter.reserve([lane], max_wait_s=2)
    assert accepted.granted and accepted.wait_s == refused.wait_s  # the same slot, still free
    assert backend.stats["refused"] == 1 and backend.stats["waited"] == 1


def test_one_round_trip_per_reservation_whatever_the_lanes() -> None:
    limiter, backend, _ = _on_fake_clock()
    limiter.reserve([_lane(), _lane(), _lane()], max_wait_s=1)
    assert backend.stats["round_trips"] == 1


def test_an_unlimited_lane_is_never_waited_for() -> None:
    limiter, _, clock = _on_fake_clock()
    lane = _lane(qps=0)
    assert all(limiter.acquire([lane], max_wait_s=0).wait_s == 0 for _ in range(50))
    assert clock.slept == []


# Keys


def test_pages_go_to_the_key_whose_slot_comes_first() -> None:
    limiter, _, _ = _on_fake_clock()
    lanes = [_lane(qps=2.0), _lane(qps=2.0)]
    granted = [limiter.reserve(lanes, max_wait_s=5) for _ in range(8)]
    assert all(grant.granted for grant in granted)
    used = [lanes.index(grant.lane) for grant in granted if grant.lane]
    assert used == [0, 1] * 4
    # Two keys at 2/s each: eight slots within two seconds, not four.
    assert max(grant.wait_s for grant in granted) < 1.6


def test_on_a_tie_the_key_used_longest_ago_wins() -> None:
    limiter, _, clock = _on_fake_clock()
    first, second = _lane(qps=2.0), _lane(qps=2.0)
    limiter.reserve([first], max_wait_s=0)
    clock.advance(0.1)
    limiter.reserve([second], max_wait_s=0)
    clock.advance(0.8)  # both slots free again: a tie, broken by their last use
    assert limiter.reserve([second, first], max_wait_s=0).lane == first


def test_a_parked_key_gets_no_slot_until_unparked() -> None:
    limiter, backend, clock = _on_fake_clock()
    open_lane, parked_lane = _lane(qps=0), _lane(qps=0)
    backend.park(parked_lane.key_id, seconds=60)
    grants = [limiter.reserve([parked_lane, open_lane], max_wait_s=1) for _ in range(5)]
    assert {grant.lane for grant in grants} == {open_lane}
    alone = limiter.reserve([parked_lane], max_wait_s=1)
    assert not alone.granted and alone.lane is None and alone.outcome == "closed"
    clock.advance(61)
    assert limiter.reserve([parked_lane], max_wait_s=1).granted
    backend.park(parked_lane.key_id)  # until unparked
    clock.advance(86400 * 3)
    assert limiter.reserve([parked_lane], max_wait_s=1).lane is None
    backend.unpark(parked_lane.key_id)
    assert limiter.reserve([parked_lane], max_wait_s=1).granted


def test_a_daily_budget_closes_the_lane_until_the_providers_day_turns() -> None:
    limiter, backend, clock = _on_fake_clock()
    lane, other = _lane(qps=0, daily_limit=3), _lane(qps=0)
    assert all(limiter.reserve([lane], max_wait_s=1).granted for _ in range(3))
    spent = limiter.reserve([lane], max_wait_s=1)
    assert not spent.granted and spent.lane is None and spent.spent == (lane,)
    assert backend.calls_today(lane.key_id) == 3
    # With another key to go to, the page goes there and the spent lane is still named.
    elsewhere = limiter.reserve([lane, other], max_wait_s=1)
    assert elsewhere.granted and elsewhere.lane == other and elsewhere.spent == (lane,)
    clock.advance(seconds_to_day_end(clock.now) + 1)
    assert limiter.reserve([lane], max_wait_s=1).granted
    assert backend.calls_today(lane.key_id) == 1


def test_the_providers_day_turns_at_midnight_in_china() -> None:
    midnight_in_china = 1_800_000_000 - 1_800_000_000 % 86400 + 16 * 3600  # 16:00 UTC
    assert provider_day(midnight_in_china - 1) + 1 == provider_day(midnight_in_china)
    assert seconds_to_day_end(midnight_in_china - 10) == pytest.approx(10)


# Windows


def test_unanswered_calls_fill_the_window_until_answered() -> None:
    limiter, backend, clock = _on_fake_clock()
    lane = _lane(qps=2.0)
    first, second = limiter.enter_window(lane, 0), limiter.enter_window(lane, 0)
    assert first is not None and second is not None
    assert limiter.enter_window(lane, max_wait_s=0.2) is None
    # While the calls in it are unanswered, the window is looked at again every RECHECK_S.
    assert clock.slept and set(clock.slept) == {RECHECK_S}
    assert backend.stats["held"] == len(clock.slept) + 1
    limiter.leave_window(lane, first)
    answered = clock.now
    assert limiter.enter_window(lane, max_wait_s=2.0) is not None
    assert clock.now - answered == pytest.approx(WINDOW)  # a second after the first answer


def test_a_hung_call_counts_as_arrived_after_the_hold() -> None:
    limiter, _, clock = _on_fake_clock()
    lane = _lane(qps=1.0)
    sent = clock.now
    assert limiter.enter_window(lane, 0) is not None  # never answered
    assert limiter.enter_window(lane, max_wait_s=HOLD_S) is None
    assert limiter.enter_window(lane, max_wait_s=WINDOW + 0.1) is not None
    assert clock.now - sent == pytest.approx(HOLD_S + WINDOW, abs=RECHECK_S)


def test_an_unlimited_lane_has_no_window() -> None:
    limiter, backend, _ = _on_fake_clock()
    lane = _lane(qps=0)
    calls = [limiter.enter_window(lane, 0) for _ in range(10)]
    assert all(calls) and len(set(calls)) == 10
    for call in calls:
        limiter.leave_window(lane, str(call))
    assert backend.stats["round_trips"] == 0


def test_a_reservation_waits_for_the_window() -> None:
    limiter, _, _ = _on_fake_clock()
    lane = _lane(qps=2.0)
    assert limiter.enter_window(lane, 0) and limiter.enter_window(lane, 0)
    # Calls still unanswered count as answered now: the slot is a window away.
    grant = limiter.reserve([lane], max_wait_s=5)
    assert grant.granted and grant.wait_s == pytest.approx(WINDOW)


def test_a_call_that_leaves_books_the_next_slot_after_it() -> None:
    limiter, _, clock = _on_fake_clock(margin=0)
    lane = _lane(qps=2.0)
    assert limiter.reserve([lane], max_wait_s=0).wait_s == 0
    clock.advance(3)  # long idle: the slot booked then is long past
    call = limiter.enter_window(lane, 0)
    assert call is not None
    limiter.leave_window(lane, call)
    assert limiter.reserve([lane], max_wait_s=5).wait_s == pytest.approx(0.5)


# The slot a call holds


def test_a_slot_holds_the_call_in_its_window_until_the_block_ends() -> None:
    limiter, backend, clock = _on_fake_clock()
    lane = _lane(qps=2.0)
    with limiter.slot([lane], max_wait_s=1) as grant:
        assert grant.granted and grant.held and grant.lane == lane
        (stamp,) = backend.window(lane).values()
        assert stamp == _at(clock.now + HOLD_S)  # unanswered: arriving until then
        clock.advance(0.3)  # the call
    assert list(backend.window(lane).values()) == [_at(clock.now)]


def test_a_slot_is_given_back_when_its_call_raises() -> None:
    limiter, backend, clock = _on_fake_clock()
    lane = _lane(qps=2.0)
    with pytest.raises(ConnectionError), limiter.slot([lane], max_wait_s=1) as grant:
        assert grant.held
        clock.advance(0.2)
        raise ConnectionError("the call broke off")
    assert list(backend.window(lane).values()) == [_at(clock.now)]


def test_a_slot_is_given_back_when_its_block_returns_early() -> None:
    limiter, backend, clock = _on_fake_clock()
    lane = _lane(qps=2.0)

    def call() -> str:
        with limiter.slot([lane], max_wait_s=1):
            clock.advance(0.1)
            return "answer"

    assert call() == "answer"
    assert list(backend.window(lane).values()) == [_at(clock.now)]


def test_a_refused_or_closed_slot_holds_nothing() -> None:
    limiter, backend, _ = _on_fake_clock()
    lane = _lane(qps=1.0)
    assert limiter.reserve([lane], max_wait_s=0).granted
    with limiter.slot([lane], max_wait_s=0.1) as refused:
        assert not refused.granted and not refused.held
    backend.park(lane.key_id)
    with pytest.raises(LookupError), limiter.slot([lane], max_wait_s=1) as closed:
        assert closed.lane is None and not closed.held
        raise LookupError("nothing to send")
    assert backend.window(lane) == {}
    assert backend.stats["round_trips"] == 3  # the reservations only: no window entered or left


def test_a_spent_budget_is_booked_before_the_window_is_entered() -> None:
    limiter, backend, _ = _on_fake_clock()
    spent, other = _lane(qps=2.0, daily_limit=1), _lane(qps=2.0)
    assert limiter.reserve([spent], max_wait_s=1).granted  # its one call of the day
    booked: list[tuple[Lane, dict[str, float]]] = []

    def book(lane: Lane) -> None:
        booked.append((lane, dict(backend.window(other))))

    with limiter.slot([spent, other], max_wait_s=1, on_spent=book) as grant:
        assert grant.held and grant.lane == other
        assert len(backend.window(other)) == 1
    assert booked == [(spent, {})]  # booked while the window it went to held nothing yet


def test_the_slot_and_its_window_share_one_wait() -> None:
    """The sleep for the slot and the wait for the window together never pass ``max_wait_s``:
    a worker gives its turn back after that at most, however the two waits fall."""
    limiter, _, clock = _on_fake_clock()
    lane = _lane(qps=2.0)
    assert limiter.enter_window(lane, 0) and limiter.enter_window(lane, 0)  # never answered
    started = clock.now
    with limiter.slot([lane], max_wait_s=1.5) as grant:
        assert grant.granted and not grant.held  # a slot a window away, the window still full
    assert WINDOW < clock.now - started <= 1.5


def test_a_slot_survives_a_window_it_cannot_stamp() -> None:
    class Unreachable(FakeBackend):
        def leave(self, lane: Lane, call_id: str, window_us: int) -> None:
            raise Transient("rate limiter unavailable: ConnectionError")

    clock = FakeClock()
    limiter = Limiter(Unreachable(clock.time), sleep=clock.sleep, monotonic=clock.monotonic)
    lane = _lane(qps=2.0)
    with limiter.slot([lane], max_wait_s=1) as grant:
        assert grant.held
    limiter.leave_window(lane, "some-call")  # never raises: the call was made


# Many callers at once


def test_the_quota_and_the_window_hold_across_threads() -> None:
    """Threads on the real clock, each call answered after a random delay: no second ever
    holds more than the quota, by the slots handed out or by when calls may have arrived."""
    qps = 20.0
    limiter = Limiter(FakeBackend())
    lane = _lane(qps=qps)
    slots: list[float] = []
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def caller(seed: int) -> None:
        rng = random.Random(seed)
        done = 0
        while done < 6:
            with limiter.slot([lane], max_wait_s=5.0) as grant:
                if not grant.held:
                    continue
                sent = time.time()
                time.sleep(rng.uniform(0.0, 0.03))  # the call: it arrives somewhere in there
                answered = time.time()
            with lock:
                slots.append(grant.at_s)
                spans.append((sent, answered))
            done += 1

    threads = [threading.Thread(target=caller, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(spans) == 24
    assert _max_in_window(slots) <= qps
    for sent, _ in spans:
        before = [s for s, answered in spans if s <= sent and answered > sent - 1.0]
        assert len(before) <= qps


# What the metrics count


def test_each_reservation_is_counted_by_outcome() -> None:
    api = f"unit-{uuid.uuid4().hex[:6]}"

    def count(outcome: str) -> float:
        labels = {"api": api, "operation": "create_task", "outcome": outcome}
        return REGISTRY.get_sample_value("scangrade_limiter_reservations_total", labels) or 0.0

    def slept() -> float:
        labels = {"api": api, "operation": "create_task"}
        return REGISTRY.get_sample_value("scangrade_limiter_wait_seconds_total", labels) or 0.0

    limiter, backend, _ = _on_fake_clock()
    lane = _lane(qps=1.0, api=api)
    limiter.acquire([lane], max_wait_s=0)  # immediate
    waited = limiter.acquire([lane], max_wait_s=2)  # waited
    limiter.reserve([lane], max_wait_s=0)  # not counted: only what acquire hands out
    limiter.acquire([lane], max_wait_s=0.1)  # refused
    backend.park(lane.key_id)
    limiter.acquire([lane], max_wait_s=1)  # closed: counted on the lane asked for
    outcomes = ("immediate", "waited", "refused", "closed")
    assert [count(o) for o in outcomes] == [1, 1, 1, 1]
    assert slept() == pytest.approx(waited.wait_s)


def test_the_scripts_are_read_from_the_package_with_their_helpers() -> None:
    """The Redis backend's Lua comes from ``limiter_*.lua`` (package data), read once."""
    reserve, enter, leave = (script_source(name) for name in ("reserve", "enter", "leave"))
    assert reserve.startswith("-- Shared by") and "local function blocker" in reserve
    assert "local function blocker" in enter and "blocker" not in leave
    assert all("redis.call('TIME')" in script for script in (reserve, enter, leave))
    assert script_source("reserve") is reserve  # cached: read from disk once per process
