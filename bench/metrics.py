"""The benchmark's numbers, computed from what the simulator and Postgres recorded.

Pure functions over plain records, so every ratio can be checked by a unit test without
running anything. The simulator's call log says how the quota was spent, its task list says
when each result became available (the oracle), and Postgres says when the pipeline saw each
result and finished each page. All times are epoch seconds of the one machine's clock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean

from bench.memory import MemoryUse

REFUSED = "18"
"""The provider's "QPS over quota" error code: a call the quota did not allow."""

_NOT_API = ("oauth.", "bos.")
"""Token fetches and signed-URL downloads take no quota slot, so they are not API calls."""


@dataclass(frozen=True)
class Call:
    """One entry of the simulator's ``/_sim/calls`` log."""

    at: float
    api_key: str
    operation: str
    outcome: str

    @property
    def is_api(self) -> bool:
        """A call to a quota-limited API operation."""
        return not self.operation.startswith(_NOT_API)

    @property
    def outcome_class(self) -> str:
        """``ok``, ``refused`` (error 18) or ``error`` (anything else), for the plot."""
        if self.outcome == "ok":
            return "ok"
        return "refused" if self.outcome == REFUSED else "error"


@dataclass(frozen=True)
class SimTask:
    """A task as the simulator knows it: when it was created and when its result was ready."""

    task_id: str
    api: str
    created_at: float
    ready_at: float


@dataclass(frozen=True)
class SeenTask:
    """A ``provider_tasks`` row: when the pipeline submitted the task and saw it finished."""

    task_id: str
    submitted_at: float
    finished_at: float | None
    polls: int


@dataclass(frozen=True)
class PageEnd:
    """A page's state and the last time it changed."""

    state: str
    updated_at: float


@dataclass(frozen=True)
class ChainRun:
    """The no-op chains of the ceiling scenario: how many, and when they started and ended."""

    chains: int
    completed: int
    started_at: float
    finished_at: float | None

    @property
    def per_second(self) -> float | None:
        """Chains completed per second, all chains started at once; None if none finished."""
        if self.finished_at is None or not self.completed:
            return None
        return ratio(self.completed, self.finished_at - self.started_at)


@dataclass(frozen=True)
class CpuUse:
    """CPU milliseconds per page of the batch and per no-op chain, by part of the system.

    ``*_cores`` is how many cores the measured processes kept busy on average meanwhile.
    """

    per_page_ms: Mapping[str, float]
    page_cores: float
    per_chain_ms: Mapping[str, float] | None = None
    chain_cores: float | None = None


@dataclass(frozen=True)
class PeriodicTotals:
    """A periodic task's runs so far (``scangrade_periodic_*seconds``): how many, how long."""

    runs: int
    seconds: float
    query_seconds: float

    def since(self, earlier: PeriodicTotals | None) -> PeriodicTotals:
        """The runs between ``earlier`` and these totals."""
        if earlier is None:
            return self
        return PeriodicTotals(
            self.runs - earlier.runs,
            self.seconds - earlier.seconds,
            self.query_seconds - earlier.query_seconds,
        )

    @property
    def mean_ms(self) -> float | None:
        """Milliseconds a run took, on average."""
        return ratio(1000 * self.seconds, self.runs)

    @property
    def mean_query_ms(self) -> float | None:
        """Milliseconds a run spent in its SQL statements, on average."""
        return ratio(1000 * self.query_seconds, self.runs)


@dataclass(frozen=True)
class Observation:
    """Everything one scenario recorded, gathered after its batch ended (or timed out)."""

    t0: float
    calls: Sequence[Call]
    sim_tasks: Sequence[SimTask]
    seen: Sequence[SeenTask]
    pages: Sequence[PageEnd]
    limiter_round_trips: int | None
    chains: ChainRun | None = None
    cpu: CpuUse | None = None
    memory: MemoryUse | None = None
    """The largest sample of ``scangrade workers``' process tree during the scenario."""
    periodic: Mapping[str, PeriodicTotals] | None = None
    """Each periodic task's runs while the batch ran (metered scenarios)."""
    largest_mb: Mapping[str, float] | None = None
    """Each part's largest process, resident MB (metered scenarios)."""


@dataclass(frozen=True)
class Measurements:
    """The numbers a scenario's report lines pick from; None where there is nothing to say."""

    pages_done: int
    pages_failed: int
    create_ratio: float | None
    refused: int
    gets_per_task: float | None
    mean_delay_s: float | None
    makespan_s: float | None
    oracle_s: float | None
    makespan_ratio: float | None
    round_trips_per_call: float | None
    pages_per_s: float | None
    chains_per_s: float | None
    ceiling_ratio: float | None
    worker_processes: int | None = None
    worker_rss_mb: float | None = None
    worker_pss_mb: float | None = None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either is unknown or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def steady_rate(times: Iterable[float], trim: float = 0.1) -> float | None:
    """Events per second once ramp-up and drain are cut off.

    The first and last ``trim`` of the events (by time) are dropped: the first calls wait for
    ingest and the last ones for the batch to run dry, neither of which says how well the
    quota is used. None if fewer than two events remain or they share one instant.
    """
    ordered = sorted(times)
    cut = int(len(ordered) * trim)
    kept = ordered[cut : len(ordered) - cut]
    if len(kept) < 2 or kept[-1] <= kept[0]:
        return None
    return (len(kept) - 1) / (kept[-1] - kept[0])


def successful(calls: Iterable[Call], op: str) -> list[float]:
    """When each successful call of an operation (``create_task``, ``get_result``) happened."""
    return [c.at for c in calls if c.outcome == "ok" and c.operation.endswith(f".{op}")]


def count_calls(calls: Iterable[Call], op: str) -> int:
    """Calls of an operation whatever their outcome: a refused call still cost a round trip."""
    return sum(1 for c in calls if c.operation.endswith(f".{op}"))


def count_refused(calls: Iterable[Call]) -> int:
    """Error-18 answers: calls the pipeline made although the quota did not allow them."""
    return sum(1 for c in calls if c.outcome == REFUSED)


def api_calls(calls: Iterable[Call]) -> int:
    """Calls that take a quota slot (not token fetches or result-image downloads)."""
    return sum(1 for c in calls if c.is_api)


def ready_to_seen(sim_tasks: Iterable[SimTask], seen: Iterable[SeenTask]) -> list[float]:
    """For each task the pipeline saw finished, seconds from ready to seen, matched by id."""
    ready = {task.task_id: task.ready_at for task in sim_tasks}
    return [
        task.finished_at - ready[task.task_id]
        for task in seen
        if task.finished_at is not None and task.task_id in ready
    ]


def mean(values: Sequence[float]) -> float | None:
    """The mean, or None for no values."""
    return fmean(values) if values else None


def last_done(pages: Iterable[PageEnd]) -> float | None:
    """When the last page reached ``done``; None if none did."""
    return max((p.updated_at for p in pages if p.state == "done"), default=None)


def oracle_end(sim_tasks: Iterable[SimTask]) -> float | None:
    """When the provider had the last result ready: no pipeline could finish before that."""
    return max((task.ready_at for task in sim_tasks), default=None)


def since(t0: float, moment: float | None) -> float | None:
    """Seconds from ``t0`` to ``moment``, or None if it never came."""
    return None if moment is None else moment - t0


def measure(observation: Observation, create_quota: float) -> Measurements:
    """Every number of one scenario; ``create_quota`` is create_task calls/s over all keys.

    A quota of 0 (unlimited) has no utilisation, so ``create_ratio`` is None then.
    """
    obs = observation
    completed = sum(1 for task in obs.seen if task.finished_at is not None)
    done = sum(1 for page in obs.pages if page.state == "done")
    makespan = since(obs.t0, last_done(obs.pages))
    oracle = since(obs.t0, oracle_end(obs.sim_tasks))
    pages_per_s = ratio(done, makespan)
    chains_per_s = obs.chains.per_second if obs.chains else None
    return Measurements(
        pages_done=done,
        pages_failed=sum(1 for page in obs.pages if page.state == "failed"),
        create_ratio=ratio(steady_rate(successful(obs.calls, "create_task")), create_quota),
        refused=count_refused(obs.calls),
        gets_per_task=ratio(count_calls(obs.calls, "get_result"), completed),
        mean_delay_s=mean(ready_to_seen(obs.sim_tasks, obs.seen)),
        makespan_s=makespan,
        oracle_s=oracle,
        makespan_ratio=ratio(makespan, oracle),
        round_trips_per_call=ratio(obs.limiter_round_trips, api_calls(obs.calls)),
        pages_per_s=pages_per_s,
        chains_per_s=chains_per_s,
        ceiling_ratio=ratio(pages_per_s, chains_per_s),
        worker_processes=obs.memory.processes if obs.memory else None,
        worker_rss_mb=obs.memory.rss_mb if obs.memory else None,
        worker_pss_mb=obs.memory.pss_mb if obs.memory else None,
    )


def calls_per_second(
    calls: Iterable[Call], t0: float, bin_s: float
) -> dict[tuple[str, str], list[float]]:
    """API calls per second in bins of ``bin_s`` from ``t0``, by (operation, outcome class).

    Every series has the same number of bins (up to the last call of any), so they share an
    x axis: bin ``i`` starts at ``t0 + i * bin_s``.
    """
    counts: defaultdict[tuple[str, str], defaultdict[int, int]] = defaultdict(
        lambda: defaultdict(int)
    )
    for call in calls:
        if call.is_api and call.at >= t0:
            counts[(call.operation, call.outcome_class)][int((call.at - t0) // bin_s)] += 1
    bins = 1 + max((max(per_bin) for per_bin in counts.values()), default=-1)
    return {series: _rates(per_bin, bins, bin_s) for series, per_bin in counts.items()}


def _rates(per_bin: Mapping[int, int], bins: int, bin_s: float) -> list[float]:
    return [per_bin.get(index, 0) / bin_s for index in range(bins)]
