"""Poll: ask get_result for a task the dispatcher handed out, and keep the final answer.

The next poll time goes back to Postgres (``provider_tasks.next_poll_at``, see
``dispatch.py``), never into a delayed broker message. Each answer is also an observation of
the endpoint's processing times (``last_pending_at``, ``finished_at``), from which
``pipeline.domain.polling`` times the first polls of later tasks.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, func, select, update

from pipeline.adapters import broker
from pipeline.adapters.db import DB_UNAVAILABLE
from pipeline.adapters.db.models import Page, ProviderTask
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import PageState, TaskState
from pipeline.adapters.db.transitions import move
from pipeline.adapters.objectstore import ObjectStore
from pipeline.adapters.provider.apis import spec
from pipeline.adapters.provider.client import KeysParked, ProviderClient, Throttled
from pipeline.adapters.provider.responses.common import Progress
from pipeline.domain.polling import next_delay
from pipeline.domain.progress import finish_batch_if_done
from pipeline.domain.rows import handler
from pipeline.errors import BadInput, Gone, RateLimited, ScangradeError, Stop, Transient
from pipeline.settings import Settings
from pipeline.stages.observed import lane_plan
from pipeline.stages.raw_answer import PagePlace, put_raw_answer, record_raw_answer
from pipeline.telemetry import logs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Task:
    id: int
    api: str
    key_id: str
    page_id: int
    task_id: str
    submitted_at: datetime
    place: PagePlace


def poll_task(
    task_row_id: int, client: ProviderClient, store: ObjectStore, settings: Settings
) -> bool:
    """One get_result for a running task; True once its final answer is kept."""
    task = _load(task_row_id)  # a refused connection raises here, the lease still ours
    if task is None:
        return False
    try:
        return _poll(task, client, store, settings)
    except BaseException:
        # Given back at once, so the next dispatch tick leases it again, not the lease's end.
        with contextlib.suppress(*DB_UNAVAILABLE):
            _reschedule(task, settings.poll_first_min_s, polled=False)
        raise


def _poll(task: _Task, client: ProviderClient, store: ObjectStore, settings: Settings) -> bool:
    try:
        answer = client.get_result(spec(task.api), task.task_id, task.key_id)
    except (Throttled, KeysParked) as e:
        return _reschedule(task, e.retry_after_s, polled=False)
    except RateLimited:
        return _reschedule(task, 1.0, polled=False)
    except (Transient, Stop) as e:
        log.warning("task %s: %s; polling again later", task.task_id, e)
        return _reschedule(task, settings.poll_first_max_s, polled=False)
    except (Gone, BadInput) as e:
        _fail(task, e)
        return False
    progress = handler(task.api).progress(answer)
    if progress is Progress.FAILED:
        _fail(task, BadInput(_failure(answer), code="provider_failed"))
        return False
    if progress is Progress.RUNNING:
        age = (datetime.now(UTC) - task.submitted_at).total_seconds()
        if age > settings.poll_give_up_s:
            _fail(task, Transient(f"still unfinished {age:.0f} s after submission"))
            return False
        key = client.pool.get(task.key_id)
        plan = lane_plan(settings, task.api, key) if key is not None else None
        return _reschedule(task, next_delay(settings, age, plan=plan), polled=True)
    if not _keep_final(task, store, answer):
        log.info("task %s ended meanwhile (failed or reused); its answer is not kept", task.task_id)
        return False
    broker.send("persist", [task.id])
    return True


def _failure(answer: dict[str, object]) -> str:
    """The operator's reason for a task the provider reports as failed."""
    result = answer.get("result")
    inner = result if isinstance(result, dict) else {}
    code = inner.get("err_code") or inner.get("error_code") or answer.get("error_code")
    message = inner.get("err_msg") or inner.get("error_msg") or answer.get("error_msg")
    return f"the provider reports the task failed (code {code}: {message or 'no message'})"


def _load(task_row_id: int) -> _Task | None:
    """The running task and its page's place, in one query."""
    with session_scope() as session:
        found = session.execute(
            select(ProviderTask, Page.batch_id, Page.document_id, Page.page_no)
            .join(Page, Page.id == ProviderTask.page_id)
            .where(ProviderTask.id == task_row_id)
        ).one_or_none()
        if found is None or found[0].state != TaskState.RUNNING:
            return None
        row, place = found[0], PagePlace(*found[1:])
        logs.bind(page_id=row.page_id)
        return _Task(row.id, row.api, row.key_id, row.page_id, row.task_id, row.submitted_at, place)


def _reschedule(task: _Task, delay_s: float, *, polled: bool) -> bool:
    """The next poll time; ``polled``: the provider answered "still running" just now."""
    now = datetime.now(UTC)
    values: dict[str, object] = {
        "next_poll_at": now + timedelta(seconds=delay_s),
        "lease_until": None,
    }
    if polled:
        values |= {"polls": ProviderTask.polls + 1, "last_pending_at": now}
    with session_scope() as session:
        session.execute(
            update(ProviderTask)
            .where(ProviderTask.id == task.id, ProviderTask.state == TaskState.RUNNING)
            .values(**values)
        )
    return False


def _keep_final(task: _Task, store: ObjectStore, answer: dict[str, object]) -> bool:
    """Archive the raw final answer first: persisting and archiving read it back from S3.

    False when the task stopped running meanwhile (failed, e.g. ``task_id_reused``): the
    answer is then recorded nowhere, and nothing goes to persist.
    """
    kept = put_raw_answer(store, task.page_id, task.task_id, answer, place=task.place)
    with session_scope() as session:
        finished: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(ProviderTask)
            .where(ProviderTask.id == task.id, ProviderTask.state == TaskState.RUNNING)
            .values(
                state=TaskState.FINISHED,
                finished_at=func.now(),
                raw_key=kept.stored.key,
                polls=ProviderTask.polls + 1,
                lease_until=None,
                next_poll_at=None,
            )
        )
        if finished.rowcount != 1:
            return False
        record_raw_answer(session, kept, task.id)
        move(session, Page, task.page_id, PageState.SUBMITTED, PageState.PERSISTING)
    return True


def _fail(task: _Task, error: ScangradeError) -> None:
    log.warning("task %s failed: %s", task.task_id, error)
    code = getattr(error, "code", None) or ("282808" if isinstance(error, Gone) else None)
    with session_scope() as session:
        session.execute(
            update(ProviderTask)
            .where(ProviderTask.id == task.id)
            .values(state=TaskState.FAILED, error=str(error), error_code=code, lease_until=None)
        )
        if move(
            session,
            Page,
            task.page_id,
            PageState.SUBMITTED,
            PageState.FAILED,
            error=str(error),
            error_code=code,
        ):
            finish_batch_if_done(session, session.get_one(Page, task.page_id).batch_id)
