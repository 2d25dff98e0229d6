"""Thin tasks: ids in, one pipeline call, errors mapped to retry or record.

Retry policy, by error type (see ``pipeline.errors``):
- Throttled: the limiter's next slot is far; come back exactly then.
- RateLimited (provider 18) and Retryable faults: retry with exponential backoff and jitter;
  a submit fails its page after ``SCANGRADE_MAX_PAGE_ATTEMPTS`` faults counted in Postgres
  (``pages.retries``: a wait for quota, ours or the provider's 18, never counts); ingest,
  persist and archive (never the page's fault) retry until the fault passes.
- Polls never retry through the broker (the next poll time is kept in Postgres), except
  when Postgres refused the connection: the poll then still holds its lease and is retried
  under it with backoff, a few times within the lease. A poll that failed after it read its
  row gives its lease back at once.
- DatabaseUnavailable (Postgres refused a connection, ``max_connections`` reached) and other
  database faults: retry with backoff, never counted against a page; the periodic tasks
  (dispatch, reconcile) log one line and wait for their next run.
- Stop (no key configured, every key parked: refused, out of quota or budget): the page goes
  back to ready, the batch records why it waits (``scangrade status``), and the reconciler
  offers it again; no message waits in a worker meanwhile. The operator is told once in the
  log (a parked key, a missing key), not once per page.
- BadInput: recorded by the stage; never retried.
- Notify (a batch's summary to its webhook): Retryable with backoff, a bounded number of
  times; the reconciler asks again later. A refusal (4xx) is logged and not retried.
"""

from __future__ import annotations

import logging
import random
from typing import Any, NoReturn

from celery import Task
from celery.exceptions import Reject, SoftTimeLimitExceeded

from pipeline.adapters import broker
from pipeline.adapters.db import DB_UNAVAILABLE
from pipeline.adapters.db.states import PageState
from pipeline.adapters.objectstore import get_store
from pipeline.adapters.provider import get_client, get_redis
from pipeline.adapters.provider.client import Throttled
from pipeline.domain import notify
from pipeline.errors import Retryable, Stop
from pipeline.runtime.leader import periodic_run
from pipeline.settings import get_settings
from pipeline.stages import archive, dispatch, ingest, persist, poll, reconcile, submit
from workers.app import app

log = logging.getLogger(__name__)

RETRYABLE = (Retryable, *DB_UNAVAILABLE)

#: Stages whose failures are never the page's fault retry until the fault passes; the stage
#: itself has put its row back, so the reconciler also finds it if a retry is lost.
RETRY_POLICY: dict[str, Any] = {
    "autoretry_for": RETRYABLE,
    "retry_backoff": 2,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    "max_retries": None,
}


#: Backoff 1-2, 2-4, … 16-32 s: at most about a minute, within the poll's lease (90 s).
POLL_DB_RETRIES = 5

#: About 8 minutes of retries (backoff 2, 4, … 256 s, full jitter), then the reconciler.
NOTIFY_RETRY_POLICY: dict[str, Any] = RETRY_POLICY | {"max_retries": 8, "retry_backoff_max": 300}


def _backoff(retries: int) -> float:
    return random.uniform(0.5, 1.0) * min(120.0, 2.0 ** (retries + 1))


@app.task(name="scangrade.ingest_document", **RETRY_POLICY)
def ingest_document(document_id: int) -> int:
    """Split and normalise one document into pages."""
    return ingest.ingest_document(document_id, get_store())


def _retry(task: Task[Any, Any], exc: Exception, countdown: float) -> NoReturn:
    """``task.retry`` (it raises Retry), sent again if the soft time limit cut the send short.

    Celery drops the message (``Reject``, no requeue) when sending the retry fails: the page
    would be left ready with nothing to nudge it.
    """
    try:
        task.retry(exc=exc, countdown=countdown)
    except Reject as e:
        if not isinstance(e.reason, SoftTimeLimitExceeded):
            raise
        task.retry(exc=exc, countdown=countdown)
    raise AssertionError("Task.retry always raises")


@app.task(name="scangrade.submit_page", bind=True, max_retries=None)
def submit_page(self: Task[Any, Any], page_id: int) -> bool:
    """create_task for one ready page."""
    settings = get_settings()
    try:
        return submit.submit_page(page_id, get_client(), get_store(), settings)
    except Throttled as e:
        _retry(self, e, e.retry_after_s)
    except SoftTimeLimitExceeded as e:
        # Out of time (a host frozen while the page waited for a slot): nudge it again, or a
        # page still ready would wait for the reconciler's horizon. One it had claimed is
        # taken back by the reconciler; this nudge then finds it not ready and does nothing.
        _retry(self, e, 1.0)
    except Stop as e:
        log.debug("page %d waits for an API key: %s", page_id, e)
        return False  # back to ready; the reconciler offers it again later
    except DB_UNAVAILABLE as e:
        raise self.retry(exc=e, countdown=_backoff(self.request.retries)) from e
    except Retryable as e:
        # Not self.request.retries: that also counts every Throttled come-back.
        faults = submit.faults_met(page_id)
        if faults >= settings.max_page_attempts:
            submit.fail_page(page_id, PageState.READY, e, code="retries_exhausted")
            return False
        raise self.retry(exc=e, countdown=_backoff(max(0, faults - 1))) from e


@app.task(name="scangrade.poll_task", bind=True, max_retries=None)
def poll_task(self: Task[Any, Any], task_row_id: int) -> bool:
    """One get_result; the next poll is scheduled in Postgres, not in the broker."""
    try:
        return poll.poll_task(task_row_id, get_client(), get_store(), get_settings())
    except DB_UNAVAILABLE as e:
        # Postgres refused: the lease is still ours, so a retry soon polls under it (within
        # the lease); past POLL_DB_RETRIES the lease runs out and dispatch hands it out again.
        if self.request.retries >= POLL_DB_RETRIES:
            log.warning("poll of task row %d given up for now: %s", task_row_id, e)
            return False
        raise self.retry(exc=e, countdown=_backoff(self.request.retries)) from e


@app.task(name="scangrade.persist_task", **RETRY_POLICY)
def persist_task(task_row_id: int) -> bool:
    """Write a finished task's questions and slots."""
    return persist.persist_task(task_row_id, get_store())


@app.task(name="scangrade.archive_task", **RETRY_POLICY)
def archive_task(task_row_id: int) -> bool:
    """Copy a finished task's result images to S3."""
    return archive.archive_task(task_row_id, get_client(), get_store())


@app.task(name="scangrade.dispatch_polls", ignore_result=True)
def dispatch_polls(leader: str | None = None) -> int:
    """Lease the polls that are due and nudge the poll workers (once per tick: see leader)."""
    try:
        with periodic_run(get_redis(), "dispatch_polls", leader) as go:
            if not go:
                return 0
            pool = list(get_client().pool.values())
            return len(dispatch.dispatch_due_polls(get_settings(), pool, get_redis()))
    except DB_UNAVAILABLE as e:  # the next tick, a second later, is the retry
        log.warning("dispatch skipped a tick: %s", e)
        return 0


@app.task(name="scangrade.reconcile", ignore_result=True)
def reconcile_all(leader: str | None = None) -> dict[str, int]:
    """Re-nudge work whose message was lost; the steps that touched rows (none: idle).

    Once per tick however many beats sent it: see ``pipeline.runtime.leader``.
    """
    try:
        with periodic_run(get_redis(), "reconcile", leader) as go:
            done = reconcile.reconcile(get_settings()) if go else {}
    except DB_UNAVAILABLE as e:  # beat runs it again in SCANGRADE_RECONCILE_EVERY_S
        log.warning("reconciler skipped a pass: %s", e)
        return {}
    return {step: n for step, n in done.items() if n}


@app.task(name=broker.NOTIFY_TASK, **NOTIFY_RETRY_POLICY)
def notify_batch(batch_id: int) -> bool:
    """POST an ended batch's summary to its --notify URL, on the control worker."""
    return notify.send_notification(batch_id, get_settings())
