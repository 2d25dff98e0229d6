"""Polling: processing times learnt from poll answers, a schedule that spends about one
get_result per task, and no poll after a task is finished."""

from __future__ import annotations

import math
import random

import pytest
from support.polling import MEDIAN_S, SIGMA, current_status, lognormal

from pipeline.domain.polling import (
    MIN_OBSERVATIONS,
    Observation,
    Plan,
    ProcessingTimes,
    _isotonic,
    call_budget,
    first_delay,
    next_delay,
    poll_plan,
    unknown_first_s,
)
from pipeline.settings import Settings


def _true_quantile(share: float) -> float:
    from statistics import NormalDist

    return MEDIAN_S * math.exp(SIGMA * NormalDist().inv_cdf(share))


def test_isotonic_pools_violators() -> None:
    assert _isotonic([(0, 1), (1, 1), (0, 1), (1, 1), (1, 1)]) == [0, 0.5, 0.5, 1, 1]
    assert _isotonic([(1, 1), (0, 2)]) == pytest.approx([1 / 3] * 2)
    assert _isotonic([]) == []


def test_quantile_is_learnt_from_yes_no_answers() -> None:
    times = ProcessingTimes(current_status(random.Random(7), 3000))
    assert times.quantile(0.9) == pytest.approx(_true_quantile(0.9), rel=0.12)
    assert times.quantile(0.5) == pytest.approx(MEDIAN_S, rel=0.12)
    assert times.share_finished(1.0) == 0.0


def test_too_few_observations_or_share_out_of_reach_give_no_quantile() -> None:
    few = ProcessingTimes(current_status(random.Random(1), MIN_OBSERVATIONS - 1))
    assert few.quantile(0.5) is None
    # Only ever asked at 5 s: the data say nothing about when 90 % are done.
    early = [Observation(5.0, i % 10 == 0) for i in range(200)]
    assert ProcessingTimes(early).quantile(0.9) is None


def _polled(settings: Settings, plan: Plan, tasks: int = 4000) -> tuple[float, float]:
    """Calls per task and mean seconds from ready to seen of tasks polled on ``plan``."""
    rng = random.Random(21)
    calls = delay = 0.0
    for _ in range(tasks):
        ready, age, polls = lognormal(rng), first_delay(settings, None, rng, plan), 1
        while age < ready:
            age += next_delay(settings, age, rng, plan)
            polls += 1
        calls, delay = calls + polls, delay + age - ready
    return calls / tasks, delay / tasks


def test_a_lane_without_get_room_keeps_the_confident_plan() -> None:
    settings = Settings.model_construct()
    times = ProcessingTimes(current_status(random.Random(8), 500))
    confident = Plan(times.quantile(settings.poll_confidence) or 0, settings.poll_backoff)
    # The documented quotas, 2 create/s and 2 get/s: no call per task to spare.
    assert call_budget(settings, 2.0, 2.0) < 1.0
    assert poll_plan(settings, times, call_budget(settings, 2.0, 2.0)) == confident
    # The confident policy leaves the room unused.
    assert poll_plan(Settings.model_construct(poll_policy="confident"), times, 1.5) == confident
    assert poll_plan(settings, times, 1.5) != confident
    # Nothing observed yet: the first poll at the unknown times' age, whatever the room.
    assert poll_plan(settings, None, 1.5) == Plan(unknown_first_s(settings), 1.6)


@pytest.mark.parametrize("budget", [1.2, 1.3, 1.5])
def test_spare_get_quota_buys_a_shorter_delay_within_the_budget(budget: float) -> None:
    """At 2 create/s and 10 get/s a lane may spend ``poll_budget`` calls per task: the plan
    spends them where they shorten the wait for a result most, and no more than that."""
    settings = Settings.model_construct(poll_budget=budget)
    assert call_budget(settings, 2.0, 10.0) == budget
    times = ProcessingTimes(current_status(random.Random(8), 500))
    confident = Plan(times.quantile(settings.poll_confidence) or 0, settings.poll_backoff)
    plan = poll_plan(settings, times, budget)
    calls, delay = _polled(settings, plan)
    confident_calls, confident_delay = _polled(settings, confident)
    assert calls <= budget + 0.03
    assert delay <= 0.85 * confident_delay, (plan, calls, delay, confident_delay)
    assert confident_calls < calls
