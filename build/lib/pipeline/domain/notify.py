"""Announce the end of a batch: its summary POSTed to the batch's ``--notify`` URL.

The update that closes a batch (``progress.finish_batch_if_done``) asks for the announcement
once its transaction commits (``pipeline.domain.announce``); the nudge goes to the control
worker, so the worker that ended the batch never waits on someone else's web server. The task
(:func:`send_notification`) builds the summary from Postgres when it runs
(``pipeline.domain.summary``), POSTs it (``pipeline.adapters.webhook``) and records
``batches.notified_at``, compare-and-set on the ``finished_at`` it summarised: a batch
reopened by late files and closed again is announced again, with the new figures.

Delivery is at least once (a worker killed between the receiver's answer and the commit sends
it again): receivers can tell a repeat by ``batch_id`` and ``finished_at``. A Redis marker
says an announcement is on its way, so the closing update and the reconciler do not both
nudge; when it expires (the task gave up on a receiver that stayed down, or its nudge was
lost) the reconciler nudges again (:func:`resend_overdue`), for
``SCANGRADE_NOTIFY_HORIZON_S`` after the batch ended.
A receiver that refuses the summary (3xx, 4xx) is not asked again; ``scangrade notify``
sends it by hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from pipeline.adapters import webhook
from pipeline.adapters.db.models import Batch
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import BatchState
from pipeline.domain.announce import forget, hold, request
from pipeline.domain.summary import batch_summary
from pipeline.errors import ConfigurationError, WebhookRefused
from pipeline.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """A summary a receiver accepted."""

    batch_id: int
    url: str
    status: int
    finished_at: datetime | None
    recorded: bool
    """notified_at was set (False: the batch was reopened meanwhile, or sent by hand)."""


def deliver(batch_id: int, settings: Settings, *, url: str | None = None) -> Delivery:
    """POST the batch's summary now, to ``url`` or its own notify_url.

    Raises Transient (try again later), WebhookRefused, or ConfigurationError if there is no
    URL. notified_at is set only for the batch's own URL and the end it summarised.
    """
    with session_scope() as session:
        batch = session.get_one(Batch, batch_id)
        target = url or batch.notify_url
        if not target:
            raise ConfigurationError(
                f"batch {batch.name!r} has no --notify URL; give one with --url"
            )
        summary = batch_summary(session, batch_id)
        finished_at, own = batch.finished_at, target == batch.notify_url
    status = webhook.post_json(target, summary, timeout_s=settings.notify_timeout_s)
    recorded = False
    if own and finished_at is not None:
        with session_scope() as session:
            recorded = bool(
                session.execute(
                    update(Batch)
                    .where(
                        Batch.id == batch_id,
                        Batch.state == BatchState.DONE,
                        Batch.finished_at == finished_at,
                    )
                    .values(notified_at=datetime.now(UTC))
                    .returning(Batch.id)
                ).first()
            )
    log.info(
        "batch %d's summary accepted by %s (HTTP %d)", batch_id, webhook.shown_url(target), status
    )
    return Delivery(batch_id, target, status, finished_at, recorded)


def send_notification(batch_id: int, settings: Settings) -> bool:
    """The control worker's task: announce an ended batch not yet announced.

    True if the receiver took it. Transient errors propagate (the task retries them); a
    refusal is logged for the operator and not retried.
    """
    with session_scope() as session:
        batch = session.get(Batch, batch_id)
        due = (
            batch is not None
            and batch.state == BatchState.DONE
            and batch.notify_url is not None
            and batch.notified_at is None
        )
    if not due:
        forget(batch_id)  # reopened, or already announced: the next end asks again
        return False
    try:
        deliver(batch_id, settings)
    except WebhookRefused as e:
        log.error(
            "batch %d ended, but its summary was refused: %s. It will not be sent again by "
            "itself; fix the URL, then run `scangrade notify %d --url URL`",
            batch_id,
            e,
            batch_id,
        )
        hold(batch_id, settings.notify_horizon_s)
        return False
    forget(batch_id)
    return True


def resend_overdue(settings: Settings) -> int:
    """Nudge the announcements of ended batches that no receiver accepted yet (reconciler)."""
    since = datetime.now(UTC) - timedelta(seconds=settings.notify_horizon_s)
    with session_scope() as session:
        ids = list(
            session.scalars(
                select(Batch.id)
                .where(
                    Batch.state == BatchState.DONE,
                    Batch.notify_url.is_not(None),
                    Batch.notified_at.is_(None),
                    Batch.finished_at > since,
                )
                .limit(100)
            )
        )
    return sum(request(batch_id) for batch_id in ids)
