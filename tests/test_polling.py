"""Polling: processing times learnt from poll answers, a schedule that spends about one
get_result per task, and no poll after a task is finished."""

from __future__ import annotations

import math
import random
import time

import httpx
import pytest
from batches import wait_until_done
from sqlalchemy import func, select

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import Service
from pipeline.adapters.db.models import Page, ProviderTask
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.domain.polling import (
    MIN_OBSERVATIONS,
    LaneSpend,
    Observation,
    ProcessingTimes,
    _isotonic,
    early_poll_room,
    early_polls,
    first_delay,
    next_delay,
)
from pipeline.settings import Settings
from pipeline.stages.enqueue import enqueue_directory

MEDIAN_S, SIGMA = 12.0, 0.69  # the seeds' processing times, as the simulator draws them


def _lognormal(rng: random.Random) -> float:
    return MEDIAN_S * math.exp(SIGMA * rng.gauss(0.0, 1.0))


def _true_quantile(share: float) -> float:
    from statistics import NormalDist

    return MEDIAN_S * math.exp(SIGMA * NormalDist().inv_cdf(share))


def _current_status(rng: random.Random, tasks: int) -> list[Observation]:
    """Each task asked once at a random age: finished or not, never when it finished."""
    observations = []
    for _ in range(tasks):
        age = rng.uniform(2.0, 60.0)
        observations.append(Observation(age, _lognormal(rng) <= age))
    return observations


def test_isotonic_pools_violators() -> None:
    assert _isotonic([(0, 1), (1, 1), (0, 1), (1, 1), (1, 1)]) == [0, 0.5, 0.5, 1, 1]
    assert _isotonic([(1, 1), (0, 2)]) == pytest.approx([1 / 3] * 2)
    assert _isotonic([]) == []


def test_quantile_is_learnt_from_yes_no_answers() -> None:
    times = ProcessingTimes(_current_status(random.Random(7), 3000))
    assert times.quantile(0.9) == pytest.approx(_true_quantile(0.9), rel=0.12)
    assert times.quantile(0.5) == pytest.approx(MEDIAN_S, rel=0.12)
    assert times.share_finished(1.0) == 0.0


def test_too_few_observations_or_share_out_of_reach_give_no_quantile() -> None:
    few = ProcessingTimes(_current_status(random.Random(1), MIN_OBSERVATIONS - 1))
    assert few.quantile(0.5) is None
    # Only ever asked at 5 s: the data say nothing about when 90 % are done.
    early = [Observation(5.0, i % 10 == 0) for i in range(200)]
    assert ProcessingTimes(early).quantile(0.9) is None


def test_first_poll_waits_past_the_seeds_then_for_the_observed_quantile(env: Settings) -> None:
    settings = env.model_copy(update={"poll_first_min_s": 5.0, "poll_first_max_s": 10.0})
    rng = random.Random(3)
    # Times unknown: two backoff steps past the seeds' 10 s (25.6 s), give or take 15 %.
    assert all(21.7 <= first_delay(settings, None, rng) <= 29.5 for _ in range(50))
    times = ProcessingTimes(_current_status(random.Random(8), 3000))
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
    learnt = ProcessingTimes(_current_status(random.Random(12), 2000))
    calls = []
    for _ in range(2000):
        ready, age, polls = _lognormal(rng), first_delay(settings, learnt, rng), 1
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
            ready, age, polls = _lognormal(rng), first_delay(settings, None, rng), 1
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
    times = ProcessingTimes(_current_status(random.Random(8), 3000))
    known = early_polls(settings, times)
    assert known.min_age_s == times.quantile(0.5)
    assert known.expected_s == times.quantile(0.9)
    assert known.gap_s == pytest.approx(known.min_age_s / 4)


@pytest.fixture(scope="module")
def polled(
    env: Settings, workers: Service, tmp_path_factory: pytest.TempPathFactory, simulator: Service
) -> tuple[int, int]:
    """A finished batch, and how many get_result answers the provider had given before it."""
    root = tmp_path_factory.mktemp("polls")
    for seed in range(12):
        (root / f"page-{seed}.jpg").write_bytes(jpeg_bytes(make_page_image(700 + seed)))
    with httpx.Client(base_url=simulator.url) as sim:
        before = _get_result_calls(sim).get("ok", 0)
    report = enqueue_directory(root, get_store(), batch_name="polls")
    wait_until_done(report.batch_id)
    return report.batch_id, before


def _get_result_calls(sim_http: httpx.Client) -> dict[str, int]:
    return dict(sim_http.get("/_sim/stats").json()["calls"].get("correct_edu.get_result", {}))


def test_polls_stop_at_completion(polled: tuple[int, int], sim_http: httpx.Client) -> None:
    polled_batch, _ = polled
    before = _get_result_calls(sim_http)
    time.sleep(3.0)  # three dispatcher ticks
    assert _get_result_calls(sim_http) == before
    with session_scope() as session:
        running = session.scalar(
            select(func.count())
            .select_from(ProviderTask)
            .join(Page)
            .where(Page.batch_id == polled_batch, ProviderTask.state == "running")
        )
        polls = session.scalars(
            select(ProviderTask.polls).join(Page).where(Page.batch_id == polled_batch)
        ).all()
    assert running == 0
    # Every task was polled until its answer came, and each answer was asked for once.
    assert len(polls) == 12 and all(count >= 1 for count in polls)


def test_each_get_result_is_one_recorded_answer(
    polled: tuple[int, int], sim_http: httpx.Client
) -> None:
    batch_id, before = polled
    with session_scope() as session:
        recorded = session.scalar(
            select(func.sum(ProviderTask.polls)).join(Page).where(Page.batch_id == batch_id)
        )
    # No duplicate delivery: the provider answered exactly the polls Postgres recorded.
    assert _get_result_calls(sim_http).get("ok", 0) - before == recorded
