"""The scenarios: what each one sets on the simulator and the pipeline, and what it checks.

Quotas and times are the provider's documented ones, multiplied by the run's scale ``K``:
quotas and the pipeline's QPS settings x K, processing and poll times / K (``--time-scale``),
so the whole system runs K times faster and the ratios keep their meaning. At K = 1 the
absolute numbers are those of the real provider's quotas as well.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal

from pipeline.settings import Settings

PROCESSING_MEDIAN_S = 12.0
PROCESSING_SIGMA = 0.69
"""Log-normal processing time (seeds: about ten seconds); about 1 % of tasks take over 60 s."""
PROCESSING_TAIL_S = 60.0
FIXED_POLL_EVERY_S = 5.0
"""The naive baseline: first poll 5 s after submission (the seeds' advice), then every 5 s."""
CONCURRENCY = {"SCANGRADE_SUBMIT_CONCURRENCY": "4", "SCANGRADE_POLL_CONCURRENCY": "4"}
S3_BUCKET = "scangrade-bench"

LEAN_RETENTION_S = 900.0
"""A lean scenario's simulator forgets a task this long after it was ready (the pipeline sees
each within a minute); the last tasks, which set the oracle's end, are still there."""
SCALE_SIZES = (600, 5_000, 20_000)
"""The scale study's nights, in pages: a class, a school, a district."""

_STARTUP_S = 30.0
_CEILING_GUESS_PAGES_PER_S = 2.0
"""A deliberately low guess of the unlimited pipeline's speed, only to size its timeout."""


class Measure(StrEnum):
    """A field of ``bench.metrics.Measurements`` that a report line shows."""

    CREATE_RATIO = "create_ratio"
    REFUSED = "refused"
    GETS_PER_TASK = "gets_per_task"
    MEAN_DELAY_S = "mean_delay_s"
    MAKESPAN_RATIO = "makespan_ratio"
    ROUND_TRIPS_PER_CALL = "round_trips_per_call"
    PAGES_PER_S = "pages_per_s"
    CHAINS_PER_S = "chains_per_s"
    CEILING_RATIO = "ceiling_ratio"
    WORKER_PROCESSES = "worker_processes"
    WORKER_RSS_MB = "worker_rss_mb"
    WORKER_PSS_MB = "worker_pss_mb"


@dataclass(frozen=True)
class Target:
    """The bound a measurement should stay within."""

    op: Literal[">=", "<="]
    bound: float

    def met(self, value: float) -> bool:
        """Whether ``value`` is within the bound."""
        return value >= self.bound if self.op == ">=" else value <= self.bound

    def __str__(self) -> str:
        return f"{self.op} {self.bound:g}"


@dataclass(frozen=True)
class Check:
    """One report line: a measurement, its label and, if it has one, its target."""

    measure: Measure
    label: str
    target: Target | None = None


@dataclass(frozen=True)
class BenchKey:
    """An API key pair the simulator accepts and the pipeline is given."""

    api_key: str
    secret_key: str


@dataclass(frozen=True)
class Endpoints:
    """Where one scenario's services are."""

    database_url: str
    redis_url: str
    s3_url: str
    simulator_url: str


def create_ratio(target: float) -> Check:
    """Steady successful create_task rate over the quota of every key."""
    return Check(Measure.CREATE_RATIO, "creates/s ÷ quota (steady 80 %)", Target(">=", target))


REFUSED_18 = Check(Measure.REFUSED, "error-18 answers", Target("<=", 0))
GETS_PER_TASK = Check(
    Measure.GETS_PER_TASK, "get_result calls per completed task (floor 1.0)", Target("<=", 1.2)
)
GETS_PER_TASK_SMALL = Check(
    Measure.GETS_PER_TASK, "get_result calls per completed task (floor 1.0)", Target("<=", 1.5)
)
"""A small batch is all tail and learns nothing of processing times: the budget still holds."""
MAKESPAN_SHOWN = Check(Measure.MAKESPAN_RATIO, "makespan ÷ oracle (no target: a few tasks)")
GETS_PER_TASK_ROOMY = Check(
    Measure.GETS_PER_TASK, "get_result calls per completed task (target only at 2 get/s)"
)
"""With get quota to spare, polls may come sooner to shorten the tail: shown, not targeted."""
MEAN_DELAY = Check(Measure.MEAN_DELAY_S, "mean ready → seen delay (s)")
MAKESPAN = Check(Measure.MAKESPAN_RATIO, "makespan ÷ oracle", Target("<=", 1.02))
ROUND_TRIPS = Check(Measure.ROUND_TRIPS_PER_CALL, "limiter round trips per API call")
MEMORY = (
    Check(Measure.WORKER_PROCESSES, "workers: processes"),
    Check(Measure.WORKER_RSS_MB, "workers: MB resident (sum of RSS)", Target("<=", 1536)),
    Check(Measure.WORKER_PSS_MB, "workers: MB resident (sum of PSS)", Target("<=", 1536)),
)
"""The default topology's size on one host (``bench.memory``), in every scenario. RSS counts a
page a node's children share with their parent once per child; PSS splits it between them."""
POLL_CHECKS = (create_ratio(0.97), REFUSED_18, GETS_PER_TASK, MEAN_DELAY, MAKESPAN, ROUND_TRIPS)


@dataclass(frozen=True)
class Scenario:
    """One benchmark run: the quotas, keys and poll policy it sets, and what it reports.

    ``create_qps`` and ``get_qps`` are per key at scale 1; 0 means unlimited on both sides.
    ``expected_gets_per_task`` only sizes the timeout of a get-limited batch. ``pages`` fixes
    the batch's size whatever the run's ``--pages``; ``sizes`` makes the scenario a study, one
    run per size (:meth:`runs`). ``metered``: the CPU and memory of every process is sampled
    (:mod:`bench.cpu`), as it always is when the scenario times no-op chains. ``lean``: the
    stand-ins forget what the pipeline will not ask for again (the simulator its tasks
    :data:`LEAN_RETENTION_S` after they were ready, S3 the objects of ended documents:
    :mod:`bench.janitor`), so a night of 20,000 pages fits the host's memory.
    """

    name: str
    purpose: str
    checks: tuple[Check, ...]
    create_qps: float = 2.0
    get_qps: float = 2.0
    keys: int = 1
    poll_policy: Literal["adaptive", "confident", "fixed"] = "adaptive"
    processing: bool = True
    noop_chains: bool = False
    expected_gets_per_task: float = 1.2
    pages: int | None = None
    sizes: tuple[int, ...] = ()
    metered: bool = False
    lean: bool = False

    @property
    def measures_cpu(self) -> bool:
        """Whether the scenario's processes are metered (``bench.cpu``)."""
        return self.metered or self.noop_chains

    def runs(self) -> tuple[Scenario, ...]:
        """What to run: the scenario itself, or one run of each of its ``sizes``."""
        if not self.sizes:
            return (self,)
        return tuple(replace(self, name=f"{self.name}-{n}", pages=n, sizes=()) for n in self.sizes)

    @property
    def bench_keys(self) -> tuple[BenchKey, ...]:
        """The scenario's API keys, the same on the simulator and in the pipeline."""
        return tuple(
            BenchKey(f"bench-key-{n}", f"bench-secret-{n}") for n in range(1, 1 + self.keys)
        )

    def create_quota(self, scale: float) -> float:
        """create_task calls per second the simulator allows over all keys (0: unlimited)."""
        return self.create_qps * self.keys * scale

    def expected_s(self, pages: int, scale: float) -> float:
        """A generous estimate of the batch's duration; the timeout is a multiple of it."""
        if self.create_qps and self.get_qps:
            per_key = min(self.create_qps, self.get_qps / self.expected_gets_per_task)
            throughput = per_key * self.keys * scale
        else:
            throughput = _CEILING_GUESS_PAGES_PER_S
        tail = PROCESSING_TAIL_S / scale if self.processing else 0.0
        return _STARTUP_S + pages / throughput + tail

    def describe(self, scale: float) -> str:
        """One line of parameters for the report."""
        quota = (
            f"{self.create_qps * scale:g} create/s, {self.get_qps * scale:g} get/s per key"
            if self.create_qps
            else "unlimited quota"
        )
        processing = (
            f"processing log-normal median {PROCESSING_MEDIAN_S / scale:g} s σ {PROCESSING_SIGMA}"
            if self.processing
            else "zero processing time"
        )
        keys = "1 key" if self.keys == 1 else f"{self.keys} keys"
        if self.pages is not None:
            keys += f", {self.pages} pages"
        polling = (
            f"fixed polling every {FIXED_POLL_EVERY_S / scale:g} s"
            if self.poll_policy == "fixed"
            else f"{self.poll_policy} polling"
        )
        return f"{quota}, {keys}, {polling}, {processing}"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "adaptive-2get",
        "documented quotas, adaptive polling",
        POLL_CHECKS,
    ),
    Scenario(
        "small-batch",
        "documented quotas, adaptive polling, 8 pages: all tail, too few to learn times from",
        (GETS_PER_TASK_SMALL, REFUSED_18, MEAN_DELAY, MAKESPAN_SHOWN),
        pages=8,
    ),
    Scenario(
        "naive-2get",
        "documented quotas, fixed polling: first poll after 5 s, then every 5 s (the baseline)",
        POLL_CHECKS,
        poll_policy="fixed",
        expected_gets_per_task=3.0,
    ),
    Scenario(
        "adaptive-10get",
        "get_result quota 10/s: the room buys shorter delays, within SCANGRADE_POLL_BUDGET calls",
        (GETS_PER_TASK_ROOMY, MEAN_DELAY, REFUSED_18),
        get_qps=10.0,
    ),
    Scenario(
        "confident-10get",
        "get_result quota 10/s, the room left unused: first poll at 90 % finished, then ×1.6 "
        "(adaptive-10get's baseline)",
        (GETS_PER_TASK_ROOMY, MEAN_DELAY, REFUSED_18),
        get_qps=10.0,
        poll_policy="confident",
    ),
    Scenario(
        "ceiling",
        "unlimited quota, zero processing: the pipeline's own speed against no-op chains "
        "through the same five queues and workers",
        (
            Check(Measure.PAGES_PER_S, "pipeline pages/s (enqueue → last done)"),
            Check(Measure.CHAINS_PER_S, "no-op 5-hop chains/s"),
            Check(Measure.CEILING_RATIO, "pipeline ÷ no-op chains", Target(">=", 0.5)),
            REFUSED_18,
        ),
        create_qps=0.0,
        get_qps=0.0,
        processing=False,
        noop_chains=True,
    ),
    Scenario(
        "two-keys",
        "two API keys at the documented quotas: twice the throughput?",
        (create_ratio(0.95), REFUSED_18),
        keys=2,
    ),
    Scenario(
        "scale",
        "one night of each size in turn, three keys at the documented quotas: what a page "
        "and a periodic tick cost must not grow with the night (bench.scale)",
        (create_ratio(0.9), REFUSED_18),
        keys=3,
        sizes=SCALE_SIZES,
        metered=True,
        lean=True,
    ),
)
NAMES = tuple(scenario.name for scenario in SCENARIOS)


def simulator_args(scenario: Scenario, scale: float) -> list[str]:
    """The simulator's flags: this scenario's keys and quotas, the run's scale."""
    args: list[str] = []
    for key in scenario.bench_keys:
        args += ["--key", f"{key.api_key}:{key.secret_key}"]
    time_scale = 1 / scale if scenario.processing else 0.0
    if scenario.lean:
        args += ["--task-retention-s", f"{LEAN_RETENTION_S / scale:g}"]
    return [
        *args,
        *("--quota", f"correct_edu:create_task={scenario.create_qps:g}"),
        *("--quota", f"correct_edu:get_result={scenario.get_qps:g}"),
        *("--quota-scale", f"{scale:g}"),
        *("--time-scale", repr(time_scale)),
        *("--processing-median-s", f"{PROCESSING_MEDIAN_S:g}"),
        *("--processing-sigma", f"{PROCESSING_SIGMA:g}"),
    ]


def pipeline_env(scenario: Scenario, scale: float, endpoints: Endpoints) -> dict[str, str]:
    """Every setting the workers and ``scangrade enqueue`` get for this scenario.

    Poll times are the documented defaults divided by the scale, like processing times; the
    key pool is always given, so a stray ``SCANGRADE_BAIDU_KEYS`` in the shell cannot leak in.
    """
    first = scenario.bench_keys[0]
    keys = [{"api_key": k.api_key, "secret_key": k.secret_key} for k in scenario.bench_keys]
    return {
        "SCANGRADE_DATABASE_URL": endpoints.database_url,
        "SCANGRADE_REDIS_URL": endpoints.redis_url,
        "SCANGRADE_S3_ENDPOINT_URL": endpoints.s3_url,
        "SCANGRADE_S3_BUCKET": S3_BUCKET,
        "SCANGRADE_S3_ACCESS_KEY_ID": "bench",
        "SCANGRADE_S3_SECRET_ACCESS_KEY": "bench",
        "SCANGRADE_BAIDU_BASE_URL": endpoints.simulator_url,
        "SCANGRADE_BAIDU_API_KEY": first.api_key,
        "SCANGRADE_BAIDU_SECRET_KEY": first.secret_key,
        "SCANGRADE_BAIDU_KEYS": json.dumps(keys),
        "SCANGRADE_CORRECT_EDU_CREATE_QPS": f"{scenario.create_qps * scale:g}",
        "SCANGRADE_CORRECT_EDU_GET_QPS": f"{scenario.get_qps * scale:g}",
        "SCANGRADE_POLL_POLICY": scenario.poll_policy,
        "SCANGRADE_SETTLE_S": "0",  # the benchmark writes its pages just before enqueueing
        "SCANGRADE_METRICS_PORT": "0",
        **_poll_times(scale),
        **CONCURRENCY,
    }


def _poll_times(scale: float) -> dict[str, str]:
    """The documented poll times (Settings' defaults), and the fixed policy's, divided by K."""
    names = ("poll_first_min_s", "poll_first_max_s", "poll_max_interval_s")
    times = {name: float(Settings.model_fields[name].default) for name in names}
    times["poll_fixed_interval_s"] = FIXED_POLL_EVERY_S
    return {f"SCANGRADE_{name.upper()}": f"{value / scale:g}" for name, value in times.items()}


def selected(only: tuple[str, ...] = (), sizes: tuple[int, ...] = ()) -> tuple[Scenario, ...]:
    """Every scenario, or those named (in the order of ``SCENARIOS``).

    ``sizes``, if given, replaces the nights of a study (``scale``).
    """
    chosen = (s for s in SCENARIOS if not only or s.name in only)
    return tuple(replace(s, sizes=sizes) if s.sizes and sizes else s for s in chosen)
