"""Cancel: the operator's ``scangrade cancel BATCH`` stops paying for a batch.

Documents not yet ingested and pages not yet sent fail with ``error_code`` ``cancelled``;
pages already sent finish, since the provider has been paid for them. A page ingested after
the cancel fails when a submit worker claims it. ``scangrade retry`` takes the batch up again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, update

from pipeline.adapters.db.models import Batch, Document, Page
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import DocumentState, PageState
from pipeline.domain.progress import finish_batch_if_done

log = logging.getLogger(__name__)

CANCELLED = "cancelled by the operator (scangrade cancel); scangrade retry takes it up again"


@dataclass(frozen=True)
class Cancelled:
    """How many rows the cancel stopped."""

    pages: int
    documents: int


def cancel_batch(batch_id: int) -> Cancelled:
    """Fail what has not been paid for yet; let what has been sent finish."""
    failed = {"error": CANCELLED, "error_code": "cancelled", "updated_at": func.now()}
    with session_scope() as session:
        session.execute(update(Batch).where(Batch.id == batch_id).values(cancelled_at=func.now()))
        documents = session.scalars(
            update(Document)
            .where(Document.batch_id == batch_id, Document.state == DocumentState.PENDING)
            .values(state=DocumentState.FAILED, **failed)
            .returning(Document.id)
        ).all()
        pages = session.scalars(
            update(Page)
            .where(Page.batch_id == batch_id, Page.state == PageState.READY)
            .values(state=PageState.FAILED, **failed)
            .returning(Page.id)
        ).all()
        finish_batch_if_done(session, batch_id)
    log.warning(
        "batch %d cancelled: %d pages and %d documents stopped",
        batch_id,
        len(pages),
        len(documents),
    )
    return Cancelled(len(pages), len(documents))
