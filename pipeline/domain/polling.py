"""When to ask get_result next, so that a task costs about one call.

Every get_result is an observation: at age ``a`` (seconds since create_task answered) the task
was finished or not. The share of tasks finished by age ``a`` is estimated from those
observations by isotonic regression (the pool-adjacent-violators algorithm), the standard
estimator for such "current status" data: it needs no assumption about the shape of the
distribution, and it is not fooled by the fact that most finished tasks are only known to have
finished *before* the poll that saw them.

The first poll comes when ``poll_confidence`` (90 %) of tasks are finished, so nine tasks in
ten cost one call. A task still running is polled again at ages growing by ``poll_backoff``
(exponential backoff, capped at ``poll_max_interval_s``), with jitter so that tasks submitted
together spread out. Until an endpoint and key have enough observations, the first poll comes
two backoff steps past the seeds' 5–10 s (about 26 s): late enough that one call usually finds
the task finished, whatever the batch's size, rather than asking every task at 5–10 s, when
most are still running.

Where the get_result quota has room (more than a call per task while every create slot is
used), the first poll may come sooner and the backoff be tighter: of the schedules a lane
could follow (:class:`Plan`: a first poll at another share finished, another backoff), the one
whose expected delay from ready to seen is shortest is taken, so long as its expected calls
per task, computed on the same observed times, stay within the lane's budget
(:func:`call_budget`). A spare call is spent only where it buys the most lag.

The get_result quota left over when an API has nothing left to submit (the batch's tail) buys
earlier sightings of its last results, within a budget (``early_poll_room``): the batches in
flight on a key may spend at most ``poll_budget`` calls per task in all, and a task is polled
early at most twice before its expected finish (stragglers past it, which hold the batch's
end, are polled every ``EarlyPolls.gap_s``).
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.settings import Settings

MIN_OBSERVATIONS = 30
"""Observations of an endpoint and key needed before its own times are trusted."""

_FLOOR_S = 1.0
"""Shortest wait between two polls of one task (shorter only if the first poll may come sooner)."""

_UNKNOWN_STEPS = 2
"""Backoff steps past the seeds' latest first poll at which a task of unknown times is asked.

The seeds put the first poll at 5–10 s, where a task of "about ten seconds" is about half done;
two steps of 1.6 (26 s) is where such a task, with the log-normal spread observed (σ ≈ 0.7), is
about nine in ten done: the same confidence as a first poll timed from observations.
"""


@dataclass(frozen=True)
class Observation:
    """One get_result answer: the task's age when asked, and whether it was finished."""

    age_s: float
    finished: bool


class ProcessingTimes:
    """The distribution of one endpoint and key's processing times, as observed by polling."""

    def __init__(self, observations: Iterable[Observation]) -> None:
        at_age: dict[float, list[float]] = {}
        for o in observations:
            at_age.setdefault(o.age_s, []).append(1.0 if o.finished else 0.0)
        self._ages = sorted(at_age)
        self.count = sum(len(answers) for answers in at_age.values())
        self._finished = _isotonic(
            [(sum(at_age[age]) / len(at_age[age]), len(at_age[age])) for age in self._ages]
        )

    def share_finished(self, age_s: float) -> float:
        """Estimated share of tasks finished by ``age_s`` (0 before any observation)."""
        index = bisect_left(self._ages, age_s + 1e-9) - 1
        return self._finished[index] if index >= 0 else 0.0

    def finished_at(self) -> list[tuple[float, float]]:
        """The estimated distribution: each age at which tasks finish, with the share that do.

        Empty before ``MIN_OBSERVATIONS``. The share never seen finished sits at the oldest age
        observed (the earliest it can end).
        """
        if self.count < MIN_OBSERVATIONS:
            return []
        found, before = [], 0.0
        for age, finished in zip(self._ages, self._finished, strict=True):
            if finished > before:
                found.append((age, finished - before))
                before = finished
        if before < 1.0 and self._ages:
            found.append((self._ages[-1], 1.0 - before))
        return found

    def quantile(self, share: float) -> float | None:
        """The age by which ``share`` of tasks are finished; None if the data do not reach it."""
        if self.count < MIN_OBSERVATIONS:
            return None
        for age, finished in zip(self._ages, self._finished, strict=True):
            if finished >= share:
                return age
        return None


def _isotonic(points: list[tuple[float, int]]) -> list[float]:
    """The non-decreasing fit of weighted ``(mean, weight)`` points in least squares (PAVA)."""
    blocks: list[list[float]] = []  # [mean, weight, points pooled]
    for mean, weight in points:
        blocks.append([mean, float(weight), 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            last = blocks.pop()
            previous = blocks[-1]
            total = previous[1] + last[1]
            previous[0] = (previous[0] * previous[1] + last[0] * last[1]) / total
            previous[1] = total
            previous[2] += last[2]
    fitted: list[float] = []
    for mean, _, pooled in blocks:
        fitted += [mean] * int(pooled)
    return fitted


def first_delay(
    settings: Settings,
    times: ProcessingTimes | None,
    rng: random.Random | None = None,
    plan: Plan | None = None,
) -> float:
    """Seconds from submission to the first poll, give or take 15 %.

    The plan's (:func:`poll_plan`), or else when ``poll_confidence`` of the observed times are
    finished.
    """
    rng = rng or random.Random()
    if settings.poll_policy == "fixed":
        return settings.poll_fixed_interval_s
    expected = plan.first_s if plan is not None else _confident_first_s(settings, times)
    return max(_floor(settings), expected * rng.uniform(_JITTER[0], _JITTER[-1]))


def _confident_first_s(settings: Settings, times: ProcessingTimes | None) -> float:
    expected = times.quantile(settings.poll_confidence) if times is not None else None
    return unknown_first_s(settings) if expected is None else expected


def unknown_first_s(settings: Settings) -> float:
    """The first poll's age while an endpoint and key's processing times are not yet known."""
    return settings.poll_first_max_s * settings.poll_backoff**_UNKNOWN_STEPS


def next_delay(
    settings: Settings, age_s: float, rng: random.Random | None = None, plan: Plan | None = None
) -> float:
    """Seconds from an unfinished answer at ``age_s`` to the next poll.

    Poll ages grow by the plan's backoff, else ``poll_backoff``, each time (at 1.6, a task still
    running at 30 s is next asked at about 48 s, then 77 s), so a slow task costs a few calls,
    never one every few seconds.
    """
    rng = rng or random.Random()
    if settings.poll_policy == "fixed":
        return settings.poll_fixed_interval_s
    backoff = plan.backoff if plan is not None else settings.poll_backoff
    return max(_floor(settings), _wait(settings, age_s, backoff) * rng.uniform(0.9, 1.1))


def _wait(settings: Settings, age_s: float, backoff: float) -> float:
    return min(settings.poll_max_interval_s, age_s * (backoff - 1))


def _floor(settings: Settings) -> float:
    return min(_FLOOR_S, settings.poll_first_min_s)


GET_HEADROOM = 0.8
"""Share of a lane's get_result quota a steady schedule may plan on: the rest is for the
retries, the tail's early polls and the bursts of tasks submitted together."""

_PLAN_SHARES = tuple(share / 100 for share in range(50, 91, 4))
"""Shares finished at which a plan's first poll may come (``poll_confidence`` is tried too)."""
_PLAN_BACKOFFS = (1.3, 1.45, 1.6, 1.8, 2.0)


@dataclass(frozen=True)
class Plan:
    """How a lane's tasks are polled: first at age ``first_s``, then at ages ``backoff`` apart."""

    first_s: float
    backoff: float


def call_budget(settings: Settings, create_qps: float, get_qps: float) -> float:
    """get_result calls per task a lane's schedule may plan to spend.

    ``poll_budget``, or less where the lane's get quota could not keep up with it while every
    create slot is used (``GET_HEADROOM`` of ``get_qps ÷ create_qps``); a quota of 0 is
    unlimited. At the documented 2 create/s and 2 get/s this is below one call: no room.
    """
    if get_qps <= 0:
        return settings.poll_budget
    if create_qps <= 0:
        return 1.0
    return min(settings.poll_budget, GET_HEADROOM * get_qps / create_qps)


def poll_plan(settings: Settings, times: ProcessingTimes | None, budget: float) -> Plan:
    """The plan that shortens the delay from ready to seen most within ``budget`` calls per task.

    Both are expected values on the observed times (:func:`expected_cost`). The confident plan
    (a first poll at ``poll_confidence`` finished, then ``poll_backoff``) when nothing is known
    yet, when the budget has no room past one call, or when no other plan fits it.
    """
    confident = Plan(_confident_first_s(settings, times), settings.poll_backoff)
    finished = times.finished_at() if times is not None else []
    if settings.poll_policy != "adaptive" or not finished or times is None or budget <= 1.0:
        return confident
    best, shortest = confident, math.inf
    for share in (*_PLAN_SHARES, settings.poll_confidence):
        first_s = times.quantile(share)
        if first_s is None:
            continue
        for backoff in _PLAN_BACKOFFS:
            plan = Plan(max(_floor(settings), first_s), backoff)
            calls, delay_s = expected_cost(settings, finished, plan)
            if calls <= budget and delay_s < shortest:
                best, shortest = plan, delay_s
    return best


def expected_cost(
    settings: Settings, finished: list[tuple[float, float]], plan: Plan
) -> tuple[float, float]:
    """Calls per task and seconds from ready to seen that ``plan`` costs on average.

    For tasks finished at the ages and shares of ``finished`` (:meth:`ProcessingTimes.
    finished_at`), with the first poll's jitter (its earliest, middle and latest) averaged over.
    """
    costs = [_cost(settings, finished, plan.first_s * jitter, plan.backoff) for jitter in _JITTER]
    return sum(c for c, _ in costs) / len(costs), sum(d for _, d in costs) / len(costs)


_JITTER = (0.85, 1.0, 1.15)


def _cost(
    settings: Settings, finished: list[tuple[float, float]], first_s: float, backoff: float
) -> tuple[float, float]:
    calls = delay_s = 0.0
    age, polls = max(_floor(settings), first_s), 1
    for ready_s, share in finished:
        while age < ready_s:
            age += max(_floor(settings), _wait(settings, age, backoff))
            polls += 1
        calls += share * polls
        delay_s += share * (age - ready_s)
    return calls, delay_s


@dataclass(frozen=True)
class LaneSpend:
    """What the batches in flight on one (API, key) lane have spent on get_result so far."""

    tasks: int
    """Their async tasks, finished or not."""
    gets: int
    """get_result answers those tasks have had."""
    running: int
    """Tasks still running: each needs at least one more call, its final one."""
    leased: int
    """Polls handed out and not yet answered."""


def early_poll_room(settings: Settings, spend: LaneSpend, spare: int) -> int:
    """How many of a lane's ``spare`` get_result slots early polls may take now.

    Every call an early poll costs beyond a task's final one comes out of the budget of
    ``poll_budget`` calls per task; the running tasks' final calls and the polls in flight are
    set aside first, so the lane never plans to spend more than the budget.
    """
    if settings.poll_policy == "fixed":
        return 0
    allowed = settings.poll_budget * spend.tasks - spend.gets - spend.running - spend.leased
    return max(0, min(spare, math.floor(allowed)))


EARLY_BEFORE_EXPECTED = 2
"""get_result answers a tail task may have had before its expected finish and still be polled
early: one early look past the median, one more a gap later, then only its schedule."""


@dataclass(frozen=True)
class EarlyPolls:
    """Which running tasks of a tail may be polled before their scheduled time.

    A task at least ``min_age_s`` old, last found running at least ``gap_s`` ago, may be polled
    early ``EARLY_BEFORE_EXPECTED`` times while younger than ``expected_s`` (when most are
    finished: its first scheduled poll is about then anyway), and again every ``gap_s`` once
    older: a straggler is where a sighting soon after it finishes shortens the batch.
    """

    min_age_s: float
    gap_s: float
    expected_s: float


def early_polls(settings: Settings, times: ProcessingTimes | None) -> EarlyPolls:
    """The early-poll rule for a lane, from its observed processing times if known."""
    median = times.quantile(0.5) if times is not None else None
    expected = times.quantile(settings.poll_confidence) if times is not None else None
    if expected is None:
        expected = (
            unknown_first_s(settings) if median is None else max(median, unknown_first_s(settings))
        )
    # Times unknown, a look before the expected finish would most likely find the task running.
    min_age = expected if median is None else median
    gap = max(_floor(settings), min_age / 4)
    return EarlyPolls(min_age, gap, expected)
