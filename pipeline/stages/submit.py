"""Submit: send a ready page to the provider and record the task id it answers with.

The page is claimed ``ready → submitting`` first, so two deliveries cannot both pay for it.
The task id is committed in the same transaction that moves the page to ``submitted``; the
only window in which a page could be paid for twice is a crash between the provider's answer
and that commit, and the reconciler counts every such resubmission (``submit_attempts``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy.dialects.postgresql import insert

from pipeline.db.models import Batch, Page, ProviderTask
from pipeline.db.session import session_scope
from pipeline.db.states import PageState
from pipeline.db.transitions import move
from pipeline.errors import BadInput, RateLimited
from pipeline.polling import first_delay
from pipeline.provider.client import ProviderClient, Throttled
from pipeline.settings import Settings
from pipeline.storage import ObjectStore

log = logging.getLogger(__name__)


def submit_page(
    page_id: int, client: ProviderClient, store: ObjectStore, settings: Settings
) -> bool:
    """Create the provider task of a ready page; False if the page was not ours to submit."""
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
            return False
        page = session.get_one(Page, page_id)
        image_key = page.image_key
        options = dict(session.get_one(Batch, page.batch_id).options)
    try:
        assert image_key is not None
        created = client.create_task("correct_edu", store.get(image_key), options)
    except BadInput as e:
        fail_page(page_id, PageState.SUBMITTING, e, code=e.code)
        return True
    except Throttled:
        _release(page_id, refund=True, count_retry=False)
        raise
    except RateLimited:
        _release(page_id, refund=False, count_retry=False)
        raise
    except BaseException:
        _release(page_id, refund=False, count_retry=True)
        raise
    due = datetime.now(UTC) + timedelta(seconds=first_delay(settings))
    with session_scope() as session:
        session.execute(
            insert(ProviderTask)
            .values(
                page_id=page_id,
                api="correct_edu",
                key_id=client.creds.key_id,
                task_id=created.task_id,
                log_id=created.log_id,
                next_poll_at=due,
            )
            .on_conflict_do_nothing(index_elements=["api", "task_id"])
        )
        move(session, Page, page_id, PageState.SUBMITTING, PageState.SUBMITTED, retries=0)
    log.info("page %d submitted as task %s", page_id, created.task_id)
    return True


def _release(page_id: int, *, refund: bool, count_retry: bool) -> None:
    """Give a claimed page back to ``ready`` after a failed or refused call."""
    values: dict[str, object] = {}
    if refund:
        values["submit_attempts"] = Page.submit_attempts - 1
    if count_retry:
        values["retries"] = Page.retries + 1
    with session_scope() as session:
        move(session, Page, page_id, PageState.SUBMITTING, PageState.READY, **values)


def fail_page(page_id: int, expected: str, error: Exception, *, code: str | None) -> None:
    """Record a page's permanent failure where the operator will see it."""
    log.warning("page %d failed: %s", page_id, error)
    with session_scope() as session:
        move(session, Page, page_id, expected, PageState.FAILED, error=str(error), error_code=code)
