"""Nudges: the small messages that tell a worker to look at a row.

The broker only carries nudges. Each names a row id; the row's state in Postgres says what is
to be done, so a lost nudge only delays work until the reconciler notices, and a duplicate
does nothing. Stages send them *after* committing, never from inside a transaction.

This module knows task names and queues (the message contract) but not the task code, so
``pipeline`` never imports ``workers``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Literal

from celery import Celery

from pipeline.settings import Settings, get_settings

log = logging.getLogger(__name__)

Stage = Literal["ingest", "submit", "poll", "persist", "archive"]

#: stage -> (task name, queue)
ROUTES: dict[Stage, tuple[str, str]] = {
    "ingest": ("scangrade.ingest_document", "ingest"),
    "submit": ("scangrade.submit_page", "submit"),
    "poll": ("scangrade.poll_task", "poll"),
    "persist": ("scangrade.persist_task", "persist"),
    "archive": ("scangrade.archive_task", "archive"),
}
CONTROL_QUEUE = "control"
QUEUES = (*sorted({queue for _, queue in ROUTES.values()}), CONTROL_QUEUE)
#: A batch ended: POST its summary to its --notify URL (a rare, light task).
NOTIFY_TASK = "scangrade.notify_batch"


def broker_options(settings: Settings) -> dict[str, Any]:
    """Celery settings that producers and workers must agree on."""
    return {
        "broker_url": settings.redis_url,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": settings.visibility_timeout_s,
            "socket_timeout": 10,
            "socket_connect_timeout": 5,
        },
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
    }


@lru_cache(maxsize=1)
def _producer() -> Celery:
    app = Celery("scangrade-producer")
    app.conf.update(broker_options(get_settings()))
    return app


def reset_producer() -> None:
    """Forget the broker connection (after a fork, or when the settings change)."""
    _producer.cache_clear()


def send(stage: Stage, ids: Iterable[int]) -> int:
    """Nudge a stage about rows; a nudge that cannot be sent is left to the reconciler."""
    name, queue = ROUTES[stage]
    app = _producer()
    sent = 0
    try:
        with app.producer_or_acquire() as producer:
            for row_id in ids:
                app.send_task(name, args=[row_id], queue=queue, producer=producer)
                sent += 1
    except Exception as e:
        log.warning("could not nudge %s (%s); the reconciler will resend", stage, e)
    return sent


def notify(batch_id: int) -> bool:
    """Nudge the control worker to send a batch's summary; False if the broker is away."""
    try:
        _producer().send_task(NOTIFY_TASK, args=[batch_id], queue=CONTROL_QUEUE)
    except Exception as e:
        log.warning("could not nudge notify for batch %d (%s); the reconciler will", batch_id, e)
        return False
    return True


def queue_length(queue: str) -> int | None:
    """Messages waiting in a queue (not those a worker holds), or None if unknown."""
    try:
        with _producer().connection_for_write() as conn:
            return int(conn.default_channel.client.llen(queue))
    except Exception:
        return None
