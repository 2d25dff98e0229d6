"""Polling: processing times learnt from poll answers, a schedule that spends about one
get_result per task, and no poll after a task is finished."""

from __future__ import annotations

import math
import random

from pipeline.domain.polling import (
    Observation,
)

MEDIAN_S, SIGMA = 12.0, 0.69  # the seeds' processing times, as the simulator draws them


def lognormal(rng: random.Random) -> float:
    return MEDIAN_S * math.exp(SIGMA * rng.gauss(0.0, 1.0))


def current_status(rng: random.Random, tasks: int) -> list[Observation]:
    """Each task asked once at a random age: finished or not, never when it finished."""
    observations = []
    for _ in range(tasks):
        age = rng.uniform(2.0, 60.0)
        observations.append(Observation(age, lognormal(rng) <= age))
    return observations
