"""Submit: send a ready page to the provider and record the task id it answers with.

The page is claimed ``ready → submitting`` first, so two deliveries cannot both pay for it.
The task id is committed in the same transaction that moves the page to ``submitted``; the
only window in which a page could be paid for twice is a crash between the provider's answer
and that commit, and the reconciler counts every such resubmission (``submit_attempts``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from pipeline import logs, nudges
from pipeline.db.models import Batch, Document, Page, ProviderTask
from pipeline.db.session import session_scope
from pipeline.db.states import PageState, TaskState
from pipeline.db.transitions import move
from pipeline.errors import AmbiguousSubmit, BadInput, RateLimited
from pipeline.polling import first_delay
from pipeline.progress import finish_batch_if_done
from pipeline.provider.apis import ApiSpec, spec
from pipeline.provider.client import KeysParked, ProviderClient, Submitted, Throttled
from pipeline.settings import Settings
from pipeline.stages.answers import put_raw_answer, record_raw_answer
from pipeline.stages.cancel import CANCELLED
from pipeline.stages.observed import processing_times
from pipeline.storage import ObjectStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Claimed:
    image_key: str
    content_type: str
    api: ApiSpec
    options: dict[str, Any]


def submit_page(
    page_id: int, client: ProviderClient, store: ObjectStore, settings: Settings
) -> bool:
    """Send a ready page to its API; False if the page was not ours to submit.

    An async API answers with a task id to poll; a synchronous one (formula, custom_ocr,
    ``only_split``) with the result itself, which is kept at once and goes to persist.
    """
    claimed = _claim(page_id)
    if claimed is None:
        return False
    image = store.get(claimed.image_key)
    # Everything the record needs is ready before the call: the window between the
    # provider's answer and the commit of its task id is one INSERT and one UPDATE.
    due = _first_polls(claimed.api, claimed.options, client, settings)
    sent_at = datetime.now(UTC)
    try:
        submitted = client.submit(claimed.api, image, claimed.content_type, claimed.options)
    except BadInput as e:
        fail_page(page_id, PageState.SUBMITTING, e, code=e.code)
        return True
    except (Throttled, KeysParked):
        _release(page_id, refund=True, count_retry=False)
        raise
    except RateLimited:
        _release(page_id, refund=False, count_retry=False)
        raise
    except AmbiguousSubmit:
        _release(page_id, refund=False, count_retry=True, ambiguous=True)
        raise
    except BaseException:
        _release(page_id, refund=False, count_retry=True)
        raise
    if submitted.answer is None:
        _record_task(page_id, claimed.api, submitted, due[submitted.key_id])
    else:
        _keep_sync_answer(page_id, claimed.api, submitted, store, sent_at)
    return True


def _claim(page_id: int) -> _Claimed | None:
    with session_scope() as session:
        if not move(
            session,
            Page,
            page_id,
            PageState.READY,
            PageState.SUBMITTING,
            submit_attempts=Page.submit_attempts + 1,
        ):
            log.info("page %d is not ready; duplicate nudge ignored", page_id)
            return None
        page, cancelled_at, api, options = session.execute(
            select(Page, Batch.cancelled_at, Document.api, Document.options)
            .join(Batch, Batch.id == Page.batch_id)
            .join(Document, Document.id == Page.document_id)
            .where(Page.id == page_id)
        ).one()
        logs.bind(batch_id=page.batch_id)
        if cancelled_at is not None:
            move(
                session,
                Page,
                page_id,
                PageState.SUBMITTING,
                PageState.FAILED,
                submit_attempts=Page.submit_attempts - 1,
                error=CANCELLED,
                error_code="cancelled",
            )
            return None
        assert page.image_key is not None
        return _Claimed(page.image_key, page.content_type or "image/jpeg", spec(api), dict(options))


def _first_polls(
    api: ApiSpec, options: dict[str, Any], client: ProviderClient, settings: Settings
) -> dict[str, datetime]:
    """When to poll the task first, for each key the call may go out with.

    From the processing times observed per key (cached in memory, so this rarely queries).
    """
    if api.is_sync(options):
        return {}
    now = datetime.now(UTC)
    return {
        key_id: now + timedelta(seconds=first_delay(settings, processing_times(api.name, key_id)))
        for key_id in client.pool
    }


def _record_task(page_id: int, api: ApiSpec, submitted: Submitted, due: datetime) -> None:
    with session_scope() as session:
        session.execute(
            insert(ProviderTask)
            .values(
                page_id=page_id,
                api=api.name,
                key_id=submitted.key_id,
                task_id=submitted.task_id,
                log_id=submitted.log_id,
                next_poll_at=due,
            )
            .on_conflict_do_nothing(index_elements=["api", "task_id"])
        )
        move(session, Page, page_id, PageState.SUBMITTING, PageState.SUBMITTED, retries=0)
    log.info("page %d submitted to %s as task %s", page_id, api.name, submitted.task_id)


def _keep_sync_answer(
    page_id: int,
    api: ApiSpec,
    submitted: Submitted,
    store: ObjectStore,
    sent_at: datetime,
) -> None:
    assert submitted.answer is not None
    kept = put_raw_answer(store, page_id, submitted.task_id, submitted.answer)
    values = {
        "page_id": page_id,
        "api": api.name,
        "mode": "sync",
        "key_id": submitted.key_id,
        "task_id": submitted.task_id,
        "log_id": submitted.log_id,
        "state": TaskState.FINISHED,
        "submitted_at": sent_at,  # so finished_at - submitted_at is the call's duration
        "finished_at": func.now(),
        "raw_key": kept.stored.key,
    }
    with session_scope() as session:
        task_row_id = session.scalar(
            insert(ProviderTask)
            .values(**values)
            .on_conflict_do_update(index_elements=["api", "task_id"], set_=values)
            .returning(ProviderTask.id)
        )
        assert task_row_id is not None
        record_raw_answer(session, kept, task_row_id)
        move(session, Page, page_id, PageState.SUBMITTING, PageState.PERSISTING, retries=0)
    nudges.send("persist", [task_row_id])
    log.info("page %d answered by %s at once (%s)", page_id, api.name, submitted.task_id)


def _release(page_id: int, *, refund: bool, count_retry: bool, ambiguous: bool = False) -> None:
    """Give a claimed page back to ``ready`` after a failed or refused call.

    ``ambiguous``: the call's answer was lost, so the next submit may pay a second time.
    """
    values: dict[str, object] = {}
    if refund:
        values["submit_attempts"] = Page.submit_attempts - 1
    if count_retry:
        values["retries"] = Page.retries + 1
    if ambiguous:
        values["ambiguous_submits"] = Page.ambiguous_submits + 1
        log.warning(
            "page %d: the provider's answer to create_task was lost; sending it again may "
            "pay for it twice (counted in pages.ambiguous_submits)",
            page_id,
        )
    with session_scope() as session:
        move(session, Page, page_id, PageState.SUBMITTING, PageState.READY, **values)


def fail_page(page_id: int, expected: str, error: Exception, *, code: str | None) -> None:
    """Record a page's permanent failure where the operator will see it."""
    log.warning("page %d failed: %s", page_id, error)
    with session_scope() as session:
        if move(
            session, Page, page_id, expected, PageState.FAILED, error=str(error), error_code=code
        ):
            finish_batch_if_done(session, session.get_one(Page, page_id).batch_id)
