"""``scangrade workers``: this host's worker nodes and Celery beat, restarted if they die.

The nodes are ``pipeline.runtime.topology``'s: one Celery worker per queue group, each a
prefork pool of the group's ``SCANGRADE_*_CONCURRENCY`` children, so a slow stage never
starves another and every child is held to the task time limits. Each child sleeps for its own
quota slot;
they share the quota through the limiter in Redis. Beat runs on every host and sends only
while it holds the deployment's lease (``pipeline.runtime.leader``), so any number of hosts can run
this command. ``SCANGRADE_NODE_HOSTNAME`` names the host in the node names (``submit@host``).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from pipeline.adapters.db.gauges import PagesCollector
from pipeline.runtime import topology
from pipeline.settings import Settings, get_settings
from pipeline.telemetry import metrics
from pipeline.telemetry.logs import configure_logging

log = logging.getLogger(__name__)

_RESTART_DELAY_S = 1.0


@dataclass(frozen=True)
class WorkerSpec:
    """One process to keep running."""

    name: str
    argv: tuple[str, ...]


def worker_specs(settings: Settings) -> list[WorkerSpec]:
    """The processes of one host: a worker node per queue group, then beat."""
    celery = (sys.executable, "-m", *topology.CELERY)
    logging_args = ("-l", settings.log_level)
    host = topology.host_name(settings)
    nodes = [
        WorkerSpec(node.name, (*celery, *node.worker_args(settings, host), *logging_args))
        for node in topology.NODES
    ]
    return [*nodes, WorkerSpec("beat", (*celery, *topology.BEAT, *logging_args))]


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
        self._metrics = metrics.serve_supervised(get_settings(), [PagesCollector()])
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


def main() -> int:
    """What ``scangrade workers`` becomes (``os.execv``): a lean parent for the nodes.

    Only the settings, logging and the metrics endpoint (with the pages gauge's database
    models) are loaded here (about 65 MB of the host's memory instead of the CLI's 110 MB); the
    nodes import the pipeline themselves.
    """
    settings = get_settings()
    configure_logging(settings)
    return Supervisor(worker_specs(settings)).run()


if __name__ == "__main__":
    sys.exit(main())
