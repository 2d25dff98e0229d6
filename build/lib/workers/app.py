"""The Celery app: queues, routes, reliability settings and the beat schedule.

Every task acks late and is re-queued if its worker dies; every time limit stays below the
broker's visibility timeout, so a running task is never handed to a second worker.
"""

from __future__ import annotations

import gc
import inspect
import logging
from typing import Any

from celery import Celery, Task
from celery.signals import (
    beat_init,
    setup_logging,
    task_failure,
    task_postrun,
    task_prerun,
    task_retry,
    task_success,
    worker_init,
    worker_process_init,
)
from kombu.entity import Queue

from pipeline.adapters.broker import CONTROL_QUEUE, QUEUES, ROUTES, broker_options
from pipeline.adapters.db.gauges import PagesCollector
from pipeline.adapters.db.session import PoolRole, release_connections, use_pool
from pipeline.adapters.objectstore import get_store
from pipeline.adapters.provider import get_client
from pipeline.adapters.provider.apis import SPECS
from pipeline.adapters.provider.keys import pool_from
from pipeline.adapters.services import forget_connections
from pipeline.settings import get_settings
from pipeline.telemetry import logs, metrics
from pipeline.telemetry.logs import configure_logging

DISPATCH_EVERY_S = 1.0


def create_app() -> Celery:
    """Build the app from the settings."""
    settings = get_settings()
    if settings.task_time_limit_s >= settings.visibility_timeout_s:
        raise ValueError("SCANGRADE_TASK_TIME_LIMIT_S must stay below the visibility timeout")
    # A per-worker ceiling only: the shared limiter in Redis keeps each key to its quotas.
    quotas = [
        key.quotas[(name, api.submit_op)]
        for key in pool_from(settings)
        for name, api in SPECS.items()
    ]
    unlimited = not quotas or min(quotas) <= 0
    annotations = {} if unlimited else {"rate_limit": f"{sum(quotas) * 60:g}/m"}
    app = Celery("scangrade", include=["workers.tasks", "workers.hops"])
    app.conf.update(broker_options(settings))
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_eta_task_limit=100,
        task_time_limit=settings.task_time_limit_s,
        task_soft_time_limit=settings.task_time_limit_s - min(30, settings.task_time_limit_s / 5),
        task_default_queue=CONTROL_QUEUE,
        task_queues=[Queue(name) for name in QUEUES],
        task_routes={name: {"queue": queue} for name, queue in ROUTES.values()},
        task_annotations={"scangrade.submit_page": annotations},
        beat_scheduler="workers.beat:LeaderScheduler",  # one sending beat per deployment
        beat_schedule={
            "dispatch-polls": {
                "task": "scangrade.dispatch_polls",
                "schedule": DISPATCH_EVERY_S,
                "options": {"expires": 5 * DISPATCH_EVERY_S},
            },
            "reconcile": {
                "task": "scangrade.reconcile",
                "schedule": settings.reconcile_every_s,
                "options": {"expires": settings.reconcile_every_s},
            },
        },
        worker_send_task_events=False,
    )
    return app


app = create_app()


@setup_logging.connect
def _logging(**_: Any) -> None:
    configure_logging(get_settings())


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """A forked child must not reuse its parent's database, Redis or S3 connections."""
    forget_connections()
    use_pool(PoolRole.WORKER)


@beat_init.connect
def _beat_pool(**_: Any) -> None:
    use_pool(PoolRole.SERVICE)


@worker_init.connect
def _share_before_fork(**_: Any) -> None:
    """Load what every child needs before the pool forks, so the children share its pages.

    Building the clients loads botocore's service models and the modules imported on first
    use; each child then rebuilds its clients from those (``_fresh_connections``) instead of
    loading its own copy. ``gc.freeze`` keeps the collector from writing to every inherited
    object, which would copy the pages they sit on into each child.
    """
    try:
        get_store()
        get_client()
    except Exception as e:  # an optimisation only: the children build their own
        logging.getLogger(__name__).debug("nothing shared before fork: %s", e)
    gc.freeze()


@worker_init.connect
def _metrics_endpoint(sender: Any = None, **_: Any) -> None:
    """A worker started on its own (a container) serves its pool's counters, before forking.

    Under ``scangrade workers`` it does not: the supervisor serves every process's.
    """
    use_pool(PoolRole.SERVICE)  # the main process runs no task (its children do)
    consumed = sender.app.amqp.queues.consume_from if sender is not None else {}
    pages = [PagesCollector()] if CONTROL_QUEUE in (consumed or {}) else []
    metrics.serve_worker(get_settings(), pages)


@task_prerun.connect
def _bind_ids(task_id: str, task: Task[Any, Any], args: Any, kwargs: Any, **_: Any) -> None:
    """Every line the task logs names its rows: the ``*_id`` arguments it was given."""
    try:
        given = inspect.signature(task.run).bind_partial(*args, **kwargs).arguments
    except TypeError:
        given = {}
    logs.clear()
    logs.bind(celery_task_id=task_id, **{k: v for k, v in given.items() if k.endswith("_id")})


@task_postrun.connect
def _unbind_ids(**_: Any) -> None:
    logs.clear()
    release_connections()  # an idle child, or a retry's countdown, holds no connection


@task_success.connect
def _count_success(sender: Task[Any, Any], **_: Any) -> None:
    metrics.task_run(sender.name, "succeeded")


@task_retry.connect
def _count_retry(sender: Task[Any, Any], **_: Any) -> None:
    metrics.task_run(sender.name, "retried")


@task_failure.connect
def _count_failure(sender: Task[Any, Any], **_: Any) -> None:
    metrics.task_run(sender.name, "failed")
