"""The Celery app: queues, routes, reliability settings and the beat schedule.

Every task acks late and is re-queued if its worker dies; every time limit stays below the
broker's visibility timeout, so a running task is never handed to a second worker.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_process_init
from kombu.entity import Queue

from pipeline.logs import configure_logging
from pipeline.nudges import CONTROL_QUEUE, QUEUES, ROUTES, broker_options
from pipeline.provider.apis import SPECS
from pipeline.provider.keys import pool_from
from pipeline.services import forget_connections
from pipeline.settings import get_settings

DISPATCH_EVERY_S = 1.0
RECONCILE_EVERY_S = 30.0


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
        task_soft_time_limit=settings.task_time_limit_s - 30,
        task_default_queue=CONTROL_QUEUE,
        task_queues=[Queue(name) for name in QUEUES],
        task_routes={name: {"queue": queue} for name, queue in ROUTES.values()},
        task_annotations={"scangrade.submit_page": annotations},
        beat_schedule={
            "dispatch-polls": {
                "task": "scangrade.dispatch_polls",
                "schedule": DISPATCH_EVERY_S,
                "options": {"expires": 5 * DISPATCH_EVERY_S},
            },
            "reconcile": {
                "task": "scangrade.reconcile",
                "schedule": RECONCILE_EVERY_S,
                "options": {"expires": RECONCILE_EVERY_S},
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
