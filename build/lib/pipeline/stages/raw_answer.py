"""Keeping a final raw answer: S3 first, then its artifact row, shared by poll and submit.

Persisting and archiving read the answer back from S3, so no signed URL is ever stored in a
row, and a replay can rebuild every result row from the archive alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from pipeline.adapters.db.artifacts import record_archived
from pipeline.adapters.db.models import Page
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import ObjectStore, StoredObject, result_prefix


@dataclass(frozen=True)
class PagePlace:
    """Where a page's objects go: its batch, document and number."""

    batch_id: int
    document_id: int
    page_no: int


def page_place(session: Session, page_id: int) -> PagePlace:
    """The page's place, read in the caller's session."""
    page = session.get_one(Page, page_id)
    return PagePlace(page.batch_id, page.document_id, page.page_no)


@dataclass(frozen=True)
class KeptAnswer:
    """A raw answer stored in S3, and the page it belongs to."""

    stored: StoredObject
    batch_id: int
    document_id: int
    page_id: int


def put_raw_answer(
    store: ObjectStore,
    page_id: int,
    task_id: str,
    answer: dict[str, Any],
    *,
    name: str = "result.json",
    place: PagePlace | None = None,
) -> KeptAnswer:
    """Write the answer, byte-stable (sorted keys), beside the page's other results.

    ``place``: the page's, if the caller has read it already (else it is read here).
    """
    if place is None:
        with session_scope() as session:
            place = page_place(session, page_id)
    prefix = result_prefix(place.batch_id, place.document_id, place.page_no, task_id)
    raw = json.dumps(answer, ensure_ascii=False, sort_keys=True).encode()
    stored = store.put(f"{prefix}/{name}", raw, "application/json")
    return KeptAnswer(stored, place.batch_id, place.document_id, page_id)


def record_raw_answer(
    session: Session, kept: KeptAnswer, task_row_id: int, *, kind: str = "raw_result"
) -> None:
    """The artifact row of a kept answer (``raw_refreshed``: asked again for fresh URLs)."""
    record_archived(
        session,
        kept.stored,
        kind,
        batch_id=kept.batch_id,
        document_id=kept.document_id,
        page_id=kept.page_id,
        provider_task_id=task_row_id,
    )
