"""Polling: processing times learnt from poll answers, a schedule that spends about one
get_result per task, and no poll after a task is finished."""

from __future__ import annotations

import math
import random

import pytest
from support.polling import MEDIAN_S, SIGMA, current_status

from pipeline.domain.polling import (
    MIN_OBSERVATIONS,
    Observation,
    ProcessingTimes,
    _isotonic,
)


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
