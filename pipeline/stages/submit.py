"""Submit: send a ready page to the provider and record the task id it answers with.

The page is claimed ``ready → submitting`` first, so two deliveries cannot both pay for it.
The claim is its ``submit_attempts`` value, checked again in Postgres right before the paid
call (a worker frozen past its time limit whose claim the reconciler took back sends nothing)
and in every transaction that ends it. The task row is committed in the same transaction that
moves the page to ``submitted``, a row of its own even if the provider handed out the id
before (``identity``); the only window in which a page could be paid for twice is a crash
between the provider's answer and that commit, and the reconciler counts every such
resubmission (``ambiguous_submits``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.adapters import broker
from pipeline.adapters.db.models import Batch, Document, Page, ProviderTask
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import PageState, TaskState
from pipeline.adapters.db.transitions import move
from pipeline.adapters.objectstore import ObjectStore
from pipeline.adapters.provider.apis import ApiSpec, spec
from pipeline.adapters.provider.client import ClaimLost, ProviderClient, Submitted, Throttled
from pipeline.adapters.provider.keys import key_states, note_waiting, stop_waiting, warn_once
from pipeline.domain.polling import first_delay
from pipeline.domain.progress import finish_batch_if_done
from pipeline.errors import AmbiguousSubmit, BadInput, NoApiKey, RateLimited, Stop
from pipeline.settings import Settings
from pipeline.stages.cancel import CANCELLED
from pipeline.stages.identity import free_task_id
from pipeline.stages.observed import lane_plan, processing_times
from pipeline.stages.raw_answer import put_raw_answer, record_raw_answer
from pipeline.telemetry import logs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Claimed:
    page_id: int
    batch_id: int
    attempt: int  # submit_attempts as claimed: the claim's fencing token
    image_key: str
    content_type: str
    api: ApiSpec
    options: dict[str, Any]

    def held(self) -> bool:
        """Whether the claim still holds in Postgres: the fence right before the paid call."""
        with session_scope() as session:
            return _holds(session, self)


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
        submitted = client.submit(
            claimed.api, image, claimed.content_type, claimed.options, fence=claimed.held
        )
    except ClaimLost:
        log.warning("page %d: its claim was taken back before create_task; not sent", page_id)
        return False
    except BadInput as e:
        if claimed.held():
            fail_page(page_id, PageState.SUBMITTING, e, code=e.code)
        return True
    except Throttled:
        _release(claimed, refund=True, count_retry=False)
        raise
    except Stop as e:  # no key, or every key parked (refused, out of quota or budget)
        _release(claimed, refund=True, count_retry=False)
        _wait_for_key(claimed.batch_id, client, settings, e)
        raise
    except RateLimited:
        _release(claimed, refund=False, count_retry=False)
        raise
    except AmbiguousSubmit:
        _release(claimed, refund=False, count_retry=True, ambiguous=True)
        raise
    except BaseException:
        _release(claimed, refund=False, count_retry=True)
        raise
    if submitted.answer is None:
        _record_task(claimed, submitted, due[submitted.key_id])
    else:
        _keep_sync_answer(claimed, submitted, store, sent_at)
    stop_waiting(client.redis, claimed.batch_id)
    return True


def _wait_for_key(batch_id: int, client: ProviderClient, settings: Settings, error: Stop) -> None:
    """The page waits in ``ready`` for a usable key: the batch says why, the log says it once.

    The reconciler offers waiting pages again every ``SCANGRADE_STALE_AFTER_S``; the reason
    outlives two such rounds, and the first page that goes out clears it.
    """
    if isinstance(error, NoApiKey):
        reason = f"no API key ({error.args[0].removeprefix('no API key: ')} for the workers)"
        warn_once(
            client.redis,
            "no-api-key",
            f"{error}: pages wait in ready and are sent once the workers have a key",
        )
    else:
        parked = [
            f"{state.key_id}: {state.parked}"
            for state in key_states(client.redis, list(client.pool.values()))
            if state.parked is not None
        ]
        reason = f"every API key is parked ({'; '.join(parked)})" if parked else str(error)
    note_waiting(client.redis, batch_id, reason, 2 * settings.stale_after_s + 60)


def faults_met(page_id: int) -> int:
    """Transient faults the page met at submit since its last success (``pages.retries``).

    Waiting for a quota slot (Throttled, KeysParked, the provider's 18) is not counted: only
    these use up ``SCANGRADE_MAX_PAGE_ATTEMPTS``.
    """
    with session_scope() as session:
        return session.scalar(select(Page.retries).where(Page.id == page_id)) or 0


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
        return _Claimed(
            page_id,
            page.batch_id,
            page.submit_attempts,
            page.image_key,
            page.content_type or "image/jpeg",
            spec(api),
            dict(options),
        )


def _first_polls(
    api: ApiSpec, options: dict[str, Any], client: ProviderClient, settings: Settings
) -> dict[str, datetime]:
    """When to poll the task first, for each key the call may go out with.

    From the processing times observed per key and its quotas (the lane's plan, cached in
    memory, so this rarely queries).
    """
    if api.is_sync(options):
        return {}
    now = datetime.now(UTC)
    return {
        key_id: now
        + timedelta(
            seconds=first_delay(
                settings,
                processing_times(api.name, key_id),
                plan=lane_plan(settings, api.name, key),
            )
        )
        for key_id, key in client.pool.items()
    }


def _record_task(claimed: _Claimed, submitted: Submitted, due: datetime) -> None:
    api, page_id = claimed.api, claimed.page_id
    with session_scope() as session:
        if not _still_ours(session, claimed, submitted):
            return
        free_task_id(session, api.name, submitted.key_id, submitted.task_id, page_id)
        session.add(
            ProviderTask(
                page_id=page_id,
                api=api.name,
                key_id=submitted.key_id,
                task_id=submitted.task_id,
                log_id=submitted.log_id,
                next_poll_at=due,
            )
        )
        move(session, Page, page_id, PageState.SUBMITTING, PageState.SUBMITTED, retries=0)
    log.info("page %d submitted to %s as task %s", page_id, api.name, submitted.task_id)


def _keep_sync_answer(
    claimed: _Claimed, submitted: Submitted, store: ObjectStore, sent_at: datetime
) -> None:
    assert submitted.answer is not None
    api, page_id = claimed.api, claimed.page_id
    kept = put_raw_answer(store, page_id, submitted.task_id, submitted.answer)
    task = ProviderTask(
        page_id=page_id,
        api=api.name,
        mode="sync",
        key_id=submitted.key_id,
        task_id=submitted.task_id,
        log_id=submitted.log_id,
        state=TaskState.FINISHED,
        submitted_at=sent_at,  # so finished_at - submitted_at is the call's duration
        finished_at=func.now(),
        raw_key=kept.stored.key,
    )
    with session_scope() as session:
        if not _still_ours(session, claimed, submitted):
            return
        free_task_id(session, api.name, submitted.key_id, submitted.task_id, page_id)
        session.add(task)
        session.flush()
        record_raw_answer(session, kept, task.id)
        move(session, Page, page_id, PageState.SUBMITTING, PageState.PERSISTING, retries=0)
        task_row_id = task.id
    broker.send("persist", [task_row_id])
    log.info("page %d answered by %s at once (%s)", page_id, api.name, submitted.task_id)


def _still_ours(session: Session, claimed: _Claimed, submitted: Submitted) -> bool:
    """Whether the claim holds, locking the page; if not, the answer is dropped, loudly.

    Only a worker that froze between its fenced call and this commit gets here: the
    reconciler already counted the page's next submit as ambiguous.
    """
    if _holds(session, claimed, lock=True):
        return True
    log.error(
        "page %d: the provider answered task %s after the page's claim was taken back; "
        "that task is not recorded (the page's resubmit was counted as ambiguous)",
        claimed.page_id,
        submitted.task_id,
    )
    return False


def _holds(session: Session, claimed: _Claimed, *, lock: bool = False) -> bool:
    query = select(Page.id).where(
        Page.id == claimed.page_id,
        Page.state == PageState.SUBMITTING,
        Page.submit_attempts == claimed.attempt,
    )
    return session.scalar(query.with_for_update() if lock else query) is not None


def _release(
    claimed: _Claimed, *, refund: bool, count_retry: bool, ambiguous: bool = False
) -> None:
    """Give a claimed page back to ``ready`` after a failed or refused call, if still ours.

    ``ambiguous``: the call's answer was lost, so the next submit may pay a second time.
    """
    page_id = claimed.page_id
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
        if _holds(session, claimed, lock=True):
            move(session, Page, page_id, PageState.SUBMITTING, PageState.READY, **values)


def fail_page(page_id: int, expected: str, error: Exception, *, code: str | None) -> None:
    """Record a page's permanent failure where the operator will see it."""
    log.warning("page %d failed: %s", page_id, error)
    with session_scope() as session:
        if move(
            session, Page, page_id, expected, PageState.FAILED, error=str(error), error_code=code
        ):
            finish_batch_if_done(session, session.get_one(Page, page_id).batch_id)
