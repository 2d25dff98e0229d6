"""Persist: turn a finished task's raw answer (read back from S3) into result rows.

Each API's rows are written by its handler (``pipeline/domain/rows``), inside one transaction
that holds the page's row lock and moves it ``persisting → archiving``, so a re-delivered
or replayed answer never doubles a row. Result images are recorded as pending artifacts
here and copied by the archive stage.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from pipeline.adapters import broker
from pipeline.adapters.db.api_tables import result_tables
from pipeline.adapters.db.models import Artifact, Page, ProviderTask
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import PageState
from pipeline.adapters.db.transitions import move
from pipeline.adapters.objectstore import ObjectStore
from pipeline.adapters.provider.client import strip_query
from pipeline.adapters.provider.responses.common import signed_url_expiry
from pipeline.domain.rows import Answer, Handler, ResultImage, handler


def persist_task(task_row_id: int, store: ObjectStore) -> bool:
    """Write the rows of a finished task; False if its page is not waiting for that."""
    with session_scope() as session:
        task = session.get_one(ProviderTask, task_row_id)
        page = session.get_one(Page, task.page_id)
        if page.state != PageState.PERSISTING or task.raw_key is None:
            return False
        raw_key, api = task.raw_key, task.api
    answer: Answer = json.loads(store.get(raw_key))
    api_handler = handler(api)
    parsed = api_handler.parse(answer)
    with session_scope() as session:
        page = session.get_one(Page, task.page_id, with_for_update=True)
        if page.state != PageState.PERSISTING:
            return False
        write_answer(session, api_handler, page.id, task_row_id, answer, parsed)
        images = api_handler.images(raw_key, parsed)
        _record_result_images(session, page, task_row_id, images)
        move(session, Page, page.id, PageState.PERSISTING, PageState.ARCHIVING)
    broker.send("archive", [task_row_id])
    return True


def write_answer(
    session: Session,
    api_handler: Handler[Any],
    page_id: int,
    task_row_id: int,
    answer: Answer,
    parsed: Any,
) -> None:
    """The task's result rows and the provider_tasks fields read from its raw answer.

    ``result_rows`` counts what was written, so that rows lost later can be told from an
    answer that held none (``scangrade check``).
    """
    api_handler.write(session, page_id, task_row_id, parsed)
    written = sum(
        select(func.count())
        .select_from(table)
        .where(table.c.provider_task_id == task_row_id)
        .scalar_subquery()
        for table in result_tables()
    )
    session.execute(
        update(ProviderTask)
        .where(ProviderTask.id == task_row_id)
        .values(**api_handler.task_fields(answer), result_rows=written)
    )


def _record_result_images(
    session: Session, page: Page, task_row_id: int, images: dict[str, ResultImage]
) -> None:
    """A pending artifact per result image not recorded yet, in one statement."""
    known = set(
        session.scalars(select(Artifact.s3_key).where(Artifact.provider_task_id == task_row_id))
    )
    rows = [
        {
            "batch_id": page.batch_id,
            "document_id": page.document_id,
            "page_id": page.id,
            "provider_task_id": task_row_id,
            "kind": image.kind,
            "s3_key": key,
            "source_url": strip_query(image.url),
            "source_expires_at": signed_url_expiry(image.url),
            "content_type": "image/png",
        }
        for key, image in images.items()
        if key not in known
    ]
    if rows:
        stmt = insert(Artifact).on_conflict_do_nothing(index_elements=["s3_key"])
        session.connection().execute(stmt, rows)
