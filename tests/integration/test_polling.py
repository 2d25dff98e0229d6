"""Polling: processing times learnt from poll answers, a schedule that spends about one
get_result per task, and no poll after a task is finished."""

from __future__ import annotations

import random

import pytest
from support.polling import current_status, lognormal

from pipeline.domain.polling import (
    LaneSpend,
    ProcessingTimes,
    early_poll_room,
    early_polls,
    first_delay,
    next_delay,
)
from pipeline.settings import Settings


def test_first_poll_waits_past_the_seeds_then_for_the_observed_quantile(env: Settings) -> None:
    settings = env.model_copy(update={"poll_first_min_s": 5.0, "poll_first_max_s": 10.0})
    rng = random.Random(3)
    # Times unknown: two backoff steps past the seeds' 10 s (25.6 s), give or take 15 %.
    assert all(21.7 <= first_delay(settings, None, rng) <= 29.5 for _ in range(50))
    times = ProcessingTimes(current_status(random.Random(8), 3000))
    expected = times.quantile(0.9)
    assert expected is not None
    delays = [first_delay(settings, times, rng) for _ in range(200)]
    assert min(delays) >= 0.85 * expected and max(delays) <= 1.15 * expected
    fixed = settings.model_copy(update={"poll_policy": "fixed"})
    assert first_delay(fixed, times, rng) == fixed.poll_fixed_interval_s


def test_later_polls_back_off_to_the_cap(env: Settings) -> None:
    settings = env.model_copy(
        update={"poll_backoff": 1.6, "poll_max_interval_s": 60.0, "poll_first_min_s": 5.0}
    )
    rng = random.Random(4)
    assert 0.9 * 18 <= next_delay(settings, 30.0, rng) <= 1.1 * 18
    assert next_delay(settings, 500.0, rng) <= 66.0
    assert next_delay(settings, 0.5, rng) == 1.0


def test_schedule_spends_about_one_call_per_task(env: Settings) -> None:
    """Tasks polled on the schedule, with times learnt from earlier tasks' answers."""
    settings = env.model_copy(
        update={"poll_backoff": 1.6, "poll_max_interval_s": 60.0, "poll_first_min_s": 5.0}
    )
    rng = random.Random(11)
    learnt = ProcessingTimes(current_status(random.Random(12), 2000))
    calls = []
    for _ in range(2000):
        ready, age, polls = lognormal(rng), first_delay(settings, learnt, rng), 1
        while age < ready:
            age += next_delay(settings, age, rng)
            polls += 1
        calls.append(polls)
    assert 1.0 <= sum(calls) / len(calls) <= 1.2


@pytest.mark.parametrize("tasks", [1, 2, 8, 50])
def test_a_small_batch_costs_at_most_one_and_a_half_calls_per_task(
    env: Settings, tasks: int
) -> None:
    """Too few tasks to learn from: every first poll is timed without observations.

    The seeds' 5–10 s first poll, then backoff, cost 2.6 calls a task at these times.
    """
    settings = env.model_copy(
        update={"poll_backoff": 1.6, "poll_max_interval_s": 60.0, "poll_first_max_s": 10.0}
    )
    rng = random.Random(tasks)
    calls = []
    for _ in range(4000 // tasks):  # many batches of this size
        for _ in range(tasks):
            ready, age, polls = lognormal(rng), first_delay(settings, None, rng), 1
            while age < ready:
                age += next_delay(settings, age, rng)
                polls += 1
            calls.append(polls)
    assert sum(calls) / len(calls) <= 1.3


def _spend(tasks: int, gets: int, running: int, leased: int = 0) -> LaneSpend:
    return LaneSpend(tasks=tasks, gets=gets, running=running, leased=leased)


def test_early_polls_stay_within_the_budget(env: Settings) -> None:
    settings = env.model_copy(update={"poll_budget": 1.2})
    # 8 tasks, none answered yet: 9.6 calls, 8 of them the finals, leave 1 early poll.
    assert early_poll_room(settings, _spend(8, 0, 8), spare=4) == 1
    assert early_poll_room(settings, _spend(8, 0, 8, leased=1), spare=4) == 0
    assert early_poll_room(settings, _spend(8, 2, 8), spare=4) == 0
    # 600 tasks, 590 finished after one call each: plenty left, the spare slots bound it.
    assert early_poll_room(settings, _spend(600, 640, 10), spare=4) == 4
    assert early_poll_room(settings, _spend(1, 0, 1), spare=4) == 0
    fixed = settings.model_copy(update={"poll_policy": "fixed"})
    assert early_poll_room(fixed, _spend(600, 0, 10), spare=4) == 0


def test_early_polls_wait_for_the_median_and_the_expected_finish(env: Settings) -> None:
    settings = env.model_copy(
        update={"poll_first_min_s": 5.0, "poll_first_max_s": 10.0, "poll_confidence": 0.9}
    )
    unknown = early_polls(settings, None)
    # Times unknown: only stragglers, past the first poll's 25.6 s, are polled early.
    assert (unknown.min_age_s, unknown.expected_s) == (pytest.approx(25.6), pytest.approx(25.6))
    times = ProcessingTimes(current_status(random.Random(8), 3000))
    known = early_polls(settings, times)
    assert known.min_age_s == times.quantile(0.5)
    assert known.expected_s == times.quantile(0.9)
    assert known.gap_s == pytest.approx(known.min_age_s / 4)
