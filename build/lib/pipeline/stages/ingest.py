"""Ingest: turn one document's originals (from S3) into normalised page images and page rows.

A broken page fails alone; a broken document fails with a reason the operator can act on.
Page images land in S3 under deterministic keys and page rows are inserted with ON CONFLICT
DO NOTHING, so a second run of the same document (a crash, a duplicate nudge) adds nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from pipeline.adapters import broker
from pipeline.adapters.db.artifacts import record_archived
from pipeline.adapters.db.models import Document, Page
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import DocumentState, PageState
from pipeline.adapters.db.transitions import move
from pipeline.adapters.documents.blank import ink, is_blank
from pipeline.adapters.documents.document import document_pages
from pipeline.adapters.documents.images import NormalisedPage
from pipeline.adapters.documents.pdf import PDF_CONTENT_TYPE
from pipeline.adapters.objectstore import ObjectStore, StoredObject, page_key
from pipeline.adapters.provider.apis import ApiSpec, spec
from pipeline.domain.label_gaps import lock_labels, mark_replaced
from pipeline.domain.label_pages import Labelled, PageLabel, label_page
from pipeline.domain.progress import finish_batch_if_done
from pipeline.domain.students import page_student, student_ids
from pipeline.errors import BadInput
from pipeline.settings import get_settings
from pipeline.telemetry import logs

log = logging.getLogger(__name__)

_SUFFIX = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/bmp": ".bmp",
    PDF_CONTENT_TYPE: ".pdf",
}


@dataclass(frozen=True)
class _Claimed:
    id: int
    batch_id: int
    kind: str
    original_keys: list[str]
    api: ApiSpec
    student_id: int | None
    roster: list[int]
    pages_per_student: int | None
    blank_below: float  # ink ratio under which a page is skipped; 0 sends every page
    every_frame: bool  # an animation's every frame is a page, not its first alone
    reads_labels: bool  # each page is searched for a label's code

    def student_of(self, page_no: int) -> int | None:
        return page_student(self.student_id, self.roster, self.pages_per_student, page_no)


def ingest_document(document_id: int, store: ObjectStore) -> int:
    """Split, normalise and record a document's pages; returns the pages made ready."""
    doc = _claim(document_id)
    if doc is None:
        return 0
    try:
        originals = [store.get(key) for key in doc.original_keys]
        pages = document_pages(
            doc.kind,
            originals,
            doc.api.limits,
            sends_pdf=doc.api.sends_pdf,
            every_frame=doc.every_frame,
        )
        rows = [_page_row(store, doc, number, page) for number, page in pages]
    except BadInput as e:
        _fail(document_id, e)
        return 0
    except SoftTimeLimitExceeded:
        _fail(
            document_id,
            BadInput(
                "splitting it into pages took longer than the task time limit "
                "(SCANGRADE_TASK_TIME_LIMIT_S); the file may be damaged or far too large",
                code="time_limit",
            ),
        )
        return 0
    except Exception:
        with session_scope() as session:  # let the retry, or the reconciler, run it again
            move(session, Document, document_id, DocumentState.INGESTING, DocumentState.PENDING)
        raise
    ready = _record_pages(doc, rows)
    broker.send("submit", ready)
    return len(ready)


def _claim(document_id: int) -> _Claimed | None:
    with session_scope() as session:
        if not move(
            session,
            Document,
            document_id,
            DocumentState.PENDING,
            DocumentState.INGESTING,
            attempts=Document.attempts + 1,
        ):
            log.info("document %d is not pending; duplicate nudge ignored", document_id)
            return None
        doc = session.get_one(Document, document_id)
        logs.bind(batch_id=doc.batch_id)
        api, settings = spec(doc.api), get_settings()
        # Formula and custom_ocr pages are small crops: a few strokes is all they ever hold.
        checks_blank = doc.skip_blank and api.checks_blank
        return _Claimed(
            doc.id,
            doc.batch_id,
            doc.kind,
            list(doc.original_keys),
            api,
            doc.student_id,
            [int(student) for student in doc.roster],
            doc.pages_per_student,
            settings.blank_ink_ratio if checks_blank else 0.0,
            settings.every_frame,
            settings.read_labels,
        )


@dataclass(frozen=True)
class _PageRow:
    """A page's row, its image once stored (None for a page that failed), its label."""

    row: dict[str, object]
    stored: StoredObject | None = None
    label: PageLabel | None = None


def _page_row(
    store: ObjectStore, doc: _Claimed, number: int, page: NormalisedPage | BadInput
) -> _PageRow:
    """The page's row, upright by its label if it has one, and its image once stored.

    A blank page (the back of a duplex scan) is stored, for the report, but skipped: it is
    never sent, so never paid for. A labelled page's student is resolved when recorded.
    """
    row: dict[str, object] = {
        "batch_id": doc.batch_id,
        "document_id": doc.id,
        "page_no": number,
        "student_id": doc.student_of(number),
    }
    if isinstance(page, BadInput):
        failed = {"state": PageState.FAILED, "error": str(page), "error_code": page.code}
        return _PageRow(row | failed)
    labelled = label_page(page, doc.api.limits) if doc.reads_labels else Labelled(page)
    page = labelled.page
    if labelled.label is not None:
        row |= labelled.label.columns()
    key = page_key(doc.batch_id, doc.id, number, _SUFFIX.get(page.content_type, ".img"))
    stored = store.put(key, page.data, page.content_type)
    ready = {
        "sha256": stored.sha256,
        "width": page.width,
        "height": page.height,
        "image_key": stored.key,
        "content_type": page.content_type,
        "source": page.source,
        "notes": list(page.notes),
        "state": PageState.READY,
    }
    return _PageRow(row | ready | _blank_check(page, doc.blank_below), stored, labelled.label)


def _blank_check(page: NormalisedPage, blank_below: float) -> dict[str, object]:
    """The page's ink ratio, and the skipped state if it is blank; nothing when disabled."""
    if blank_below <= 0:
        return {}
    measured = ink(page.data, page.content_type)
    if not is_blank(measured, blank_below):
        return {"ink_ratio": measured.ratio}
    return {
        "ink_ratio": measured.ratio,
        "state": PageState.SKIPPED,
        "error_code": "blank",
        "error": f"blank page ({measured.ratio:.4%} ink, under the {blank_below:.4%} of "
        "SCANGRADE_BLANK_INK_RATIO): not sent; enqueue with --keep-blank to send such pages",
    }


def _record_pages(doc: _Claimed, rows: list[_PageRow]) -> list[int]:
    with session_scope() as session:
        # Locked, so a rescan recorded meanwhile either shows here or skips these pages after.
        rescan = session.scalar(
            select(Document.superseded_by).where(Document.id == doc.id).with_for_update()
        )
        labelled = _labelled_students(session, doc.batch_id, rows)
        for page in rows:
            row = page.row if rescan is None else _superseded(page.row, rescan)
            page_id = session.scalar(
                insert(Page)
                .values(**row)
                .on_conflict_do_nothing(index_elements=["document_id", "page_no"])
                .returning(Page.id)
            )
            if page_id is not None and page.stored is not None:
                record_archived(
                    session,
                    page.stored,
                    "page_image",
                    batch_id=doc.batch_id,
                    document_id=doc.id,
                    page_id=page_id,
                )
        replaced = mark_replaced(session, doc.batch_id) if labelled else []
        move(
            session,
            Document,
            doc.id,
            DocumentState.INGESTING,
            DocumentState.INGESTED,
            page_count=len(rows),
        )
        ready = session.scalars(
            select(Page.id).where(Page.document_id == doc.id, Page.state == PageState.READY)
        ).all()
        if not ready or replaced:  # this may have been the batch's last work
            finish_batch_if_done(session, doc.batch_id)
    log.info(
        "document %d: %d pages (%d labelled), %d ready to submit",
        doc.id,
        len(rows),
        labelled,
        len(ready),
    )
    return list(ready)


def _labelled_students(session: Session, batch_id: int, rows: list[_PageRow]) -> int:
    """Give each labelled page its label's student (ahead of the document's); how many.

    Takes the batch's label lock first: a page replaced by a later scan is then marked once,
    however many of the batch's documents are ingested at the same time.
    """
    labelled = [page for page in rows if page.label is not None]
    if not labelled:
        return 0
    lock_labels(session, batch_id)
    ids = student_ids(session, [page.label.label.person for page in labelled if page.label])
    for page in labelled:
        assert page.label is not None
        page.row["student_id"] = ids[page.label.label.person]
    return len(labelled)


def _superseded(row: dict[str, object], rescan: int) -> dict[str, object]:
    """A page split from a version a rescan replaced while it was being split: never sent."""
    if row["state"] != PageState.READY:
        return row
    why = f"replaced by a rescan (document {rescan}) before it was sent"
    return row | {"state": PageState.SKIPPED, "error": why, "error_code": "superseded"}


def _fail(document_id: int, error: BadInput) -> None:
    log.warning("document %d cannot be ingested: %s", document_id, error)
    with session_scope() as session:
        if move(
            session,
            Document,
            document_id,
            DocumentState.INGESTING,
            DocumentState.FAILED,
            error=str(error),
            error_code=error.code,
        ):
            # The batch may have been waiting for this document alone.
            finish_batch_if_done(session, session.get_one(Document, document_id).batch_id)
