"""``scangrade workers``: every worker kind and Celery beat for one host, restarted if they die.

A worker per queue, so a slow stage never starves another, each run as several worker
processes (each sleeps for its own quota slot; they share the quota through the limiter in
Redis). Every worker is a prefork pool of one child: the pool is what enforces the hard and
soft time limits (thread and solo pools ignore them), and one child per worker rather than
one pool of many: with Redis and late acks, a many-child pool's parent can sit on free
children while messages wait until another message arrives (celery#4378), which showed here
as ingest stalls.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline import metrics
from pipeline.settings import Settings, get_settings

log = logging.getLogger(__name__)

_RESTART_DELAY_S = 1.0


@dataclass(frozen=True)
class WorkerSpec:
    """One process to keep running."""

    name: str
    argv: tuple[str, ...]


def worker_specs(settings: Settings, state_dir: Path) -> list[WorkerSpec]:
    """The processes of one host: a worker per stage, the control worker and beat."""
    celery = (sys.executable, "-m", "celery", "-A", "workers.app")
    common = ("--without-gossip", "--without-mingle", "-l", settings.log_level)

    def worker(name: str, queues: str, pool: str, concurrency: int) -> WorkerSpec:
        argv = (
            *celery,
            "worker",
            "-Q",
            queues,
            "-n",
            f"{name}@%h",
            "-P",
            pool,
            "-c",
            str(concurrency),
            *common,
        )
        return WorkerSpec(name, argv)

    def processes(stage: str, count: int, queues: str | None = None) -> list[WorkerSpec]:
        return [worker(f"{stage}-{n}", queues or stage, "prefork", 1) for n in range(1, count + 1)]

    return [
        *processes("ingest", settings.ingest_concurrency),
        *processes("submit", settings.submit_concurrency),
        *processes("poll", settings.poll_concurrency),
        *processes("persist", settings.persist_concurrency, "persist,archive"),
        worker("control", "control", "prefork", 1),
        WorkerSpec(
            "beat",
            (
                *celery,
                "beat",
                "-l",
                settings.log_level,
                "-s",
                str(state_dir / "celerybeat-schedule"),
            ),
        ),
    ]


class Supervisor:
    """Starts the processes, restarts any that exits, and stops them all on SIGTERM/SIGINT."""

    def __init__(self, specs: list[WorkerSpec]) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping = False
        self.restarts: dict[str, int] = dict.fromkeys(self._specs, 0)
        self._metrics: metrics.MetricsServer | None = None

    def run(self) -> int:
        """Supervise until told to stop; returns the exit code."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        # One /metrics for every process started here: they count into one directory.
        self._metrics = metrics.serve_supervised(get_settings())
        for name in self._specs:
            self._start(name)
        while not self._stopping:
            time.sleep(0.5)
            for name, proc in list(self._procs.items()):
                if proc.poll() is not None and not self._stopping:
                    self.restarts[name] += 1
                    log.error(
                        "%s worker exited with %s; restarting (restart #%d)",
                        name,
                        proc.returncode,
                        self.restarts[name],
                    )
                    time.sleep(_RESTART_DELAY_S)
                    self._start(name)
        self._terminate()
        return 0

    def _start(self, name: str) -> None:
        env = {**os.environ, **(self._metrics.env if self._metrics else {})}
        self._procs[name] = subprocess.Popen(self._specs[name].argv, env=env)
        log.info("started %s worker (pid %d)", name, self._procs[name].pid)

    def _stop(self, signum: int, _frame: object) -> None:
        log.info("received signal %d; stopping workers", signum)
        self._stopping = True

    def _terminate(self) -> None:
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 30
        for proc in self._procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        if self._metrics is not None:
            self._metrics.close()
