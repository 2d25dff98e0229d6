"""Replay: rebuild a batch's result rows from the raw answers archived in S3.

No provider call: every finished task's answer is read back from S3 and written again by its
API's handler, exactly as persist wrote it the first time, after the task's old result rows
are deleted in the same transaction. Crop keys come back from the archived artifacts. For a
fixed parser bug, a changed handler, or a database restored without its result rows.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy import delete, select

from pipeline.adapters.db.api_tables import result_tables
from pipeline.adapters.db.models import Artifact, Page, ProviderTask
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import ArtifactState, PageState, TaskState
from pipeline.adapters.objectstore import ObjectStore
from pipeline.domain.rows import handler
from pipeline.stages.archive import link_crop
from pipeline.stages.persist import write_answer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Replayed:
    """What a replay rebuilt."""

    tasks: int
    skipped: int  # finished tasks of pages not yet persisted: their stage will write them


def replay_batch(batch_id: int, store: ObjectStore) -> Replayed:
    """Rewrite the result rows of every persisted task of a batch from its archived answer."""
    with session_scope() as session:
        rows = session.execute(
            select(ProviderTask.id, ProviderTask.api, ProviderTask.raw_key, Page.state)
            .join(Page, Page.id == ProviderTask.page_id)
            .where(Page.batch_id == batch_id, ProviderTask.state == TaskState.FINISHED)
            .order_by(ProviderTask.id)
        ).all()
    replayed = skipped = 0
    for task_row_id, api, raw_key, page_state in rows:
        if raw_key is None or page_state not in (PageState.ARCHIVING, PageState.DONE):
            skipped += 1
            continue
        replay_task(task_row_id, api, raw_key, store)
        replayed += 1
    log.info(
        "batch %d: %d tasks replayed from S3, %d not yet persisted", batch_id, replayed, skipped
    )
    return Replayed(replayed, skipped)


def replay_task(task_row_id: int, api: str, raw_key: str, store: ObjectStore) -> None:
    """Rewrite one finished task's result rows from its archived answer (no provider call)."""
    answer = json.loads(store.get(raw_key))
    api_handler = handler(api)
    parsed = api_handler.parse(answer)
    with session_scope() as session:
        task = session.get_one(ProviderTask, task_row_id)
        session.get_one(Page, task.page_id, with_for_update=True)
        for table in result_tables():
            session.execute(delete(table).where(table.c.provider_task_id == task_row_id))
        write_answer(session, api_handler, task.page_id, task_row_id, answer, parsed)
        archived = set(
            session.scalars(
                select(Artifact.s3_key).where(
                    Artifact.provider_task_id == task_row_id,
                    Artifact.state == ArtifactState.ARCHIVED,
                )
            )
        )
        for key, image in api_handler.images(raw_key, parsed).items():
            if key in archived:
                link_crop(session, task.page_id, image, key)
