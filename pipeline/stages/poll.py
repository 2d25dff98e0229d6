"""Poll: ask get_result for tasks whose poll time has come, and keep the final answer.

Poll times live in Postgres (``provider_tasks.next_poll_at``), not in delayed broker
messages: thousands of tasks in flight cost no worker memory, a flushed broker loses nothing,
and no countdown ever outlives the broker's visibility timeout. A dispatcher (Celery beat,
every second) leases the due tasks, earliest first, and nudges the poll workers.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, text, update

from pipeline import nudges
from pipeline.db.artifacts import record_archived
from pipeline.db.models import Page, ProviderTask
from pipeline.db.session import session_scope
from pipeline.db.states import PageState, TaskState
from pipeline.db.transitions import move
from pipeline.errors import BadInput, Gone, RateLimited, ScangradeError, Stop, Transient
from pipeline.polling import next_delay
from pipeline.provider.client import ProviderClient, Throttled
from pipeline.provider.models import CorrectEduResult
from pipeline.settings import Settings
from pipeline.storage import ObjectStore, result_prefix

log = logging.getLogger(__name__)

_LEASE_DUE = text(
    """
    UPDATE provider_tasks SET lease_until = now() + make_interval(secs => :lease)
    WHERE id IN (
        SELECT id FROM provider_tasks
        WHERE state = 'running' AND next_poll_at <= now()
          AND (lease_until IS NULL OR lease_until < now())
        ORDER BY next_poll_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED)
    RETURNING id, next_poll_at
    """
)


def dispatch_limit(settings: Settings) -> int:
    """Polls to hand out per dispatch tick.

    Two seconds of quota: the poll workers never starve between ticks, yet no poll waits in
    the queue long enough to go stale.
    """
    qps = settings.qps("correct_edu", "get_result")
    return 200 if qps <= 0 else max(2, round(2 * qps))


def dispatch_due_polls(settings: Settings, limit: int | None = None) -> list[int]:
    """Lease up to ``limit`` due tasks, earliest first, and nudge the poll workers."""
    limit = dispatch_limit(settings) if limit is None else limit
    with session_scope() as session:
        rows = session.execute(_LEASE_DUE, {"lease": settings.poll_lease_s, "limit": limit}).all()
    due = [row.id for row in sorted(rows, key=lambda row: row.next_poll_at)]
    nudges.send("poll", due)
    return due


@dataclass(frozen=True)
class _Task:
    id: int
    page_id: int
    task_id: str
    submitted_at: datetime
    polls: int


def poll_task(
    task_row_id: int, client: ProviderClient, store: ObjectStore, settings: Settings
) -> bool:
    """One get_result for a running task; True once its final answer is kept."""
    task = _load(task_row_id)
    if task is None:
        return False
    try:
        answer = client.get_result("correct_edu", task.task_id)
    except Throttled as e:
        return _reschedule(task, e.retry_after_s, polled=False)
    except RateLimited:
        return _reschedule(task, 1.0, polled=True)
    except (Transient, Stop) as e:
        log.warning("task %s: %s; polling again later", task.task_id, e)
        return _reschedule(task, settings.poll_first_max_s, polled=False)
    except (Gone, BadInput) as e:
        _fail(task, e)
        return False
    result = CorrectEduResult.model_validate(answer)
    if not result.finished:
        age = (datetime.now(UTC) - task.submitted_at).total_seconds()
        if age > settings.poll_give_up_s:
            _fail(task, Transient(f"still unfinished {age:.0f} s after submission"))
            return False
        return _reschedule(task, next_delay(settings, task.polls + 1), polled=True)
    _keep_final(task, store, answer)
    nudges.send("persist", [task.id])
    return True


def _load(task_row_id: int) -> _Task | None:
    with session_scope() as session:
        row = session.get(ProviderTask, task_row_id)
        if row is None or row.state != TaskState.RUNNING:
            return None
        return _Task(row.id, row.page_id, row.task_id, row.submitted_at, row.polls)


def _reschedule(task: _Task, delay_s: float, *, polled: bool) -> bool:
    due = datetime.now(UTC) + timedelta(seconds=delay_s)
    with session_scope() as session:
        session.execute(
            update(ProviderTask)
            .where(ProviderTask.id == task.id, ProviderTask.state == TaskState.RUNNING)
            .values(next_poll_at=due, lease_until=None, polls=ProviderTask.polls + int(polled))
        )
    return False


def _keep_final(task: _Task, store: ObjectStore, answer: dict[str, object]) -> None:
    """Archive the raw final answer first: persisting and archiving read it back from S3."""
    with session_scope() as session:
        page = session.get_one(Page, task.page_id)
        prefix = result_prefix(page.batch_id, page.document_id, page.page_no, task.task_id)
        batch_id, document_id = page.batch_id, page.document_id
    raw = json.dumps(answer, ensure_ascii=False, sort_keys=True).encode()
    stored = store.put(f"{prefix}/result.json", raw, "application/json")
    with session_scope() as session:
        session.execute(
            update(ProviderTask)
            .where(ProviderTask.id == task.id, ProviderTask.state == TaskState.RUNNING)
            .values(
                state=TaskState.FINISHED,
                finished_at=func.now(),
                raw_key=stored.key,
                polls=ProviderTask.polls + 1,
                lease_until=None,
                next_poll_at=None,
            )
        )
        record_archived(
            session,
            stored,
            "raw_result",
            batch_id=batch_id,
            document_id=document_id,
            page_id=task.page_id,
            provider_task_id=task.id,
        )
        move(session, Page, task.page_id, PageState.SUBMITTED, PageState.PERSISTING)


def _fail(task: _Task, error: ScangradeError) -> None:
    log.warning("task %s failed: %s", task.task_id, error)
    code = getattr(error, "code", None) or ("282808" if isinstance(error, Gone) else None)
    with session_scope() as session:
        session.execute(
            update(ProviderTask)
            .where(ProviderTask.id == task.id)
            .values(state=TaskState.FAILED, error=str(error), error_code=code, lease_until=None)
        )
        move(
            session,
            Page,
            task.page_id,
            PageState.SUBMITTED,
            PageState.FAILED,
            error=str(error),
            error_code=code,
        )
