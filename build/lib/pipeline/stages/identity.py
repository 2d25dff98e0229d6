"""Provider task identity: a task id the provider handed out before never takes over a row.

A task is the key that created it, its API and the provider's id. A provider restarted with a
seeded id generator hands out ids again; the new page must get a row of its own, and the page
that had the id before must neither lose its results nor wait forever on a task the provider
no longer knows. Called in the transaction that records the new task, so the page moves past
``submitting`` only with its own row.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Page, ProviderTask
from pipeline.adapters.db.states import PageState, TaskState
from pipeline.adapters.db.transitions import move
from pipeline.domain.progress import finish_batch_if_done

log = logging.getLogger(__name__)

TASK_ID_REUSED = "task_id_reused"

#: Page states that wait on a running task: the page cannot go on if the task is lost.
_WAITING = (PageState.SUBMITTED,)


def free_task_id(session: Session, api: str, key_id: str, task_id: str, page_id: int) -> None:
    """Make room for a new row with this identity: mark any live row holding it as reused.

    The older row keeps its results (they reference its row id). If it was still running, the
    provider forgot that task when it reused the id, so the task fails with
    ``task_id_reused`` and its page fails too, loudly, for the operator to retry.
    """
    old = session.execute(
        select(ProviderTask.id, ProviderTask.page_id, ProviderTask.state)
        .where(
            ProviderTask.api == api,
            ProviderTask.key_id == key_id,
            ProviderTask.task_id == task_id,
            ProviderTask.id_reused_at.is_(None),
        )
        .with_for_update()
    ).one_or_none()
    if old is None:
        return
    values: dict[str, object] = {"id_reused_at": func.now()}
    lost = old.state == TaskState.RUNNING
    if lost:
        error = (
            f"the provider handed task id {task_id} ({api}, key {key_id}) to page {page_id} "
            "while this task was still running: it forgot the task (restarted?), whose result "
            "is lost; `scangrade retry` sends the page again"
        )
        values |= {
            "state": TaskState.FAILED,
            "error": error,
            "error_code": TASK_ID_REUSED,
            "lease_until": None,
            "next_poll_at": None,
        }
    session.execute(update(ProviderTask).where(ProviderTask.id == old.id).values(**values))
    log.warning(
        "provider reused task id %s (%s) of page %d for page %d%s",
        task_id,
        api,
        old.page_id,
        page_id,
        "; that page's task is lost" if lost else "; the older row keeps its results",
    )
    if lost and old.page_id != page_id:
        _fail_waiting_page(session, old.page_id, str(values["error"]))


def _fail_waiting_page(session: Session, page_id: int, error: str) -> None:
    if move(
        session, Page, page_id, _WAITING, PageState.FAILED, error=error, error_code=TASK_ID_REUSED
    ):
        log.error("page %d failed: %s", page_id, error)
        finish_batch_if_done(session, session.get_one(Page, page_id).batch_id)
