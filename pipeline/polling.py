"""When to ask get_result next.

The first poll comes after the seeds' 5–10 s, then exponential backoff with jitter up to a
cap, so that a slow task costs few calls and the polls of many tasks submitted together spread
out instead of arriving in waves.
"""

from __future__ import annotations

import random

from pipeline.settings import Settings


def first_delay(settings: Settings, rng: random.Random | None = None) -> float:
    """Seconds from submission to the first poll."""
    rng = rng or random.Random()
    return rng.uniform(settings.poll_first_min_s, settings.poll_first_max_s)


def next_delay(settings: Settings, polls_done: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``polls_done``-th unfinished answer (full jitter ±25 %)."""
    rng = rng or random.Random()
    base = settings.poll_first_min_s * settings.poll_backoff ** max(0, polls_done - 1)
    capped = min(settings.poll_max_interval_s, base)
    return capped * rng.uniform(0.75, 1.25)
