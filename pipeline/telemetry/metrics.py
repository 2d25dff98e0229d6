"""Prometheus counters of the pipeline, and the /metrics endpoint that adds them up.

What is counted, and where:

- ``scangrade_tasks_total{task, outcome}``: every Celery task run (``succeeded``, ``retried``,
  ``failed``), from Celery's signals (``workers/app.py``).
- ``scangrade_provider_answers_total{api, operation, code}``: every answer the provider gave,
  by its ``error_code`` ("0" for a result; "http_502" for an HTTP 5xx without one). Pages
  submitted are ``operation="create_task", code="0"`` (``call`` for synchronous APIs); polls
  are ``operation="get_result"``. handwriting_composition answers "still running" as code 1.
- ``scangrade_limiter_reservations_total{api, operation, outcome}``: every slot asked of the
  shared limiter: ``immediate``, ``waited`` (slept for it), ``refused`` (too far off: the page
  goes back to the queue) or ``closed`` (every key parked or out of budget);
  ``scangrade_limiter_wait_seconds_total{api, operation}`` the time slept for slots.
- ``scangrade_periodic_runs_total{task, outcome}``: every message of a periodic task
  (``dispatch_polls``, ``reconcile``): ``ran``, or skipped as ``not_leader`` or ``overlap``
  (``pipeline/runtime/leader.py``); its ``ran`` count is the ticks of the whole deployment.
- ``scangrade_periodic_seconds{task}`` and ``scangrade_periodic_query_seconds{task}``
  (histograms): how long each run that went ahead took, and how much of it its SQL
  statements took. Flat as a night grows from hundreds of pages to tens of thousands
  (``make bench``'s scale study); a rising one is a query that scans what it should seek.
- ``scangrade_repairs_total{kind}``: rows the reconciler repaired because their state was not
  backed by their other rows (``pipeline/stages/repair.py``; per batch in ``repairs``).
- ``scangrade_pages{state}``: pages by state, read from Postgres when scraped (done and failed
  pages are the pipeline's output; Postgres is their one record): the collector
  ``pipeline.adapters.db.gauges.PagesCollector``, which the endpoints that show it are given.

Each worker process is its own Python process (each node's prefork parent and children,
beat), so the counters live in prometheus_client's multiprocess files
(``PROMETHEUS_MULTIPROC_DIR``): every process writes its own, and one endpoint reads and adds
them all up. ``scangrade workers`` creates the directory, passes it to every process it
starts and serves the endpoint itself on ``SCANGRADE_METRICS_HOST:SCANGRADE_METRICS_PORT``;
a worker started on its own (one per container) serves its own endpoint instead when
``PROMETHEUS_MULTIPROC_DIR`` is set.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from pipeline.settings import Settings

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client reads it when first imported: it must be set before a process starts."""

TASKS = Counter("scangrade_tasks", "Celery task runs, by task and outcome.", ["task", "outcome"])
PERIODIC_RUNS = Counter(
    "scangrade_periodic_runs",
    "Periodic task messages by outcome (ran, not_leader, overlap): see pipeline/runtime/leader.py.",
    ["task", "outcome"],
)
PROVIDER_ANSWERS = Counter(
    "scangrade_provider_answers",
    "Provider answers by API, operation and error_code (0: a result).",
    ["api", "operation", "code"],
)
LIMITER_RESERVATIONS = Counter(
    "scangrade_limiter_reservations",
    "Slots asked of the shared limiter, by outcome (immediate, waited, refused, closed).",
    ["api", "operation", "outcome"],
)
LIMITER_WAIT = Counter(
    "scangrade_limiter_wait_seconds",
    "Seconds slept for limiter slots.",
    ["api", "operation"],
)
_PERIODIC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
PERIODIC_SECONDS = Histogram(
    "scangrade_periodic_seconds",
    "Seconds a periodic task's run took, when it ran.",
    ["task"],
    buckets=_PERIODIC_BUCKETS,
)
PERIODIC_QUERY_SECONDS = Histogram(
    "scangrade_periodic_query_seconds",
    "Seconds a periodic task's run spent in its SQL statements, when it ran.",
    ["task"],
    buckets=_PERIODIC_BUCKETS,
)

REPAIRS = Counter(
    "scangrade_repairs",
    "Rows the reconciler repaired, by kind (resubmitted, repersisted, batch_closed, ...).",
    ["kind"],
)


def repaired(kind: str, count: int = 1) -> None:
    """Count rows the reconciler repaired."""
    REPAIRS.labels(kind).inc(count)


def task_run(task: str, outcome: str) -> None:
    """Count one run of a Celery task: succeeded, retried or failed."""
    TASKS.labels(task, outcome).inc()


def periodic_run(task: str, outcome: str) -> None:
    """Count one message of a periodic task: whether it ran or why not."""
    PERIODIC_RUNS.labels(task, outcome).inc()


def periodic_timing(task: str, seconds: float, query_seconds: float) -> None:
    """Time one run of a periodic task that went ahead: in all, and in its SQL."""
    PERIODIC_SECONDS.labels(task).observe(seconds)
    PERIODIC_QUERY_SECONDS.labels(task).observe(query_seconds)


def provider_answer(context: str, status: int, code: int) -> None:
    """Count one provider answer; ``context`` is the request as the client names it.

    The client names a request ``"<api> <operation>"`` (``_Request.__str__``).
    """
    api, _, operation = context.partition(" ")
    label = str(code) if code or status < 500 else f"http_{status}"
    PROVIDER_ANSWERS.labels(api, operation, label).inc()


def limiter_answer(api: str, operation: str, outcome: str, slept_s: float = 0.0) -> None:
    """Count one reservation (``Grant.outcome``) and the time its caller sleeps for the slot."""
    if slept_s > 0:
        LIMITER_WAIT.labels(api, operation).inc(slept_s)
    LIMITER_RESERVATIONS.labels(api, operation, outcome).inc()


class MetricsServer:
    """A running /metrics endpoint over one multiprocess directory.

    ``env`` is what the processes whose counters it adds up need in their environment.
    """

    def __init__(
        self,
        directory: Path,
        server: WSGIServer | None,
        *,
        env: dict[str, str] | None = None,
        owned: bool = False,
    ) -> None:
        self.directory = directory
        self.env = env or {}
        self._server = server
        self._owned = owned

    def close(self) -> None:
        """Stop serving; remove the directory if it was made for this server."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._owned:
            shutil.rmtree(self.directory, ignore_errors=True)


def clean(directory: Path) -> None:
    """Forget the counters of earlier runs: a new run's counters start from zero."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)


def _serve(
    settings: Settings, directory: Path, collectors: Sequence[Collector]
) -> WSGIServer | None:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    for collector in collectors:
        registry.register(collector)
    try:
        server, _ = start_http_server(
            settings.metrics_port, settings.metrics_host, registry=registry
        )
    except OSError as e:
        log.error(
            "metrics: cannot listen on %s:%d (%s); no /metrics",
            settings.metrics_host,
            settings.metrics_port,
            e,
        )
        return None
    log.info("metrics on http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)
    return server


def serve_supervised(
    settings: Settings, collectors: Sequence[Collector] = ()
) -> MetricsServer | None:
    """The endpoint of ``scangrade workers``: every process it starts writes to one directory.

    ``collectors`` are read at each scrape beside the counters (the pages by state). The
    directory is ``PROMETHEUS_MULTIPROC_DIR`` if set (emptied first), else a fresh one
    removed at :meth:`MetricsServer.close`. The processes are told not to serve one of their
    own (``SCANGRADE_METRICS_PORT=0``). None when ``SCANGRADE_METRICS_PORT`` is 0.
    """
    if settings.metrics_port == 0:
        return None
    given = os.environ.get(MULTIPROC_ENV)
    directory = Path(given) if given else Path(tempfile.mkdtemp(prefix="scangrade-metrics-"))
    clean(directory)
    server = _serve(settings, directory, collectors)
    env = {MULTIPROC_ENV: str(directory), "SCANGRADE_METRICS_PORT": "0"}
    return MetricsServer(directory, server, env=env, owned=not given)


def serve_worker(settings: Settings, collectors: Sequence[Collector] = ()) -> MetricsServer | None:
    """The endpoint of one Celery worker started on its own (a container), before it forks.

    Only when ``PROMETHEUS_MULTIPROC_DIR`` is set (its pool's children must count into files
    the worker can read) and ``SCANGRADE_METRICS_PORT`` is not 0. ``collectors`` are read at
    each scrape beside the counters: one endpoint of a deployment (the control worker's) should
    report the pages by state.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if not given:
        return None
    directory = Path(given)
    directory.mkdir(parents=True, exist_ok=True)  # counting needs it, whoever serves
    if settings.metrics_port == 0:
        return None  # the supervisor serves (and emptied the directory before starting us)
    clean(directory)
    return MetricsServer(directory, _serve(settings, directory, collectors))
