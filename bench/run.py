"""One scenario, from a clean slate back to a clean slate.

Start the simulator, point the settings at a fresh database and Redis db, migrate, start the
workers and wait until they answer (start-up is not the pipeline's speed), enqueue the batch,
wait for every page to end, read what happened, then stop and drop everything in reverse.
A scenario that fails or times out still reports what it saw; the next one starts regardless.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from celery import Celery
from rich.markup import escape
from rich.progress import Progress, TaskID
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bench.broker import client_app, run_chains, wait_for_workers
from bench.cpu import CpuMeter, per_unit_ms
from bench.environment import (
    claimed_redis_db,
    database_url,
    drop_scenario_database,
    reset_s3,
)
from bench.janitor import Janitor
from bench.memory import MemoryMeter
from bench.metrics import ChainRun, CpuUse, Measurements, Observation, PeriodicTotals, measure
from bench.observe import (
    batch_rows,
    limiter_round_trips,
    periodic_totals,
    simulator_calls,
    simulator_tasks,
)
from bench.pages import page_dir
from bench.scenarios import S3_BUCKET, Endpoints, Scenario, pipeline_env, simulator_args
from devkit.standins import Service, start_simulator, start_workers
from devkit.testdb import settings_from
from pipeline.adapters.db.models import Batch
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.adapters.schema import migrate
from pipeline.domain.progress import BatchProgress, batch_progress
from pipeline.telemetry.metrics import MULTIPROC_ENV

log = logging.getLogger(__name__)

TIMEOUT_FACTOR = 3.0
"""A batch still running after this many times its expected duration is given up."""
WORKERS_UP_S = 120.0
_CHAIN_GUESS_PER_S = 20.0
"""A deliberately low guess of bare no-op chains per second, only to size their timeout."""
_PAGES_PER_LOOK_S = 1000
"""The bench looks at the batch's progress once a second per this many pages: counting a
night's pages by state is the bench's own query on the scenario's database, whose CPU the
scale study counts as Postgres', so it must not grow with the night."""


@dataclass(frozen=True)
class RunContext:
    """What every scenario of one run shares."""

    pages_dir: Path
    pages: int
    scale: float
    s3_url: str
    postgres_url: str
    redis_url: str
    logs: Path
    progress: Progress
    s3_pid: int | None = None

    @property
    def cache(self) -> Path:
        """Where the generated page directories are kept, one per batch size."""
        return self.pages_dir.parent


@dataclass(frozen=True)
class Outcome:
    """A scenario's result: what it saw, its numbers, and why it failed if it did."""

    scenario: Scenario
    observation: Observation | None
    measurements: Measurements | None
    problem: str | None
    elapsed_s: float

    @property
    def failed(self) -> bool:
        """The scenario did not run to the end (its numbers, if any, are partial)."""
        return self.problem is not None


def run_scenario(scenario: Scenario, ctx: RunContext) -> Outcome:
    """Run one scenario; an error is recorded in the outcome, never raised."""
    started = time.monotonic()
    if scenario.pages is not None and scenario.pages != ctx.pages:
        ctx = replace(ctx, pages=scenario.pages, pages_dir=page_dir(ctx.cache, scenario.pages))
    task = ctx.progress.add_task(scenario.name, total=ctx.pages, detail="starting")
    try:
        observation, problem = _run(scenario, ctx, task)
    except Exception as e:  # one broken scenario must not cost the others their run
        log.exception("scenario %s failed", scenario.name)
        observation, problem = None, f"{type(e).__name__}: {e}"
    ctx.progress.update(task, detail=f"[red]{escape(problem)}[/]" if problem else "[green]done[/]")
    quota = scenario.create_quota(ctx.scale)
    measurements = measure(observation, quota) if observation else None
    return Outcome(scenario, observation, measurements, problem, time.monotonic() - started)


@dataclass(frozen=True)
class _Stand:
    """One scenario's running services, as the batch and the observation need them."""

    env: dict[str, str]
    redis_url: str
    simulator_url: str
    broker: Celery
    meter: CpuMeter | None
    memory: MemoryMeter
    metrics_dir: Path | None
    """Where the workers' metric files are (metered scenarios): the periodic tasks' times."""


def _run(scenario: Scenario, ctx: RunContext, task: TaskID) -> tuple[Observation, str | None]:
    """Start everything, run the batch, observe; the exit stack stops it all in reverse."""
    logs = ctx.logs / scenario.name
    logs.mkdir(parents=True, exist_ok=True)
    batch = f"bench-{scenario.name}"
    with ExitStack() as stack:
        stand = _start(stack, scenario, ctx, logs, task)
        windows = _Windows(stand.meter, stand.metrics_dir)
        enqueued_at = time.time()
        enqueue = _start_enqueue(ctx.pages_dir, batch, stand.env, logs / "enqueue.log")
        stack.callback(enqueue.stop)
        if stand.meter is not None:
            stand.meter.watch("enqueue", enqueue.process.pid)
        timeout = TIMEOUT_FACTOR * scenario.expected_s(ctx.pages, ctx.scale)
        problem = _wait_for_batch(batch, enqueue, timeout, ctx, task)
        windows.mark()  # the batch ended
        chains = None
        if scenario.noop_chains and problem is None:
            ctx.progress.update(task, detail="no-op chains")
            chains = _chains(stand, ctx.pages)
            windows.mark()  # the chains ended
            if chains.completed < chains.chains:
                problem = f"only {chains.completed}/{chains.chains} no-op chains arrived"
        observation = _observe(stand, batch, enqueued_at, chains, windows)
        ctx.progress.update(task, detail="stopping")
    return observation, problem


class _Windows:
    """The meter's totals when the batch starts, when it ends and when the chains end.

    And the periodic tasks' totals when the batch starts and ends, if their files are known.
    """

    def __init__(self, meter: CpuMeter | None, metrics_dir: Path | None) -> None:
        self._meter = meter
        self._metrics_dir = metrics_dir
        self._marks: list[tuple[float, dict[str, float]]] = []
        self._periodic: list[dict[str, PeriodicTotals]] = []
        self.mark()

    def mark(self) -> None:
        """Note the totals now: once when the batch ends, once when the chains end."""
        if self._meter is not None:
            self._marks.append((time.monotonic(), self._meter.totals()))
        if self._metrics_dir is not None:
            self._periodic.append(periodic_totals(self._metrics_dir))

    def periodic(self) -> dict[str, PeriodicTotals] | None:
        """Each periodic task's runs while the batch ran."""
        if len(self._periodic) < 2:
            return None
        start, end = self._periodic[:2]
        return {task: totals.since(start.get(task)) for task, totals in end.items()}

    def use(self, pages: int, chains: ChainRun | None) -> CpuUse | None:
        if self._meter is None or len(self._marks) < 2 or not self._meter.available:
            return None
        (t0, start), (t1, batch) = self._marks[:2]
        use = CpuUse(per_unit_ms(start, batch, pages), _cores(start, batch, t1 - t0))
        if chains is None or len(self._marks) < 3 or not chains.completed:
            return use
        t2, after = self._marks[2]
        return CpuUse(
            use.per_page_ms,
            use.page_cores,
            per_unit_ms(batch, after, chains.completed),
            _cores(batch, after, t2 - t1),
        )


def _cores(start: dict[str, float], end: dict[str, float], seconds: float) -> float:
    busy = sum(end.values()) - sum(start.get(part, 0.0) for part in end)
    return busy / seconds if seconds > 0 else 0.0


def _start(
    stack: ExitStack, scenario: Scenario, ctx: RunContext, logs: Path, task: TaskID
) -> _Stand:
    """Redis db, simulator, database, bucket and workers, each stopped by ``stack`` later."""
    redis_url = stack.enter_context(claimed_redis_db(ctx.redis_url))
    database = database_url(ctx.postgres_url, scenario.name)
    simulator = start_simulator(simulator_args(scenario, ctx.scale), logs / "simulator.log")
    stack.callback(simulator.stop)
    meter = CpuMeter(make_url(database).database) if scenario.measures_cpu else None
    env = pipeline_env(
        scenario, ctx.scale, Endpoints(database, redis_url, ctx.s3_url, simulator.url)
    )
    metrics_dir = logs / "metrics" if scenario.measures_cpu else None
    if metrics_dir is not None:
        metrics_dir.mkdir(exist_ok=True)
        env[MULTIPROC_ENV] = str(metrics_dir)
    settings = stack.enter_context(settings_from(env))
    stack.callback(drop_scenario_database, settings)
    migrate(settings)
    get_store().ensure_bucket()
    stack.callback(reset_s3, ctx.s3_url)
    workers = start_workers(env, logs / "workers.log")
    stack.callback(workers.stop)
    memory = MemoryMeter(workers.process.pid)
    memory.start()
    stack.callback(memory.stop)
    if scenario.lean:
        janitor = Janitor(ctx.s3_url, S3_BUCKET)
        janitor.start()
        stack.callback(janitor.stop)
    broker = client_app(settings)
    stack.callback(broker.close)
    ctx.progress.update(task, detail="waiting for the workers")
    wait_for_workers(broker, WORKERS_UP_S)
    if meter is not None:
        for part, pid in (("workers", workers.process.pid), ("simulator", simulator.process.pid)):
            meter.watch(part, pid)
        if ctx.s3_pid is not None:
            meter.watch("s3", ctx.s3_pid)
        meter.start()
        stack.callback(meter.stop)
    return _Stand(env, redis_url, simulator.url, broker, meter, memory, metrics_dir)


def _chains(stand: _Stand, count: int) -> ChainRun:
    """One no-op chain per page on the same workers, once the batch has left them idle."""
    timeout = TIMEOUT_FACTOR * (10 + count / _CHAIN_GUESS_PER_S)
    return run_chains(stand.broker, stand.redis_url, count, timeout)


def _start_enqueue(pages_dir: Path, batch: str, env: Mapping[str, str], log_path: Path) -> Service:
    """``scangrade enqueue`` as an operator runs it, in the background (no ``--wait``)."""
    argv = [sys.executable, "-m", "pipeline.operator.cli", "enqueue", str(pages_dir)]
    argv += ["--api", "correct_edu", "--batch", batch]
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=out, stderr=out, start_new_session=True
        )
    return Service("enqueue", process)


def _wait_for_batch(
    batch: str, enqueue: Service, timeout_s: float, ctx: RunContext, task: TaskID
) -> str | None:
    """Poll Postgres until every page is done or failed; the problem if that never comes."""
    deadline = time.monotonic() + timeout_s
    every_s = max(1.0, ctx.pages / _PAGES_PER_LOOK_S)
    while True:
        state = _batch_state(batch)
        detail = _describe(state)
        ctx.progress.update(task, completed=state.ended_pages if state else 0, detail=detail)
        code = enqueue.process.poll()
        if code not in (None, 0):
            return f"enqueue exited with {code} ({detail})"
        if code == 0 and state is not None and state.finished:
            return None
        if time.monotonic() > deadline:
            return f"timed out after {timeout_s:.0f} s, {TIMEOUT_FACTOR:g}× expected ({detail})"
        time.sleep(every_s)


def _batch_state(batch: str) -> BatchProgress | None:
    with session_scope() as session:
        batch_id = session.scalar(select(Batch.id).where(Batch.name == batch))
        return batch_progress(session, batch_id) if batch_id is not None else None


def _describe(state: BatchProgress | None) -> str:
    if state is None:
        return "enqueueing"
    return " ".join(f"{name}:{count}" for name, count in sorted(state.pages.items())) or "ingesting"


def _observe(
    stand: _Stand, batch: str, enqueued_at: float, chains: ChainRun | None, windows: _Windows
) -> Observation:
    """Everything the scenario recorded; t0 is the batch's creation (else the enqueue's start)."""
    rows = batch_rows(batch)
    pages = len(rows.pages)
    tasks = simulator_tasks(stand.simulator_url)
    return Observation(
        t0=rows.created_at if rows.created_at is not None else enqueued_at,
        calls=simulator_calls(stand.simulator_url),
        sim_tasks=[task for task in tasks if task.api == "correct_edu"],
        seen=rows.seen,
        pages=rows.pages,
        limiter_round_trips=limiter_round_trips(stand.redis_url),
        chains=chains,
        cpu=windows.use(pages, chains),
        memory=stand.memory.peak,
        periodic=windows.periodic(),
        largest_mb=stand.meter.largest_mb() if stand.meter else None,
    )
