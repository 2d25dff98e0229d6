"""The benchmark's ratios, on hand-made call logs, task lists and rows."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bench.metrics import (
    Call,
    ChainRun,
    Measurements,
    Observation,
    PageEnd,
    SeenTask,
    SimTask,
    api_calls,
    calls_per_second,
    count_refused,
    measure,
    ready_to_seen,
    steady_rate,
)
from bench.scenarios import SCENARIOS, Target


def create(at: float, outcome: str = "ok", key: str = "k1") -> Call:
    return Call(at, key, "correct_edu.create_task", outcome)


def get(at: float, outcome: str = "ok") -> Call:
    return Call(at, "k1", "correct_edu.get_result", outcome)


def test_steady_rate_ignores_ramp_up_and_drain() -> None:
    # 2/s for 10 s in the middle, with a slow start and a straggler at the end.
    middle = [10 + i * 0.5 for i in range(21)]
    times = [0.0, 5.0, *middle, 100.0]
    assert steady_rate(times, trim=0.1) == pytest.approx(2.0)


def test_steady_rate_needs_two_events() -> None:
    assert steady_rate([]) is None
    assert steady_rate([3.0]) is None
    assert steady_rate([3.0, 3.0, 3.0]) is None


def test_refused_and_api_calls_leave_tokens_and_downloads_out() -> None:
    calls = [
        Call(0.0, "k1", "oauth.token", "ok"),
        create(1.0),
        create(1.1, outcome="18"),
        get(2.0),
        Call(3.0, "k1", "bos.get", "ok"),
        get(4.0, outcome="282000"),
    ]
    assert count_refused(calls) == 1
    assert api_calls(calls) == 4


def test_ready_to_seen_matches_tasks_by_id() -> None:
    sim = [SimTask("a", "correct_edu", 0.0, 10.0), SimTask("b", "correct_edu", 1.0, 12.0)]
    seen = [
        SeenTask("b", 1.0, 12.5, 1),
        SeenTask("a", 0.0, 11.0, 2),
        SeenTask("c", 0.0, 20.0, 1),  # not the simulator's: ignored
        SeenTask("d", 0.0, None, 3),  # never seen finished: ignored
    ]
    assert sorted(ready_to_seen(sim, seen)) == pytest.approx([0.5, 1.0])


def observation(**changes: Any) -> Observation:
    """Four pages: creates at 2/s, one task polled twice, the last page done 1 s after ready."""
    base = Observation(
        t0=100.0,
        calls=[
            *(create(100.0 + i * 0.5) for i in range(4)),
            *(get(at) for at in (110.0, 111.0, 111.5, 112.0, 113.0)),
        ],
        sim_tasks=[
            SimTask(t, "correct_edu", 100.0, ready)
            for t, ready in zip("abcd", (109, 110, 111, 119), strict=True)
        ],
        seen=[
            SeenTask(t, 100.0, fin, 1)
            for t, fin in zip("abcd", (110.0, 111.0, 111.5, 120.0), strict=True)
        ],
        pages=[
            PageEnd("done", 112.0),
            PageEnd("done", 121.0),
            PageEnd("done", 115.0),
            PageEnd("failed", 130.0),
        ],
        limiter_round_trips=18,
    )
    return dataclasses.replace(base, **changes)


def test_measure_poll_scenario() -> None:
    m = measure(observation(), create_quota=2.0)
    assert m.pages_done == 3 and m.pages_failed == 1
    assert m.create_ratio == pytest.approx(1.0)
    assert m.refused == 0
    assert m.gets_per_task == pytest.approx(5 / 4)
    assert m.mean_delay_s == pytest.approx((1.0 + 1.0 + 0.5 + 1.0) / 4)
    # The last page done at 121 (the failed one does not count), the last result ready at 119.
    assert m.makespan_s == pytest.approx(21.0)
    assert m.oracle_s == pytest.approx(19.0)
    assert m.makespan_ratio == pytest.approx(21 / 19)
    assert m.round_trips_per_call == pytest.approx(18 / 9)
    assert m.chains_per_s is None and m.ceiling_ratio is None


def test_measure_without_limiter_stats_or_quota() -> None:
    m = measure(observation(limiter_round_trips=None), create_quota=0.0)
    assert m.round_trips_per_call is None
    assert m.create_ratio is None


def test_measure_ceiling_against_noop_chains() -> None:
    chains = ChainRun(chains=4, completed=4, started_at=200.0, finished_at=200.5)
    m = measure(observation(chains=chains), create_quota=0.0)
    assert m.pages_per_s == pytest.approx(3 / 21)
    assert m.chains_per_s == pytest.approx(8.0)
    assert m.ceiling_ratio == pytest.approx(3 / 21 / 8)


def test_measure_of_a_batch_that_never_started() -> None:
    empty = Observation(100.0, [], [], [], [], None)
    m = measure(empty, create_quota=2.0)
    assert m.pages_done == 0
    assert m.create_ratio is None and m.gets_per_task is None and m.makespan_ratio is None


def test_calls_per_second_bins_by_operation_and_outcome() -> None:
    calls = [
        create(0.2),
        create(0.7),
        create(1.1, outcome="18"),
        get(3.5),
        Call(1.0, "k1", "oauth.token", "ok"),
    ]
    series = calls_per_second(calls, t0=0.0, bin_s=2.0)
    assert series == {
        ("correct_edu.create_task", "ok"): [1.0, 0.0],
        ("correct_edu.create_task", "refused"): [0.5, 0.0],
        ("correct_edu.get_result", "ok"): [0.0, 0.5],
    }


def test_targets() -> None:
    assert Target(">=", 0.97).met(0.97) and not Target(">=", 0.97).met(0.96)
    assert Target("<=", 0).met(0) and not Target("<=", 0).met(1)
    assert str(Target("<=", 1.2)) == "<= 1.2"


def test_every_check_names_a_measurement() -> None:
    fields = {field.name for field in dataclasses.fields(Measurements)}
    for scenario in SCENARIOS:
        for check in scenario.checks:
            assert check.measure.value in fields, (scenario.name, check.measure)
